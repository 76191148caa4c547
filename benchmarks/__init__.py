"""Benchmark results (``results/*.json``) and their Markdown tables (``tables``)."""
