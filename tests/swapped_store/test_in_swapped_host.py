"""Runs only inside the swapped host's settings (started by tests/foundation/test_swapped_model.py)."""

import pytest
from django.db import connection

from stylerec.models import Review, get_product_model
from tests.factories import make_product, make_review
from tests.swapped_store.models import StoreItem


@pytest.mark.django_db
def test_stylerec_points_at_the_hosts_product_model():
    assert get_product_model() is StoreItem
    item = make_product(direction=1, warehouse_code="W-7")
    review = make_review(item, rating=4)
    assert Review.objects.get(pk=review.pk).product == item
    assert Review._meta.get_field("product").related_model is StoreItem
    # "swapped_store_storeitem_image_hnsw" is longer than an index name may be: stylerec shortens it.
    (index,) = [index for index in StoreItem._meta.indexes if index.fields == ["image_embedding"]]
    image_index = index.name
    assert len(image_index) <= index.max_name_length and image_index.startswith("swapped_store_storeite_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [image_index])
        assert "hnsw" in cursor.fetchone()[0]
    # The default product table does not exist in a swapped host.
    assert "stylerec_product" not in connection.introspection.table_names()


@pytest.mark.django_db
def test_similarity_query_runs_on_the_swapped_model():
    from pgvector.django import CosineDistance

    base = make_product(direction=0)
    near = make_product(direction={0: 1.0, 1: 0.2})
    make_product(direction=5)
    ranked = list(
        StoreItem.objects.exclude(pk=base.pk).order_by(
            CosineDistance("image_embedding", base.image_embedding)
        )[:1]
    )
    assert ranked == [near]
