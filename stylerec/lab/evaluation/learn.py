"""Profile weights learned by logistic regression on the signal matrix of ``fuse``.

Each evaluated customer gives one positive (the item they went on to interact with in the
validation stage) and ``negatives`` items drawn uniformly from what they had not met; the
features are that customer's row of the signal matrix, built from the history before the
positive. The coefficients become the ``w_*`` weights of an additive profile and the intercept
its ``bias`` (which never changes an order). A signal that is constant on the data (no images,
say) gets weight 0. Diversity settings (MMR λ, category cap) are then picked on the same
validation stage from the base profile's values and "off".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from stylerec.ranking.types import SIGNALS

NEGATIVES_PER_POSITIVE = 50
REGULARISATION_C = 1.0  # sklearn's inverse L2 strength; 0.1-10 gave the same validation NDCG
SEED = 20261128


def training_rows(
    *,
    signals: np.ndarray,
    positives: np.ndarray,
    exclude: sp.csr_matrix,
    negatives: int = NEGATIVES_PER_POSITIVE,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): one positive row and up to ``negatives`` sampled rows per customer."""
    rng = np.random.default_rng(seed)
    n_items = signals.shape[1]
    rows, labels = [], []
    for u, positive in enumerate(positives):
        seen = exclude.indices[exclude.indptr[u] : exclude.indptr[u + 1]]
        allowed = np.ones(n_items, dtype=bool)
        allowed[seen] = False
        allowed[positive] = False
        pool = np.flatnonzero(allowed)
        drawn = rng.choice(pool, size=min(negatives, len(pool)), replace=False) if len(pool) else pool
        rows.append(signals[u, [positive, *drawn.tolist()]])
        labels.extend([1] + [0] * len(drawn))
    return np.concatenate(rows).astype(np.float64), np.array(labels)


def weights_fit(
    *, X: np.ndarray, y: np.ndarray, drop: Sequence[str] = (), C: float = REGULARISATION_C
) -> tuple[dict[str, float], float]:
    """Logistic regression (cross-entropy, L2) on the signal columns; ``drop``ped and constant
    columns get weight 0. Returns ({signal: weight}, bias)."""
    from sklearn.linear_model import LogisticRegression

    active = [j for j, name in enumerate(SIGNALS) if name not in drop and float(np.ptp(X[:, j])) > 0.0]
    weights = dict.fromkeys(SIGNALS, 0.0)
    if not active or len(set(y.tolist())) < 2:
        return weights, 0.0
    model = LogisticRegression(C=C, max_iter=2000).fit(X[:, active], y)
    for j, coef in zip(active, model.coef_[0], strict=True):
        weights[SIGNALS[j]] = round(float(coef), 4)
    return weights, round(float(model.intercept_[0]), 4)


def profile_with_weights(*, base, weights: dict[str, float], bias: float, name: str, **fields):
    """An unsaved RankingProfile: the base profile's rules and knobs, the learned weights,
    additive formula, inactive."""
    from stylerec.models import RankingProfile

    copied = {
        field.name: getattr(base, field.name)
        for field in RankingProfile._meta.concrete_fields
        if field.name
        not in ("id", "name", "is_active", "challenger", "metrics", "version", "created_at", "updated_at")
    }
    copied.update({f"w_{signal}": weight for signal, weight in weights.items()})
    copied.update(bias=bias, formula=RankingProfile.Formula.ADDITIVE, name=name, is_active=False, **fields)
    return RankingProfile(**copied)


def diversity_tune(
    *, base, candidates: Sequence[dict], score: Callable[[object], float]
) -> tuple[dict, float]:
    """The diversity settings (from ``candidates``) whose profile scores best on validation."""
    best: tuple[dict, float] | None = None
    for knobs in candidates:
        for key, value in knobs.items():
            setattr(base, key, value)
        value = score(base)
        if best is None or value > best[1] + 1e-12:
            best = (dict(knobs), value)
    assert best is not None
    for key, value in best[0].items():
        setattr(base, key, value)
    return best
