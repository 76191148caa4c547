"""Diversity: maximal marginal relevance with a per-category cap and a cap on repeats.

Greedy MMR picks, at each step, the candidate maximising
``λ · relevance − (1 − λ) · max cosine to what is already picked``, relevance being the fused
score rescaled to [0, 1] over the pool. λ = 1 is pure relevance order.

Repeats are the products a block above on the same page already shows (``repeats``): at most
``max_repeats`` of them are picked while other candidates remain, so a page's blocks each say
something new; the block is still filled with them when nothing else is left."""

from __future__ import annotations

import numpy as np


def mmr_select(
    *,
    scores: np.ndarray,
    vectors: np.ndarray,
    categories: list[str],
    k: int,
    mmr_lambda: float,
    max_per_category: int = 0,
    preselected: list[int] | None = None,
    repeats: np.ndarray | None = None,
    max_repeats: int = 0,
    category_caps: dict[str, int] | None = None,
) -> list[int]:
    """Indices into the pool, in display order. ``preselected`` indices (pins) come first and
    count towards the category cap; ``max_per_category`` 0 means no cap. The cap is soft: once
    every remaining candidate is in a capped category, the block is filled anyway. ``repeats``
    (bool per candidate) marks products shown elsewhere on the page: once ``max_repeats`` of them
    are picked, the others come only when no other candidate is left (this cap binds before the
    category cap). ``category_caps`` overrides ``max_per_category`` per category name (0 = no cap)."""
    chosen = list(preselected or [])[:k]
    per_category: dict[str, int] = {}
    for i in chosen:
        per_category[categories[i]] = per_category.get(categories[i], 0) + 1
    n = len(scores)
    if n == 0 or len(chosen) >= k:
        return chosen
    span = float(scores.max() - scores.min())
    relevance = (scores - scores.min()) / span if span > 0 else np.ones(n)
    available = np.ones(n, dtype=bool)
    available[chosen] = False
    codes = np.unique(np.array(categories, dtype=object), return_inverse=True)[1] if n else np.zeros(0, int)
    max_sim = np.full(n, -1.0)
    for i in chosen:
        max_sim = np.maximum(max_sim, vectors @ vectors[i])
    lam = float(mmr_lambda)
    caps = category_caps or {}
    repeated = sum(1 for i in chosen if repeats is not None and repeats[i])
    while len(chosen) < k:
        candidates = available
        if repeats is not None and repeated >= max_repeats and (available & ~repeats).any():
            candidates = available & ~repeats
        allowed = candidates
        if max_per_category or caps:
            for i in chosen:
                cap = caps.get(categories[i], max_per_category)
                if cap and per_category[categories[i]] >= cap:
                    allowed = allowed & (codes != codes[i])
        if not allowed.any():
            # Every category still in the pool is at its cap: fill the block rather than show
            # fewer than k products (a soft cap; it only binds while other categories remain).
            allowed = candidates
        if not allowed.any():
            break
        penalty = np.where(max_sim > -1.0, np.maximum(max_sim, 0.0), 0.0)
        value = np.where(allowed, lam * relevance - (1.0 - lam) * penalty, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        repeated += int(repeats is not None and bool(repeats[best]))
        per_category[categories[best]] = per_category.get(categories[best], 0) + 1
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return chosen
