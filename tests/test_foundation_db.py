import pytest
from django.db import connection

from stylerec.models import Product, get_product_model
from tests.factories import make_product


@pytest.mark.django_db
def test_vector_extension_and_hnsw_indexes_exist():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone() is not None
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'stylerec_product_image_hnsw'")
        (indexdef,) = cursor.fetchone()
    assert "hnsw" in indexdef and "vector_cosine_ops" in indexdef


@pytest.mark.django_db
def test_default_product_model_stores_vectors():
    assert get_product_model() is Product
    product = make_product(direction=3)
    product.refresh_from_db()
    assert len(product.image_embedding) == 1280
    assert product.image_embedding[3] == pytest.approx(1.0)
