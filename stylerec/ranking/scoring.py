"""The one scoring formula. Serving, the admin preview and offline evaluation all call ``fuse``.

Each row of the signal matrix is one candidate product, each column one signal of ``SIGNALS``:

=============  =======  ==================================================================
signal         range    meaning
=============  =======  ==================================================================
history        [-1, 1]  cosine of the customer's text profile vector and the product's text vector
context        [-1, 1]  cosine of the viewed product's text vector and the product's
style          [-1, 1]  customer style weights (explicit + inferred) · product ``style_scores``
visual         [-1, 1]  cosine of image vectors (customer image profile and/or viewed product)
sentiment      [-1, 1]  the product's Bayesian review ``sentiment_score`` (0 without reviews)
collaborative  [0, 1]   cosine-normalised co-occurrence with what the customer interacted with
popularity     [0, 1]   log-scaled, time-decayed interaction count relative to the catalog maximum
freshness      (0, 1]   0.5 ** (age in days / profile.freshness_half_life_days)
factor         [-1, 1]  matrix factorisation (ALS): customer vector · product vector (``latent``)
sequence       [0, 1]   how often customers went on to this product next after the customer's
                        latest few products, recency-weighted (``latent``)
=============  =======  ==================================================================

A signal that cannot be computed (no profile vector, no viewed product ...) is 0, so it neither
helps nor hurts.

Formulas (``RankingProfile.formula``):

* ``additive``: ``score = bias + Σ w_signal · signal``.
* ``gated``: ``score = bias + (w_sentiment · sentiment + w_visual · visual) · history
  + Σ_{other signals} w_signal · signal`` where the other signals are history, context, style,
  collaborative, popularity and freshness. With every weight but ``w_sentiment`` and ``w_visual``
  at zero this is exactly the seed formula ``(w_s·s + w_t·v) × cos(history, product)``.

Contributions always add up to the score minus the bias; under ``gated`` the gate's product is
credited to sentiment and visual (``w_sentiment·s·h`` and ``w_visual·v·h``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stylerec.ranking.types import SIGNALS

SIGNAL_INDEX = {name: i for i, name in enumerate(SIGNALS)}
GATED_SIGNALS = ("sentiment", "visual")  # multiplied by history under the gated formula


# The sane range of every weight (signals lie in [-1, 1], so ±10 already lets one signal outweigh
# all others together) and of the bias. The admin's sliders and their validation use these, and
# the fuse clamps to them, so a profile written around the admin (a shell, a script: 1e308, NaN)
# still ranks with finite scores instead of breaking the API's JSON.
WEIGHT_BOUNDS = (-10.0, 10.0)
BIAS_BOUNDS = (-50.0, 50.0)


def weight_bounded(value: Any, bounds: tuple[float, float] = WEIGHT_BOUNDS) -> float:
    """``value`` as a float within ``bounds``; NaN and anything unreadable count as 0."""
    try:
        number = float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if number != number else min(max(number, bounds[0]), bounds[1])


def profile_weights(profile: Any) -> np.ndarray:
    """The profile's weights in ``SIGNALS`` order (``w_<signal>`` fields), within ``WEIGHT_BOUNDS``."""
    return np.array([weight_bounded(getattr(profile, f"w_{name}")) for name in SIGNALS], dtype=np.float64)


def fuse(signal_matrix: np.ndarray, profile: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scores (n,) and weighted contributions (n × len(SIGNALS)) of the candidates under ``profile``.

    Pure numpy: ``profile`` only needs the ``w_*`` weights, ``bias`` and ``formula`` attributes, so
    evaluation can pass a plain object."""
    signals = np.asarray(signal_matrix, dtype=np.float64)
    if signals.ndim != 2 or signals.shape[1] != len(SIGNALS):
        raise ValueError(f"signal matrix must be n × {len(SIGNALS)}, got {signals.shape}")
    contributions = signals * profile_weights(profile)
    if getattr(profile, "formula", "additive") == "gated":
        history = signals[:, SIGNAL_INDEX["history"]]
        for name in GATED_SIGNALS:
            contributions[:, SIGNAL_INDEX[name]] *= history
    scores = contributions.sum(axis=1) + weight_bounded(getattr(profile, "bias", 0.0), BIAS_BOUNDS)
    return scores, contributions


# What each block is about. The merchandiser's profile sets the weights; a block then leans on its
# own signal, so "Similar items" follows the product being viewed rather than repeating "You may
# like" (which leads with the customer's history).
BLOCK_EMPHASIS: dict[str, dict[str, float]] = {
    "similar": {"context": 2.0, "visual": 1.5, "history": 0.25},
    "in_your_style": {"style": 2.0},
    "bought_together": {"collaborative": 2.0},
    "trending": {"popularity": 2.0},
}


def profile_for_block(profile: Any, block: str) -> Any:
    """An unsaved copy of ``profile`` with the block's emphasis applied (``profile`` itself when
    the block has none, e.g. "for_you")."""
    emphasis = BLOCK_EMPHASIS.get(block)
    if not emphasis:
        return profile
    import copy

    adjusted = copy.copy(profile)
    for signal, factor in emphasis.items():
        name = f"w_{signal}"
        setattr(adjusted, name, float(getattr(profile, name, 0.0) or 0.0) * factor)
    return adjusted
