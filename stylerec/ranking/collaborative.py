"""Item-item collaborative filtering from interactions, computed in SQL and cached per item.

``C(i, j) = owners(i ∧ j) / sqrt(owners(i) · owners(j))``: the cosine of the two products'
customer sets (an owner is a user, else an anonymous session). Two relations:

* ``co_view``: any positive interaction (view, click, cart, purchase) — "customers who viewed X
  also viewed this";
* ``co_purchase``: purchases only — "often bought together with X".

Neighbour lists (top ``MAX_NEIGHBOURS`` per product) are computed on demand for the products a
request needs and cached for ``NEIGHBOURS_TIMEOUT``; the periodic ``collaborative_refresh``
recomputes them for the most active products and refreshes the decayed ``popularity`` column.

Both resist shilling through the customers' trust (``stylerec.trust``): in ``C(i, j)`` the shared
customers count × their trust while ``owners(i)`` counts every customer, and in popularity each
customer's interactions count × their trust. In both, new customers (trust below
``trust.LOW_TRUST``) together add at most as much as the established ones did: to a product, or a
pair, only they took up, nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from stylerec.cache import cache_delete, cache_get, cache_get_many, cache_set, cache_set_many
from stylerec.customers import INTERACTION_WEIGHTS
from stylerec.db import product_table, rows_fetch
from stylerec.models import Interaction
from stylerec.trust import LOW_TRUST, owner_key_sql, trust_cte, trust_of

RELATIONS = {"co_view": tuple(INTERACTION_WEIGHTS), "co_purchase": ("purchase",)}
MAX_NEIGHBOURS = 50
NEIGHBOURS_TIMEOUT = 3600
POPULARITY_HALF_LIFE_DAYS = 7.0
POPULARITY_WINDOW_DAYS = 60
POPULARITY_MAX_KEY = "popularity:max"

Neighbours = dict[int, list[tuple[int, float]]]


def _key(relation: str, product_id: int) -> str:
    return f"co:{relation}:{product_id}"


def cooccurrence_compute(*, product_ids: Iterable[int], relation: str) -> Neighbours:
    """Top neighbours of each product in ``product_ids`` under ``relation``, straight from SQL.
    The shared customers count × their trust (``stylerec.trust``), new ones at most as much as the
    established ones; ``owners(i)`` counts every customer."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    table = Interaction._meta.db_table
    # Shared customers (``shared``) count × their trust; ``counts`` counts every customer.
    rows = rows_fetch(
        f"""
        WITH seed_owners AS (
            SELECT DISTINCT product_id AS seed, user_id,
                   CASE WHEN user_id IS NULL THEN session_key ELSE '' END AS session_key
            FROM {table}
            WHERE product_id = ANY(%(ids)s) AND kind = ANY(%(kinds)s)
              AND (user_id IS NOT NULL OR session_key <> '')
        ), shared AS (
            SELECT DISTINCT so.seed, j.product_id AS other, so.user_id, so.session_key
            FROM seed_owners so JOIN {table} j ON j.user_id = so.user_id
            WHERE j.kind = ANY(%(kinds)s) AND j.product_id IS NOT NULL AND j.product_id <> so.seed
            UNION
            SELECT DISTINCT so.seed, j.product_id, so.user_id, so.session_key
            FROM seed_owners so JOIN {table} j ON j.session_key = so.session_key AND j.user_id IS NULL
            WHERE so.user_id IS NULL AND j.kind = ANY(%(kinds)s)
              AND j.product_id IS NOT NULL AND j.product_id <> so.seed
        ), owners AS (SELECT DISTINCT user_id, session_key FROM seed_owners),
        {trust_cte(owners="owners")},
        weighted AS (
            SELECT s.seed, s.other, {trust_of()} AS trust
            FROM shared s LEFT JOIN trust ON trust.owner = {owner_key_sql("s")}
        ), pairs AS (  -- new customers add at most what established ones gave: alone, nothing
            SELECT seed, other, established + least(new, established) AS together
            FROM (
                SELECT seed, other,
                       coalesce(sum(trust) FILTER (WHERE trust >= %(low)s), 0) AS established,
                       coalesce(sum(trust) FILTER (WHERE trust < %(low)s), 0) AS new
                FROM weighted GROUP BY seed, other
            ) w
            WHERE established > 0
        ), counts AS (
            SELECT product_id, count(DISTINCT {owner_key_sql(table)}) AS n FROM {table}
            WHERE kind = ANY(%(kinds)s)
              AND product_id IN (SELECT seed FROM pairs UNION SELECT other FROM pairs)
            GROUP BY product_id
        )
        SELECT p.seed, p.other, p.together / sqrt(cs.n::float8 * co.n::float8) AS score
        FROM pairs p JOIN counts cs ON cs.product_id = p.seed JOIN counts co ON co.product_id = p.other
        """,
        {"ids": ids, "kinds": list(RELATIONS[relation]), "low": LOW_TRUST},
    )
    result: Neighbours = {pid: [] for pid in ids}
    for seed, other, score in rows:
        result[seed].append((other, min(float(score), 1.0)))
    for neighbours in result.values():
        neighbours.sort(key=lambda item: -item[1])
        del neighbours[MAX_NEIGHBOURS:]
    return result


