"""Two signals learned from all customers' histories: ``factor`` and ``sequence``.

* **factor** — implicit-feedback matrix factorisation (ALS, the ``implicit`` package): item
  factors are fitted on the customers × products matrix (confidence ``FACTOR_ALPHA`` × kind
  weight, × the customer's trust online); a customer's vector is *folded in* from their recent
  interactions by ALS's own user step (``factor_user_vector``), so a new interaction counts at
  once, without a refit. The signal is ``clip(user · item, -1, 1)`` — ALS fits 1 for a product the
  customer took up and 0 otherwise, so the dot product is on that scale. "Customers with your
  taste bought this".
* **sequence** — what customers went on to next: directed transitions from an item to each of
  the ``SEQUENCE_WINDOW`` items that followed it in a customer's time-ordered history (repeats of
  the same item collapsed), the k-th later one counting ``SEQUENCE_STEP_DECAY``^(k-1)
  (``transitions_build``); ``P(j | i) = n(i → j) / (n(i → ·) + SEQUENCE_PRIOR)``. A product's raw
  score is the recency-weighted mean over the customer's last ``SEQUENCE_RECENT`` items (the latest
  weighs 1, each step back ``SEQUENCE_DECAY`` times less) of ``P(product | item)``
  (``sequence_scores``); the signal divides it by the customer's best raw score over every product
  their next-item lists reach (``sequence_scale``), so the product most likely next scores 1 for
  every customer, whatever the pool. Raw shares are tiny (a few hundredths) and differ in scale from
  customer to customer, so a linear weight could not use them; on MovieLens the relative score and
  the window are what made the signal help (the ablation in docs/benchmarks.md; how the constants
  were chosen on validation: docs/evaluation.md). "Often bought next after X".

Offline (``lab.evaluation.stylerec_model``) both are built from a stage's history arrays with
these functions; online ``latent_refresh`` (run by the periodic ``collaborative_refresh``) builds
them from the ``Interaction`` table and caches one entry per product (its factor vector, its
next-item list) plus the factor Gram matrix, so a request reads only its pool's and its
customer's entries (``latent_lookup``, one cache round trip, skipped when the profile gives
both signals weight 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

FACTORS = 64
FACTOR_REGULARIZATION = 0.1
FACTOR_ALPHA = 2.5  # confidence per unit of kind weight: a purchase (4) counts 10, a view 2.5
FACTOR_ITERATIONS = 15
FACTOR_SEED = 20261128
SEQUENCE_RECENT = 5
SEQUENCE_DECAY = 0.5
SEQUENCE_PRIOR = 5.0  # transitions an item needs before its next-item shares count in full
SEQUENCE_WINDOW = 5  # an item counts towards each of the next 5 items a customer met, not only the next
SEQUENCE_STEP_DECAY = 0.7  # ... the k-th later one with weight 0.7^(k-1)
MAX_NEXT = 100  # next items kept per item (50 lost validation NDCG@10 on MovieLens)
LATENT_TIMEOUT = 2 * 86_400  # the refresh runs every 10 minutes; a stopped worker's entries age out
FACTOR_META_KEY = "factor:meta"


def factor_key(product_id: int) -> str:
    return f"factor:item:{product_id}"


def next_key(product_id: int) -> str:
    return f"seq:next:{product_id}"


# --- factor ---------------------------------------------------------------------------------


def factors_fit(matrix: sp.csr_matrix, *, threads: int = 2) -> np.ndarray:
    """Item factors (items × FACTORS) of ALS on ``matrix`` (customers × items, each entry the
    kind weight, × trust online; 0 = no interaction)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    n_items = matrix.shape[1]
    if matrix.nnz == 0:
        return np.zeros((n_items, FACTORS), dtype=np.float32)
    with threadpool_limits(1, "blas"):  # implicit parallelises itself
        model = AlternatingLeastSquares(
            factors=FACTORS,
            regularization=FACTOR_REGULARIZATION,
            alpha=FACTOR_ALPHA,
            iterations=FACTOR_ITERATIONS,
            random_state=FACTOR_SEED,
            num_threads=threads,
        )
        model.fit(matrix.astype(np.float32).tocsr(), show_progress=False)
    return np.asarray(model.item_factors, dtype=np.float32)


