"""Offline evaluation of the ranker against baselines, and weights learned from logged data.

Everything here runs outside a request: pure numpy over item/user indices, with Django touched
only by the dataset loaders for the store's own data and by the commands that save profiles.
"""
