from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from stylerec.ml.dims import TEXT_DIM
from stylerec.models import get_product_model
from stylerec.ranking.candidates import CandidateFilter, candidates_nearest, hnsw_search, nearest_queryset

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
