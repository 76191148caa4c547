"""stylerec: personalised, explainable recommendations for Django stores."""

__version__ = "0.1.0"
