"""Top-K ranking metrics, pure numpy.

A *ranking* is a 1-d array of item indices, best first (already without the items the user
had in train). *Relevant* is the set of held-out items for that user (one item under
leave-one-out, but every function takes a set so it also serves other protocols).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

RANK_METRICS = ("hr", "ndcg", "precision", "recall", "f1")

Ranking = Sequence[int] | np.ndarray  # item indices, best first


def _hits(ranking: Ranking, relevant: set[int], k: int) -> np.ndarray:
    return np.fromiter((int(item) in relevant for item in ranking[:k]), dtype=bool)


def hit_rate_at_k(*, ranking: Ranking, relevant: set[int], k: int) -> float:
    """1 when any relevant item is in the top k."""
    return float(_hits(ranking, relevant, k).any())


def precision_at_k(*, ranking: Ranking, relevant: set[int], k: int) -> float:
    # Divided by k, not by the list length: a short list is not rewarded for being short.
    return float(_hits(ranking, relevant, k).sum()) / k


def recall_at_k(*, ranking: Ranking, relevant: set[int], k: int) -> float:
    if not relevant:
        return 0.0
    return float(_hits(ranking, relevant, k).sum()) / len(relevant)


def f1_at_k(*, ranking: Ranking, relevant: set[int], k: int) -> float:
    p = precision_at_k(ranking=ranking, relevant=relevant, k=k)
    r = recall_at_k(ranking=ranking, relevant=relevant, k=k)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def ndcg_at_k(*, ranking: Ranking, relevant: set[int], k: int) -> float:
    """Binary-relevance NDCG: gain 1/log2(rank+1), normalised by the best possible order."""
    hits = _hits(ranking, relevant, k)
    if not hits.any():
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, len(hits) + 2))
    ideal = discounts[: min(len(relevant), k)].sum()
    return float((discounts * hits).sum() / ideal)


def reciprocal_rank(*, ranking: Ranking, relevant: set[int]) -> float:
    """1/rank of the first relevant item in the whole ranking (0 when absent): averaged, MRR."""
    if not relevant:
        return 0.0
    positions = np.flatnonzero(np.isin(np.asarray(ranking), np.fromiter(relevant, dtype=np.int64)))
    return 1.0 / (positions[0] + 1) if positions.size else 0.0


def catalog_coverage(*, rankings: Iterable[Ranking], n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one user's top k."""
    seen: set[int] = set()
    for ranking in rankings:
        seen.update(int(item) for item in ranking[:k])
    return len(seen) / n_items if n_items else 0.0


def intra_list_diversity(
    *,
    ranking: Ranking,
    k: int,
    item_vectors: np.ndarray | None = None,
    item_categories: Sequence[str] | None = None,
) -> float:
    """1 − mean pairwise cosine of the top-k items' vectors; without vectors, the share of
    pairs in different categories. A list of fewer than two items has no pairs: 0."""
    top = [int(item) for item in ranking[:k]]
    if len(top) < 2:
        return 0.0
    n_pairs = len(top) * (len(top) - 1) / 2
    if item_vectors is not None:
        vectors = item_vectors[top].astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1.0, norms)
        sims = vectors @ vectors.T
        pair_sum = (sims.sum() - np.trace(sims)) / 2
        return float(1.0 - pair_sum / n_pairs)
    if item_categories is None:
        raise ValueError("intra_list_diversity needs item_vectors or item_categories")
    different = sum(item_categories[a] != item_categories[b] for i, a in enumerate(top) for b in top[i + 1 :])
    return float(different / n_pairs)


def metrics_summarise(
    *,
    rankings: Sequence[Ranking],
    relevant: Sequence[set[int]],
    ks: Sequence[int],
    n_items: int,
    item_vectors: np.ndarray | None = None,
    item_categories: Sequence[str] | None = None,
) -> dict[str, float]:
    """Mean of every metric over users, keyed "ndcg@10", "hr@5", ..., "mrr", "coverage@10",
    "diversity@10"."""
    if len(rankings) != len(relevant):
        raise ValueError("one relevant set per ranking")
    functions = {
        "hr": hit_rate_at_k,
        "ndcg": ndcg_at_k,
        "precision": precision_at_k,
        "recall": recall_at_k,
        "f1": f1_at_k,
    }
    out: dict[str, float] = {"users": float(len(rankings))}
    if not rankings:
        return out
    for k in ks:
        for name, function in functions.items():
            values = [
                function(ranking=r, relevant=rel, k=k) for r, rel in zip(rankings, relevant, strict=True)
            ]
            out[f"{name}@{k}"] = float(np.mean(values))
        out[f"coverage@{k}"] = catalog_coverage(rankings=rankings, n_items=n_items, k=k)
        if item_vectors is None and item_categories is None:
            continue  # nothing to measure diversity with
        out[f"diversity@{k}"] = float(
            np.mean(
                [
                    intra_list_diversity(
                        ranking=r, k=k, item_vectors=item_vectors, item_categories=item_categories
                    )
                    for r in rankings
                ]
            )
        )
    out["mrr"] = float(
        np.mean([reciprocal_rank(ranking=r, relevant=rel) for r, rel in zip(rankings, relevant, strict=True)])
    )
    return out


PER_USER_FUNCTIONS = {"ndcg": ndcg_at_k, "hr": hit_rate_at_k}
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20261128


def metric_per_user(*, rankings: Sequence[Ranking], relevant: Sequence[set[int]], key: str) -> np.ndarray:
    """Each user's value of ``key`` ("ndcg@10", "hr@5" ...): what a paired bootstrap resamples."""
    name, k = key.split("@")
    function = PER_USER_FUNCTIONS[name]
    return np.array(
        [function(ranking=r, relevant=rel, k=int(k)) for r, rel in zip(rankings, relevant, strict=True)]
    )


def paired_bootstrap(
    *,
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> dict[str, float]:
    """Mean of ``a - b`` over users and its percentile bootstrap interval: users are drawn with
    replacement ``resamples`` times (the same draw for both methods: paired), the interval is the
    central ``level`` share of the resampled means. ``p_not_above`` is the share of resamples in
    which ``a`` does not beat ``b`` (a one-sided bootstrap p-value for "a > b")."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.ndim != 1 or not len(diff):
        raise ValueError("paired_bootstrap needs two equally long, non-empty per-user arrays")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return {
        "mean": float(diff.mean()),
        "low": float(low),
        "high": float(high),
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "p_not_above": float((means <= 0).mean()),
    }
