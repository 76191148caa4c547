"""Baselines run beside stylerec on the same split: popularity, item-kNN on co-occurrence,
and BPR and ALS matrix factorisation from ``implicit``. Each takes the stage's binary history
matrix (users × items, built from that stage's history only) and returns scores for the
evaluated users; ranking and exclusion of seen items happen in one place
(``protocol.scores_rank``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from stylerec.lab.evaluation.stylerec_model import item_cooccurrence

SEED = 20261128
THREADS = 2  # the CI machine has two cores; more threads only add noise to the timings

# A few values per method, chosen on the validation stage by NDCG@10.
GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [{}],
    "itemknn": [{"neighbours": 20}, {"neighbours": 100}, {"neighbours": 0}],
    "bpr": [
        {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
        {"factors": 64, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100},
        {"factors": 128, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100},
    ],
    "als": [
        {"factors": 64, "regularization": 0.1, "alpha": 1.0, "iterations": 15},
        {"factors": 64, "regularization": 0.1, "alpha": 10.0, "iterations": 15},
        {"factors": 128, "regularization": 1.0, "alpha": 10.0, "iterations": 15},
    ],
}


# One small configuration per method: the commands' --quick (tests, smoke runs).
QUICK_GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [{}],
    "itemknn": [{"neighbours": 0}],
    "bpr": [{"factors": 16, "learning_rate": 0.01, "regularization": 0.01, "iterations": 10}],
    "als": [{"factors": 16, "regularization": 0.1, "alpha": 10.0, "iterations": 3}],
}


def popularity_scores(*, matrix: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    counts = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
    return np.broadcast_to(counts, (len(users), matrix.shape[1])).copy()


def _keep_top_per_row(similarity: sp.csr_matrix, k: int) -> sp.csr_matrix:
    similarity = similarity.tocsr()
    rows, cols, vals = [], [], []
    for row in range(similarity.shape[0]):
        start, end = similarity.indptr[row], similarity.indptr[row + 1]
        data, idx = similarity.data[start:end], similarity.indices[start:end]
        if len(data) > k:
            best = np.argpartition(-data, k)[:k]
            data, idx = data[best], idx[best]
        rows.extend([row] * len(data))
        cols.extend(idx.tolist())
        vals.extend(data.tolist())
    return sp.csr_matrix((vals, (rows, cols)), shape=similarity.shape)


def itemknn_scores(*, matrix: sp.csr_matrix, users: np.ndarray, neighbours: int = 0) -> np.ndarray:
    """Sum of the cosine co-occurrence of each item with the user's items; ``neighbours`` keeps
    each history item's k most similar items (0 = all)."""
    similarity = item_cooccurrence(matrix)
    if neighbours:
        similarity = _keep_top_per_row(similarity, neighbours)
    return np.asarray((matrix[users] @ similarity).todense(), dtype=np.float64)


def bpr_scores(*, matrix: sp.csr_matrix, users: np.ndarray, **params: Any) -> np.ndarray:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(random_state=SEED, num_threads=THREADS, **params)
    model.fit(matrix.astype(np.float32), show_progress=False)
    return np.asarray(model.user_factors[users] @ model.item_factors.T, dtype=np.float64)


def als_scores(*, matrix: sp.csr_matrix, users: np.ndarray, **params: Any) -> np.ndarray:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    # implicit parallelises itself; a threaded BLAS underneath only oversubscribes the cores.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(random_state=SEED, num_threads=THREADS, **params)
        model.fit(matrix.astype(np.float32), show_progress=False)
    return np.asarray(model.user_factors[users] @ model.item_factors.T, dtype=np.float64)


BASELINES = {
    "popularity": popularity_scores,
    "itemknn": itemknn_scores,
    "bpr": bpr_scores,
    "als": als_scores,
}
