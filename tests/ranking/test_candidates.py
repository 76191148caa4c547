from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from stylerec.db import rows_fetch
from stylerec.ml.dims import TEXT_DIM
from stylerec.models import get_product_model
from stylerec.ranking.candidates import (
    CandidateFilter,
    NearestSearch,
    candidates_nearest,
    candidates_nearest_many,
    hnsw_search,
    ids_passing,
    nearest_many_sql,
    nearest_queryset,
)

N_PRODUCTS = 400


@pytest.fixture
def catalog():
    """400 products with random text vectors; only every tenth is in stock.

    On a table this small PostgreSQL rightly prefers an exact scan, so the tests switch sequential
    scans off: the planner can then still only use the HNSW index if the query's ordering matches
    its operator class (cosine distance, ascending). At 100k products the benchmark records that
    the planner picks the index by itself."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N_PRODUCTS, TEXT_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    product_model = get_product_model()
    product_model.objects.bulk_create(
        product_model(
            title=f"P{i}",
            category="Shirt",
            price=Decimal("1"),
            stock=5 if i % 10 == 0 else 0,
            text_embedding=vectors[i].tolist(),
        )
        for i in range(N_PRODUCTS)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {product_model._meta.db_table}")
    return vectors


def _no_seqscan() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")


def _plan(vector, filters, limit=10) -> str:
    with hnsw_search():
        _no_seqscan()
        return nearest_queryset(
            vector=vector, field_name="text_embedding", filters=filters, limit=limit
        ).explain()


@pytest.mark.django_db
def test_nearest_query_uses_the_hnsw_index(catalog):
    plan = _plan(catalog[0], CandidateFilter(in_stock_only=True))
    assert "stylerec_product_text_hnsw" in plan, plan


@pytest.mark.django_db
def test_a_filter_keeping_ten_percent_still_returns_k_rows(catalog, settings):
    # ef_search 10 alone would yield ~1 in-stock row per scan; iterative scanning must keep going.
    settings.STYLEREC = {**settings.STYLEREC, "HNSW_EF_SEARCH": 10}
    filters = CandidateFilter(in_stock_only=True)
    assert "stylerec_product_text_hnsw" in _plan(catalog[3], filters)
    with hnsw_search():
        _no_seqscan()
        found = candidates_nearest(vector=catalog[3], field_name="text_embedding", filters=filters, limit=10)
    assert len(found) == 10
    in_stock = set(get_product_model().objects.filter(stock__gt=0).values_list("pk", flat=True))
    assert set(found) <= in_stock


@pytest.mark.django_db
def test_without_iterative_scan_the_same_query_comes_back_short(catalog):
    """The control for the test above: it is the relaxed iterative scan that fills K rows."""
    _no_seqscan()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.ef_search = 10")
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        qs = nearest_queryset(
            vector=np.asarray(catalog[3]), field_name="text_embedding", filters=CandidateFilter(), limit=10
        )
        assert "stylerec_product_text_hnsw" in qs.explain()
        assert len(list(qs)) < 10


@pytest.mark.django_db
def test_the_served_statement_scans_the_hnsw_index_and_keeps_k_through_prepared_plans(catalog, settings):
    """Serving sends its scans as raw SQL (``nearest_many_sql``), which psycopg prepares after a few
    runs: every scan must use the index, and the filters and exclusions hold run after run."""
    settings.STYLEREC = {**settings.STYLEREC, "HNSW_EF_SEARCH": 10}
    in_stock = set(get_product_model().objects.filter(stock__gt=0).values_list("pk", flat=True))
    excluded = frozenset(sorted(in_stock)[:3])
    filters = CandidateFilter(in_stock_only=True, exclude_ids=excluded)
    searches = [
        NearestSearch(catalog[3], "text_embedding", 10),
        NearestSearch(catalog[5], "text_embedding", 5),
    ]
    with hnsw_search():
        _no_seqscan()
        sql, params = nearest_many_sql(searches=searches, filters=filters)
        plan = "\n".join(row[0] for row in rows_fetch(f"EXPLAIN {sql}", params))
        assert plan.count("stylerec_product_text_hnsw") == 2, plan
        for _ in range(8):  # past psycopg's prepare threshold and PostgreSQL's custom-plan runs
            found = candidates_nearest_many(searches=searches, filters=filters)
            assert len(found) >= 10
            assert set(found) <= in_stock - excluded


@pytest.mark.django_db
def test_filters_compiled_once_per_shape_still_tell_categories_and_exclusions_apart():
    from tests.factories import make_product

    shirt, dress, gone = (make_product(category=c) for c in ("Shirt", "Dress", "Shirt"))
    ids = [shirt.pk, dress.pk, gone.pk]
    assert ids_passing(ids=ids, filters=CandidateFilter(category="Shirt")) == [shirt.pk, gone.pk]
    assert ids_passing(ids=ids, filters=CandidateFilter(category="Dress")) == [dress.pk]
    assert ids_passing(
        ids=ids, filters=CandidateFilter(category="Shirt", exclude_ids=frozenset({gone.pk}))
    ) == [shirt.pk]
    assert ids_passing(ids=ids, filters=CandidateFilter(blocked_categories=frozenset({"Shirt"}))) == [
        dress.pk
    ]
