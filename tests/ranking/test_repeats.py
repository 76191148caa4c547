"""MMR's cap on repeats: products shown by a block above come back at most k // 4 times while
other candidates remain, and fill the block only when nothing else is left."""

from __future__ import annotations

import numpy as np

from stylerec.ranking.diversity import mmr_select


def _pool(n: int):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.linspace(1.0, 0.0, n), vectors, ["Shirt"] * n


def test_at_most_max_repeats_while_others_remain():
    scores, vectors, categories = _pool(20)
    repeats = np.zeros(20, dtype=bool)
    repeats[:8] = True  # the eight best were shown above
    chosen = mmr_select(
        scores=scores,
        vectors=vectors,
        categories=categories,
        k=8,
        mmr_lambda=1.0,
        repeats=repeats,
        max_repeats=2,
    )
    assert len(chosen) == 8
    assert chosen[:2] == [0, 1]  # the best two repeats keep their place
    assert sum(repeats[i] for i in chosen) == 2
    assert chosen[2:] == list(range(8, 14))  # refilled from further candidates


def test_repeats_fill_the_block_when_nothing_else_is_left():
    scores, vectors, categories = _pool(6)
    repeats = np.array([True, True, True, True, False, False])
    chosen = mmr_select(
        scores=scores,
        vectors=vectors,
        categories=categories,
        k=6,
        mmr_lambda=1.0,
        repeats=repeats,
        max_repeats=1,
    )
    assert chosen == [0, 4, 5, 1, 2, 3]


def test_the_repeat_cap_binds_before_the_category_cap():
    scores, vectors, _ = _pool(6)
    categories = ["Shirt", "Shirt", "Dress", "Dress", "Dress", "Dress"]
    repeats = np.array([False, False, True, True, False, False])
    chosen = mmr_select(
        scores=scores,
        vectors=vectors,
        categories=categories,
        k=4,
        mmr_lambda=1.0,
        max_per_category=1,
        repeats=repeats,
        max_repeats=0,
    )
    assert set(chosen) == {0, 1, 4, 5}  # a second shirt rather than a repeat
