"""Candidate generation: which products are worth scoring for a request.

Nearest neighbours come from pgvector's HNSW indexes (``CosineDistance`` ordering on
``text_embedding`` / ``image_embedding``). Filters (in stock, category, exclusions) are applied
inside the index scan; with pgvector ≥ 0.8 ``hnsw.iterative_scan = relaxed_order`` keeps
scanning until ``LIMIT`` rows pass the filter, so a filter that keeps 10% of the catalog still
returns a full pool. Both settings are transaction-local (``SET LOCAL``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connections, transaction
from django.db.models import Q, QuerySet
from pgvector.django import CosineDistance, VectorField

from stylerec.cache import cache_get, cache_set
from stylerec.conf import stylerec_settings
from stylerec.db import product_table, read_alias, rows_fetch
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
    raw reads that must apply the same rules (``ranking.pools``). Django's compiler costs about
    1.5 ms, a tenth of a pooled block, so the rules are compiled once per shape (stock, category,
    blocked categories, product model, database) and the excluded ids, which differ for every
    customer, go in as one array parameter."""
    model = get_product_model()
    sql, params = _rules_where(
        model._meta.label,
        read_alias(),
        filters.in_stock_only,
        filters.category,
        filters.blocked_categories,
    )
    if not filters.exclude_ids:
        return sql, list(params)
    table, pk = product_table()
    return f"{sql} AND NOT ({table}.{pk} = ANY(%s))", [*params, sorted(filters.exclude_ids)]


@functools.lru_cache(maxsize=256)
def _rules_where(
    model_label: str, alias: str, in_stock_only: bool, category: str | None, blocked: frozenset[str]
) -> tuple[str, tuple[Any, ...]]:
    del model_label, alias  # cache keys: product_queryset reads both
    qs = product_queryset(
        CandidateFilter(in_stock_only=in_stock_only, category=category, blocked_categories=blocked)
    )
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.compile(qs.query.where)
    return sql, tuple(params)


def ids_passing(*, ids: list[int], filters: CandidateFilter) -> list[int]:
    """``ids`` that pass the hard filters, in the given order."""
    if not ids:
        return []
    table, pk = product_table()
    where, params = filters_where(filters)
    sql = f"SELECT {table}.{pk} FROM {table} WHERE {table}.{pk} = ANY(%s) AND {where}"
    kept = {pid for (pid,) in rows_fetch(sql, [list(ids), *params])}
    return [pid for pid in ids if pid in kept]


def products_shown(ids: list[int]) -> dict[int, Any]:
    """The products a block shows, by id, with every column but their vectors: one raw read.
    ``in_bulk`` compiles its query each time (about 1.5 ms, more than the read itself)."""
    model = get_product_model()
    table, pk = product_table()
    rows = model.objects.using(read_alias()).raw(
        f"SELECT {_display_columns(model._meta.label)} FROM {table} WHERE {pk} = ANY(%s)", [list(ids)]
    )
    return {product.pk: product for product in rows}


@functools.lru_cache(maxsize=8)
def _display_columns(model_label: str) -> str:
    del model_label  # the cache key: the product model is swappable
    quote = connections[read_alias()].ops.quote_name  # a swapped model may name a column "order"
    return ", ".join(
        quote(str(field.column))  # concrete fields all have one
        for field in get_product_model()._meta.concrete_fields
        if not isinstance(field, VectorField)
    )


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
    """The candidates of several vector searches, as one SQL statement (``nearest_many_sql``): one
    round trip instead of one per source. Ids come search by search, nearest first, each once.
    Run it inside ``hnsw_search()``."""
    statement = nearest_many_sql(searches=searches, filters=filters)
    if statement is None:
        return []
    # relaxed_order may return a scan's rows slightly out of order: sorted here, as pgvector advises
    ordered = sorted(rows_fetch(*statement), key=lambda row: (row[1], float(row[2])))
    return list(dict.fromkeys(int(pid) for pid, _, _ in ordered))


def nearest_many_sql(
    *, searches: list[NearestSearch], filters: CandidateFilter
) -> tuple[str, list[Any]] | None:
    """``UNION ALL`` of the filtered HNSW scans, each with its own ``ORDER BY distance LIMIT``, as
    raw SQL (rows: id, search number, cosine distance); None when no search has a vector. Written
    out rather than compiled by Django: compiling six querysets and their union cost more than
    a scan. The limit is a literal, so a prepared statement's generic plan still knows it."""
    table, pk = product_table()
    where, where_params = filters_where(filters)
    model = get_product_model()
    parts: list[str] = []
    params: list[Any] = []
    for i, search in enumerate(searches):
        if search.vector is None or search.limit <= 0:
            continue
        field = model._meta.get_field(search.field_name)
        assert isinstance(field, VectorField), f"{search.field_name} is not a vector column"
        column = field.column
        parts.append(
            f"(SELECT {table}.{pk}, {i} AS source, {column} <=> %s AS distance FROM {table} "
            f"WHERE {where} AND {column} IS NOT NULL ORDER BY distance LIMIT {int(search.limit)})"
        )
        params += [np.asarray(search.vector, dtype=np.float32), *where_params]
    return (" UNION ALL ".join(parts), params) if parts else None


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