def neighbours_lookup(
    *,
    product_ids: Iterable[int],
    relations: Iterable[str] = tuple(RELATIONS),
    extra_keys: Iterable[str] = (),
    recompute: bool = False,
    compute_missing: bool = True,
) -> tuple[dict[str, Neighbours], dict[str, Any]]:
    """Cached neighbour lists per relation, in one cache round trip; misses are computed in SQL
    (one query per relation) and cached. ``extra_keys`` ride along in the same round trip; their
    cached values (None when absent) come back second. ``recompute`` (a worker building a customer's
    candidate pool, right after their event) computes every list anew and caches it.
    ``compute_missing=False`` (a request whose pool build is on its way, which computes them)
    leaves misses out: on the cold path they were about a quarter of the time."""
    ids = sorted(set(product_ids))
    relations = tuple(relations)
    extra_keys = tuple(extra_keys)
    neighbour_keys = [] if recompute else [_key(relation, pid) for relation in relations for pid in ids]
    keys = neighbour_keys + list(extra_keys)
    cached = cache_get_many(keys) if keys else {}
    result: dict[str, Neighbours] = {}
    fresh: dict[str, list[tuple[int, float]]] = {}
    for relation in relations:
        found: Neighbours = {}
        missing = []
        for pid in ids:
            value = cached.get(_key(relation, pid))
            if value is None:
                missing.append(pid)
            else:
                found[pid] = value
        if missing and compute_missing:
            computed = cooccurrence_compute(product_ids=missing, relation=relation)
            fresh.update({_key(relation, pid): value for pid, value in computed.items()})
            found.update(computed)
        result[relation] = found
    if fresh:
        cache_set_many(fresh, timeout=NEIGHBOURS_TIMEOUT)
    return result, {key: cached.get(key) for key in extra_keys}


def neighbours_forget(*, product_ids: Iterable[int]) -> None:
    """Drop the cached neighbour lists of ``product_ids`` (recomputed when next needed)."""
    for pid in set(product_ids):
        for relation in RELATIONS:
            cache_delete(_key(relation, pid))


def neighbours_for(*, product_ids: Iterable[int], relation: str) -> Neighbours:
    return neighbours_lookup(product_ids=product_ids, relations=(relation,))[0][relation]


def popularity_decay(age_days: np.ndarray) -> np.ndarray:
    """What one event ``age_days`` old adds to a product's popularity, per unit of kind weight:
    halved every ``POPULARITY_HALF_LIFE_DAYS``, nothing once ``POPULARITY_WINDOW_DAYS`` old or
    older. ``popularity_refresh`` is this, in SQL; offline, events after the moment are never
    passed (here they would count 0)."""
    age = np.asarray(age_days, dtype=np.float64)
    inside = (age >= 0.0) & (age < POPULARITY_WINDOW_DAYS)
    return np.where(inside, np.power(0.5, np.where(inside, age, 0.0) / POPULARITY_HALF_LIFE_DAYS), 0.0)


def popularity_scores(
    *, items: np.ndarray, kind_weights: np.ndarray, age_days: np.ndarray, n_items: int
) -> np.ndarray:
    """Popularity of items ``0 .. n_items - 1`` from events (item, kind weight
    (``INTERACTION_WEIGHTS``), age in days): Σ kind weight × ``popularity_decay(age)``. The one
    formula of popularity: ``popularity_refresh`` computes it in SQL for the catalog (every
    customer × their trust), the offline evaluation calls it on a log (every customer trusted)."""
    return np.bincount(
        np.asarray(items, dtype=np.int64),
        weights=np.asarray(kind_weights, dtype=np.float64) * popularity_decay(age_days),
        minlength=n_items,
    )