def factor_gram(item_factors: np.ndarray) -> np.ndarray:
    """YᵀY of all item factors: the part of a customer's ALS solve every customer shares."""
    y = np.asarray(item_factors, dtype=np.float64)
    return y.T @ y


def factor_user_vector(
    *, item_factors: np.ndarray, kind_weights: np.ndarray, gram: np.ndarray
) -> np.ndarray | None:
    """ALS's user step for one customer: ``(YᵀY + Yᵀ(C - I)Y + λI) u = YᵀC·1`` over the rows of
    ``item_factors`` (the customer's products) with confidences ``C = FACTOR_ALPHA × kind
    weight``; None without any."""
    y = np.asarray(item_factors, dtype=np.float64)
    confidence = FACTOR_ALPHA * np.asarray(kind_weights, dtype=np.float64)
    keep = confidence > 0
    if not keep.any() or not y.size:
        return None
    y, confidence = y[keep], confidence[keep]
    a = gram + FACTOR_REGULARIZATION * np.eye(gram.shape[0]) + (y.T * (confidence - 1.0)) @ y
    return np.linalg.solve(a, y.T @ confidence)


def factor_scores(*, user_vector: np.ndarray | None, item_factors: np.ndarray) -> np.ndarray:
    """``clip(item · user, -1, 1)`` per row of ``item_factors`` (0 rows: unknown products)."""
    if user_vector is None:
        return np.zeros(len(item_factors))
    return np.clip(np.asarray(item_factors, dtype=np.float64) @ user_vector, -1.0, 1.0)


# --- sequence -------------------------------------------------------------------------------

Transitions = dict[int, list[tuple[int, float]]]


def transitions_build(
    *,
    owners: Sequence[int] | np.ndarray,
    items: Sequence[int] | np.ndarray,
    weights: np.ndarray | None = None,
) -> Transitions:
    """Next-item shares from events sorted by (owner, time). A repeat of the item just before is
    no step (it is dropped first); then each item counts towards each of the ``SEQUENCE_WINDOW``
    items the owner met after it (other than itself), the k-th later one with
    ``SEQUENCE_STEP_DECAY``^(k-1), × the event's ``weights`` (the owner's trust online; 1
    offline). ``P(j | i) = n(i → j) / (n(i → ·) + SEQUENCE_PRIOR)``, the ``MAX_NEXT`` best per item."""
    owners, items = np.asarray(owners), np.asarray(items, dtype=np.int64)
    if len(items) < 2:
        return {}
    w = np.ones(len(items)) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.r_[True, (owners[1:] != owners[:-1]) | (items[1:] != items[:-1])]
    owners, items, w = owners[keep], items[keep], w[keep]
    sources, targets, counts_w = [], [], []
    for step in range(1, min(SEQUENCE_WINDOW, len(items) - 1) + 1):
        pair = (owners[step:] == owners[:-step]) & (items[step:] != items[:-step])
        sources.append(items[:-step][pair])
        targets.append(items[step:][pair])
        counts_w.append(w[step:][pair] * SEQUENCE_STEP_DECAY ** (step - 1))
    src, dst, sw = np.concatenate(sources), np.concatenate(targets), np.concatenate(counts_w)
    if not len(src):
        return {}
    size = int(items.max()) + 1
    counts = sp.csr_matrix((sw, (src, dst)), shape=(size, size))
    counts.sum_duplicates()
    totals = np.asarray(counts.sum(axis=1)).ravel()
    result: Transitions = {}
    for i in np.flatnonzero(totals):
        start, end = counts.indptr[i], counts.indptr[i + 1]
        share = counts.data[start:end] / (totals[i] + SEQUENCE_PRIOR)
        order = np.lexsort((counts.indices[start:end], -share))[:MAX_NEXT]
        result[int(i)] = [(int(counts.indices[start + k]), float(share[k])) for k in order]
    return result


