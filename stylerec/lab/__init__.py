"""stylerec's lab: training, offline evaluation and benchmarks, as a second Django app.

A store installs ``stylerec`` to serve recommendations; it adds ``"stylerec.lab"`` to
``INSTALLED_APPS`` (and ``pip install "stylerec[lab]"``) only when it trains its own sentiment
model, evaluates rankings offline or runs the benchmarks. Nothing in the runtime app imports it.
"""