def popularity_refresh() -> int:
    """Set every product's ``popularity`` to its time-decayed (half-life
    ``POPULARITY_HALF_LIFE_DAYS``), kind-weighted interaction count (``popularity_scores``'s
    formula, which the offline evaluation calls; a test holds the two equal), each customer's interactions
    × their trust, new customers' (trust below ``LOW_TRUST``) adding at most as much as the
    established customers' on the same product; returns how many rows changed."""
    table, pk = product_table()
    weight_case = " ".join(f"WHEN '{kind}' THEN {weight}" for kind, weight in INTERACTION_WEIGHTS.items())
    rows = rows_fetch(
        f"""
        WITH w AS (
            SELECT product_id, user_id, CASE WHEN user_id IS NULL THEN session_key ELSE '' END AS session_key,
                   CASE kind {weight_case} ELSE 0 END
                   * power(0.5, extract(epoch FROM now() - created_at) / 86400.0 / %(half_life)s) AS score
            FROM {Interaction._meta.db_table}
            WHERE product_id IS NOT NULL AND created_at > now() - make_interval(days => %(window)s)
        ), owners AS (SELECT DISTINCT user_id, session_key FROM w),
        {trust_cte(owners="owners")},
        per_owner AS (
            SELECT w.product_id, {trust_of()} AS trust, sum(w.score) AS score
            FROM w LEFT JOIN trust ON trust.owner = {owner_key_sql("w")}
            GROUP BY w.product_id, {owner_key_sql("w")}, trust.trust
        ), t AS (
            SELECT product_id,
                   coalesce(sum(trust * score) FILTER (WHERE trust >= %(low)s), 0)
                   + least(
                       coalesce(sum(trust * score) FILTER (WHERE trust < %(low)s), 0),
                       coalesce(sum(trust * score) FILTER (WHERE trust >= %(low)s), 0)
                   ) AS score
            FROM per_owner GROUP BY product_id
        ), updated AS (
            UPDATE {table} p SET popularity = coalesce(t.score, 0)
            FROM {table} q LEFT JOIN t ON t.product_id = q.{pk}
            WHERE p.{pk} = q.{pk} AND p.popularity IS DISTINCT FROM coalesce(t.score, 0)
            RETURNING 1
        )
        SELECT count(*) FROM updated
        """,
        {
            "half_life": POPULARITY_HALF_LIFE_DAYS,
            "window": POPULARITY_WINDOW_DAYS,
            "low": LOW_TRUST,
        },
    )
    popularity_max_refresh()
    return int(rows[0][0])


def popularity_max_refresh() -> float:
    table, _ = product_table()
    value = float(rows_fetch(f"SELECT coalesce(max(popularity), 0) FROM {table} WHERE is_active", [])[0][0])
    cache_set(POPULARITY_MAX_KEY, value, timeout=NEIGHBOURS_TIMEOUT)
    return value


def popularity_max(*, cached: float | None = None) -> float:
    """The catalog's highest popularity (cached), the scale of the popularity signal."""
    value = cached if cached is not None else cache_get(POPULARITY_MAX_KEY)
    return float(value) if value is not None else popularity_max_refresh()


def collaborative_refresh(*, top_products: int = 2000) -> dict[str, int]:
    """Refresh popularity, recompute the neighbour lists of the most interacted-with products and
    refit the factor and next-item signals (``ranking.latent``)."""
    changed = popularity_refresh()
    active = [
        pid
        for (pid,) in rows_fetch(
            f"SELECT product_id FROM {Interaction._meta.db_table} WHERE product_id IS NOT NULL "
            "AND kind = ANY(%s) GROUP BY product_id ORDER BY count(*) DESC LIMIT %s",
            [list(INTERACTION_WEIGHTS), top_products],
        )
    ]
    for relation in RELATIONS:
        computed: Neighbours = {}
        for start in range(0, len(active), 500):
            computed.update(cooccurrence_compute(product_ids=active[start : start + 500], relation=relation))
        cache_set_many(
            {_key(relation, pid): value for pid, value in computed.items()}, timeout=NEIGHBOURS_TIMEOUT
        )
    from stylerec.ranking.latent import latent_refresh

    return {"popularity_changed": changed, "products": len(active), **latent_refresh()}