def sequence_scores(
    *, candidate_ids: Sequence[int] | np.ndarray, recent: Sequence[int], transitions: Transitions
) -> tuple[np.ndarray, list[int | None]]:
    """Per candidate: Σ_k SEQUENCE_DECAY^k · P(candidate | recent[k]) / Σ_k SEQUENCE_DECAY^k over
    the customer's ``SEQUENCE_RECENT`` latest items (``recent``, latest first), in [0, 1]; and the
    recent item that added most (for "Often bought next after X")."""
    ids = [int(pid) for pid in candidate_ids]
    values = np.zeros(len(ids))
    sources: list[int | None] = [None] * len(ids)
    last = list(dict.fromkeys(int(pid) for pid in recent))[:SEQUENCE_RECENT]
    if not last:
        return values, sources
    norm = sum(SEQUENCE_DECAY**k for k in range(len(last)))
    total: dict[int, float] = {}
    best: dict[int, tuple[float, int]] = {}
    for k, item in enumerate(last):
        decay = SEQUENCE_DECAY**k / norm
        for other, share in transitions.get(item, []):
            part = decay * share
            total[other] = total.get(other, 0.0) + part
            if part > best.get(other, (0.0, 0))[0]:
                best[other] = (part, item)
    for i, pid in enumerate(ids):
        if pid in total:
            values[i] = total[pid]
            sources[i] = best[pid][1]
    return np.clip(values, 0.0, 1.0), sources


def sequence_scale(*, recent: Sequence[int], transitions: Transitions) -> float:
    """The customer's best raw ``sequence_scores`` value over every product their next-item
    lists reach (0 without any): the signal is relative to it, the same whichever pool is scored."""
    reach = sorted({other for item in recent for other, _ in transitions.get(int(item), [])})
    if not reach:
        return 0.0
    values, _ = sequence_scores(candidate_ids=reach, recent=recent, transitions=transitions)
    return float(values.max())


# --- serving: refresh and lookup ------------------------------------------------------------


@dataclass
class LatentInputs:
    """What a request's factor and sequence signals are made from (one cache round trip)."""

    gram: np.ndarray | None = None
    item_factors: dict[int, np.ndarray] = field(default_factory=dict)
    transitions: Transitions = field(default_factory=dict)


def latent_lookup(*, product_ids: Iterable[int], recent: Sequence[int]) -> LatentInputs:
    """The cached factor vectors of ``product_ids`` (pool + the customer's products), the Gram
    matrix, and the next-item lists of the customer's ``SEQUENCE_RECENT`` latest products."""
    from stylerec.cache import cache_get_many

    ids = sorted({int(pid) for pid in product_ids})
    last = list(dict.fromkeys(int(pid) for pid in recent))[:SEQUENCE_RECENT]
    keys = [FACTOR_META_KEY] + [factor_key(pid) for pid in ids] + [next_key(pid) for pid in last]
    cached = cache_get_many(keys)
    meta = cached.get(FACTOR_META_KEY)
    return LatentInputs(
        gram=np.asarray(meta["gram"]) if meta else None,
        item_factors={
            pid: np.asarray(cached[factor_key(pid)]) for pid in ids if cached.get(factor_key(pid)) is not None
        },
        transitions={pid: cached[next_key(pid)] for pid in last if cached.get(next_key(pid)) is not None},
    )


