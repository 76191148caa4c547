"""Writes: every change stylerec makes to the database goes through a function here.
One module per concern; functions are keyword-only and named ``<thing>_<action>``."""
