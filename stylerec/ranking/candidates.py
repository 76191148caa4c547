"""Candidate generation: which products are worth scoring for a request.

Nearest neighbours come from pgvector's HNSW indexes (``CosineDistance`` ordering on
``text_embedding`` / ``image_embedding``). Filters (in stock, category, exclusions) are applied
inside the index scan; with pgvector ≥ 0.8 ``hnsw.iterative_scan = relaxed_order`` keeps
scanning until ``LIMIT`` rows pass the filter, so a filter that keeps 10% of the catalog still
returns a full pool. Both settings are transaction-local (``SET LOCAL``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connections, transaction
from django.db.models import IntegerField, Q, QuerySet, Value
from pgvector.django import CosineDistance

from stylerec.cache import cache_get, cache_set
from stylerec.conf import stylerec_settings
from stylerec.db import read_alias
from stylerec.models import get_product_model

TRENDING_POOL = 500  # ids kept in the cached trending list per (category, stock) filter
TRENDING_TIMEOUT = 60


@dataclass(frozen=True)
class CandidateFilter:
    """What every candidate must satisfy (the hard rules)."""

    in_stock_only: bool = True
    category: str | None = None
    exclude_ids: frozenset[int] = field(default_factory=frozenset)
    blocked_categories: frozenset[str] = field(default_factory=frozenset)

    def keeps(self, *, product_id: int, category: str) -> bool:
        return product_id not in self.exclude_ids and category not in self.blocked_categories


def product_queryset(filters: CandidateFilter) -> QuerySet:
    """The products passing ``filters``: the one statement of the hard rules (serving reads them
    on ``db.read_alias()``)."""
    qs = get_product_model().objects.using(read_alias()).filter(is_active=True)
    if filters.in_stock_only:  # a stock of None is not tracked: shown
        qs = qs.filter(Q(stock__isnull=True) | Q(stock__gt=0))
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.exclude_ids:
        qs = qs.exclude(pk__in=sorted(filters.exclude_ids))
    if filters.blocked_categories:
        qs = qs.exclude(category__in=sorted(filters.blocked_categories))
    return qs


def filters_where(filters: CandidateFilter) -> tuple[str, list[Any]]:
    """``product_queryset(filters)``'s WHERE clause as SQL on the (unaliased) product table, for
    raw reads that must apply the same rules (``ranking.pools``)."""
    qs = product_queryset(filters)
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.compile(qs.query.where)
    return sql, list(params)


@contextmanager
def hnsw_search(*, ef_search: int | None = None) -> Iterator[None]:
    """A transaction in which HNSW scans use ``HNSW_EF_SEARCH`` and iterative, relaxed-order
    scanning. ``set_config(..., true)`` is ``SET LOCAL`` as a single parameterised statement."""
    ef = int(ef_search or stylerec_settings.HNSW_EF_SEARCH)
    alias = read_alias()
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                [str(ef)],
            )
        yield


def _nearest_ordered(*, vector: np.ndarray, field_name: str, filters: CandidateFilter) -> QuerySet:
    return (
        product_queryset(filters)
        .filter(**{f"{field_name}__isnull": False})
        .annotate(distance=CosineDistance(field_name, vector))
        .order_by("distance")
    )


def nearest_queryset(
    *, vector: np.ndarray, field_name: str, filters: CandidateFilter, limit: int
) -> QuerySet:
    """Primary keys of the products nearest to ``vector`` (cosine), filtered. Run it inside
    ``hnsw_search()``."""
    return _nearest_ordered(vector=vector, field_name=field_name, filters=filters).values_list(
        "pk", flat=True
    )[:limit]


def candidates_nearest(*, vector: Any, field_name: str, filters: CandidateFilter, limit: int) -> list[int]:
    if vector is None or limit <= 0:
        return []
    return list(nearest_queryset(vector=vector, field_name=field_name, filters=filters, limit=limit))


@dataclass(frozen=True)
class NearestSearch:
    """One vector search of a block's candidates: the ``limit`` products nearest to ``vector``."""

    vector: Any
    field_name: str
    limit: int


def candidates_nearest_many(*, searches: list[NearestSearch], filters: CandidateFilter) -> list[int]:
    """The candidates of several vector searches, as one SQL statement (``UNION ALL`` of the
    filtered HNSW scans, each with its own ``ORDER BY … LIMIT``): one round trip instead of one
    per source. Ids come search by search, nearest first, each once. Run it inside
    ``hnsw_search()``."""
    parts = [
        _nearest_ordered(vector=search.vector, field_name=search.field_name, filters=filters)
        .annotate(source=Value(i, output_field=IntegerField()))
        .values_list("pk", "source", "distance")[: search.limit]
        for i, search in enumerate(searches)
        if search.vector is not None and search.limit > 0
    ]
    if not parts:
        return []
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    # relaxed_order may return a scan's rows slightly out of order: sorted here, as pgvector advises
    ordered = sorted(rows, key=lambda row: (row[1], float(row[2])))
    return list(dict.fromkeys(int(pid) for pid, _, _ in ordered))


def candidates_trending(*, filters: CandidateFilter, limit: int) -> list[int]:
    """The most popular products passing ``filters``. The per-category list is cached briefly:
    ordering the whole catalog by popularity is the one sequential scan on the serving path."""
    key = f"trending:{int(filters.in_stock_only)}:{filters.category or '*'}"
    ranked: list[tuple[int, str]] | None = cache_get(key)
    if ranked is None:
        base = CandidateFilter(in_stock_only=filters.in_stock_only, category=filters.category)
        ranked = list(
            product_queryset(base)
            .order_by("-popularity", "-sales_count", "-created_at", "pk")
            .values_list("pk", "category")[:TRENDING_POOL]
        )
        cache_set(key, ranked, timeout=TRENDING_TIMEOUT)
    kept = [pid for pid, category in ranked if filters.keeps(product_id=pid, category=category)]
    if len(kept) < limit and len(ranked) >= TRENDING_POOL:  # exclusions ate the cached list
        kept = list(
            product_queryset(filters)
            .order_by("-popularity", "-sales_count", "-created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
    return kept[:limit]


def candidates_by_style(*, styles: dict[str, float], filters: CandidateFilter, limit: int) -> list[int]:
    """Products whose ``style_scores`` best match the weighted styles (a scan of the JSON
    column: used by the in-your-style block, where styles have no vector to search by)."""
    positive = {slug: w for slug, w in styles.items() if w > 0}
    if not positive or limit <= 0:
        return []
    terms = " + ".join("%s * coalesce((style_scores->>%s)::float, 0)" for _ in positive)
    params: list[Any] = []
    for slug, weight in positive.items():
        params += [weight, slug]
    from django.db.models.expressions import RawSQL

    return list(
        product_queryset(filters)
        .annotate(style_match=RawSQL(f"({terms})", params))
        .filter(style_match__gt=0)
        .order_by("-style_match", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def candidates_same_category(*, category: str, filters: CandidateFilter, limit: int) -> list[int]:
    narrowed = CandidateFilter(
        in_stock_only=filters.in_stock_only,
        category=filters.category or category,
        exclude_ids=filters.exclude_ids,
        blocked_categories=filters.blocked_categories,
    )
    return candidates_trending(filters=narrowed, limit=limit)