def latent_signals(
    *, inputs: LatentInputs, pool_ids: Sequence[int], customer: Sequence[tuple[int, float]]
) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
    """(factor, sequence, sequence source) of the pool for a customer whose products, latest
    first, are ``customer`` [(product id, kind weight)]."""
    n = len(pool_ids)
    factor = np.zeros(n)
    if inputs.gram is not None and inputs.item_factors:
        known = [(pid, w) for pid, w in customer if pid in inputs.item_factors]
        dim = inputs.gram.shape[0]
        user = factor_user_vector(
            item_factors=np.array([inputs.item_factors[pid] for pid, _ in known]).reshape(len(known), dim),
            kind_weights=np.array([w for _, w in known]),
            gram=inputs.gram,
        )
        rows = np.array([inputs.item_factors.get(int(pid), np.zeros(dim)) for pid in pool_ids]).reshape(
            n, dim
        )
        factor = factor_scores(user_vector=user, item_factors=rows)
    recent = [pid for pid, _ in customer]
    sequence, sources = sequence_scores(candidate_ids=pool_ids, recent=recent, transitions=inputs.transitions)
    scale = sequence_scale(recent=recent, transitions=inputs.transitions)
    if scale > 0:
        sequence = sequence / scale
    return factor, sequence, sources


def latent_refresh() -> dict[str, int]:
    """Fit the item factors and the next-item lists on every logged positive interaction (each
    customer's events × their trust, ``stylerec.trust``) and cache them per product."""
    from stylerec.cache import cache_set_many
    from stylerec.customers import INTERACTION_WEIGHTS
    from stylerec.db import rows_fetch
    from stylerec.models import Interaction
    from stylerec.trust import owner_key_sql, trust_cte, trust_of

    rows = rows_fetch(
        f"""
        WITH ev AS (
            SELECT id, user_id, CASE WHEN user_id IS NULL THEN session_key ELSE '' END AS session_key,
                   product_id, kind, created_at
            FROM {Interaction._meta.db_table}
            WHERE product_id IS NOT NULL AND kind = ANY(%(kinds)s)
              AND (user_id IS NOT NULL OR session_key <> '')
        ), owners AS (SELECT DISTINCT user_id, session_key FROM ev),
        {trust_cte(owners="owners")}
        SELECT {owner_key_sql("ev")} AS owner, ev.product_id, ev.kind, {trust_of()}
        FROM ev LEFT JOIN trust ON trust.owner = {owner_key_sql("ev")}
        ORDER BY owner, ev.created_at, ev.id
        """,
        {"kinds": list(INTERACTION_WEIGHTS)},
    )
    if not rows:
        return {"factor_products": 0, "sequence_products": 0}
    owner_index: dict[str, int] = {}
    product_ids = sorted({row[1] for row in rows})
    product_index = {pid: i for i, pid in enumerate(product_ids)}
    owners = np.array([owner_index.setdefault(row[0], len(owner_index)) for row in rows])
    items = np.array([product_index[row[1]] for row in rows])
    trust = np.array([float(row[3]) for row in rows])
    values = np.array([INTERACTION_WEIGHTS[row[2]] for row in rows]) * trust
    # the strongest event of each (customer, product) pair, as offline
    strongest: dict[tuple[int, int], float] = {}
    for o, i, v in zip(owners.tolist(), items.tolist(), values.tolist(), strict=True):
        strongest[(o, i)] = max(strongest.get((o, i), 0.0), v)
    pairs = np.array(list(strongest), dtype=np.int64).reshape(-1, 2)
    matrix = sp.csr_matrix(
        (np.array(list(strongest.values())), (pairs[:, 0], pairs[:, 1])),
        shape=(len(owner_index), len(product_ids)),
    )
    item_factors = factors_fit(matrix)
    transitions = transitions_build(owners=owners, items=items, weights=trust)
    entries: dict[str, object] = {FACTOR_META_KEY: {"gram": factor_gram(item_factors)}}
    entries.update({factor_key(pid): item_factors[i] for pid, i in product_index.items()})
    entries.update(
        {
            next_key(product_ids[i]): [(product_ids[j], share) for j, share in nexts]
            for i, nexts in transitions.items()
        }
    )
    cache_set_many(entries, timeout=LATENT_TIMEOUT)
    return {"factor_products": len(product_ids), "sequence_products": len(transitions)}
