"""Candidate pools: a customer's candidates for a block, found by a worker and read by a page view.

A worker (``services.pools``) runs the block's generation (the HNSW scans, co-view neighbours,
style search) and the signals whose inputs are the customer's and that cost most (image cosine,
collaborative, factor, sequence), and stores them in a ``CandidatePool`` row. Serving then asks,
in the same database round trip as the customer's context (``context_load_with``), for that row
and for the live columns of its products that pass the request's filters (``pool_queries``): a
product deactivated, sold out or moved out of the category since the build is never served, and
reviews, popularity and freshness are today's. The profile's weights are applied live, by the one
``scoring.fuse``. A missing or thin pool falls back to the direct path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.dispatch import Signal
from django.utils import timezone

from stylerec.customers import Owner
from stylerec.db import product_table
from stylerec.models import CandidatePool as CandidatePoolRow
from stylerec.ranking.candidates import CandidateFilter, filters_where
from stylerec.ranking.context import preferred_slugs_sql
from stylerec.ranking.signals import CandidatePool, image_cosine_sql, pool_select

# Blocks whose candidates depend on the customer alone: these have pools. The others are keyed by
# the viewed product (similar, bought together: neighbour lists already cached per product) or by
# nobody (trending: one cached list).
POOL_BLOCKS = ("for_you", "in_your_style")
STORED_SIGNALS = ("visual", "collaborative", "factor", "sequence")
STORED_SOURCES = ("collab_seed", "collab_relation", "sequence_seed")  # product ids, 0 = none
RELATION_CODES = {"co_view": 1, "co_purchase": 2}
RELATION_NAMES = {code: name for name, code in RELATION_CODES.items()}
POOL_FORMAT = "1"  # bump when the stored columns change: older pools are rebuilt
# A pool older than this is still served, and rebuilt meanwhile (new products reach it then).
POOL_REFRESH_AGE = timedelta(hours=1)
# Anonymous visitors' pools are deleted by the sweep this long after their last build.
SESSION_POOL_LIFETIME = timedelta(days=2)
# A pool is used when at least this many times k of its products pass the request's filters (plus
# what the blocks above may not repeat); else the direct path serves, and keeps k.
POOL_MIN_PER_K = 2

# Sent (``owner=Owner``) when a request found a customer's pool missing, old or of another format;
# ``stylerec.receivers`` asks a worker to build it (ranking never enqueues: it only reads).
pool_wanted = Signal()


@dataclass
class StoredPool:
    """A pool as stored: ids in generation order, their stored signals and sources."""

    ids: np.ndarray  # int64
    signals: np.ndarray  # n × len(STORED_SIGNALS), float32; visual is nan where unknown
    sources: np.ndarray  # n × len(STORED_SOURCES), int64; 0 = none
    inputs: str = ""
    built_at: datetime | None = None

    def is_current(self, *, now: datetime | None = None) -> bool:
        fresh = self.built_at is not None and (now or timezone.now()) - self.built_at < POOL_REFRESH_AGE
        return fresh and self.inputs.split(":", 1)[0] == POOL_FORMAT

    def signals_bytes(self) -> bytes:
        return np.ascontiguousarray(self.signals, dtype="<f4").tobytes()

    def sources_bytes(self) -> bytes:
        return np.ascontiguousarray(self.sources, dtype="<i8").tobytes()


def pool_inputs(*, profile_key: str) -> str:
    return f"{POOL_FORMAT}:{profile_key}"[:64]


def stored_pool_of(
    *,
    pool: CandidatePool,
    collaborative: np.ndarray,
    factor: np.ndarray,
    sequence: np.ndarray,
    inputs: str,
) -> StoredPool:
    """What a worker stores of a computed pool (``engine.pool_compute``)."""
    n = len(pool)
    signals = np.column_stack([pool.visual_history, collaborative, factor, sequence]).reshape(
        n, len(STORED_SIGNALS)
    )
    sources = np.zeros((n, len(STORED_SOURCES)), dtype=np.int64)
    for i in range(n):
        if pool.collab_seed[i] is not None:
            seed, relation = pool.collab_seed[i]  # type: ignore[misc]
            sources[i, 0], sources[i, 1] = seed, RELATION_CODES[relation]
        sources[i, 2] = pool.sequence_seed[i] or 0
    return StoredPool(
        ids=pool.ids.astype(np.int64), signals=signals.astype(np.float32), sources=sources, inputs=inputs
    )


def pool_queries(
    *, owner: Owner, block: str, filters: CandidateFilter, viewed_id: int | None
) -> list[tuple[str, list[object]]]:
    """The two statements of a pool read, sent in the context's round trip: the stored row, and
    the pool's products that pass ``filters`` with their live columns (``pool_select``)."""
    table, pk = product_table()
    owner_sql, owner_params = owner.sql()

    def pool_row(columns: str) -> str:
        return f"SELECT {columns} FROM {CandidatePoolRow._meta.db_table} WHERE {owner_sql} AND block = %s"

    passing_sql, passing_params = filters_where(filters)
    visual_context = (
        image_cosine_sql(f"(SELECT v.image_embedding FROM {table} v WHERE v.{pk} = %s)")
        if viewed_id
        else "NULL::float8"
    )
    style_keys, style_params = preferred_slugs_sql(owner)
    products_sql = pool_select(
        where=f"{table}.{pk} = ANY(({pool_row('product_ids')})::bigint[]) AND {passing_sql}",
        visual_history="NULL::float8",  # stored
        visual_context=visual_context,
        style_keys=style_keys,
    )
    return [
        (pool_row("product_ids, signals, sources, inputs, built_at"), [*owner_params, block]),
        (
            products_sql,
            [
                *style_params,
                *([viewed_id] if viewed_id else []),
                *owner_params,
                block,
                *passing_params,
            ],
        ),
    ]


def stored_from_rows(rows: list[tuple]) -> StoredPool | None:
    """The stored pool read by the first of ``pool_queries``; None when there is none."""
    if not rows:
        return None
    ids, signals, sources, inputs, built_at = rows[0]
    ids = np.array(ids or [], dtype=np.int64)
    n = len(ids)
    return StoredPool(
        ids=ids,
        signals=np.frombuffer(bytes(signals), dtype="<f4").reshape(n, len(STORED_SIGNALS)),
        sources=np.frombuffer(bytes(sources), dtype="<i8").reshape(n, len(STORED_SOURCES)),
        inputs=inputs,
        built_at=built_at,
    )


def stored_signals_apply(
    *, pool: CandidatePool, stored: StoredPool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Put the stored image cosine and sources on ``pool`` (read from the live rows); return its
    stored (collaborative, factor, sequence), aligned with ``pool.ids``."""
    index = {int(pid): i for i, pid in enumerate(stored.ids.tolist())}
    rows = np.array([index[int(pid)] for pid in pool.ids.tolist()], dtype=np.int64)
    signals = stored.signals[rows].astype(np.float64)
    sources = stored.sources[rows]
    pool.visual_history = signals[:, 0]
    pool.collab_seed = [
        (int(seed), RELATION_NAMES[int(code)]) if seed else None for seed, code in sources[:, :2].tolist()
    ]
    pool.sequence_seed = [int(seed) or None for seed in sources[:, 2].tolist()]
    return signals[:, 1], signals[:, 2], signals[:, 3]
