"""Fixtures of the delivery tests: a small catalog whose vectors make "similar" predictable, API
clients for a customer, another customer and staff."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import make_product, make_user


@pytest.fixture(autouse=True)
def _product_urls(settings):
    """The demo store's product page is where click links land."""
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "PRODUCT_URL_NAME": "shop:product"}


@pytest.fixture
def catalog(db):
    """Ten products: 0-4 point along image/text axis 0 with small variations (one family), 5-9
    along axis 1; all in stock, with a little popularity so "trending" has something to show."""
    products = []
    for i in range(10):
        family = 0 if i < 5 else 1
        products.append(
            make_product(
                direction={family: 1.0, 10 + i: 0.3},
                title=f"{'Navy' if family == 0 else 'Floral'} item {i}",
                category="Shirt" if family == 0 else "Dress",
                popularity=float(10 - i),
                sales_count=10 - i,
                rating_average=4.5,
                review_count=3,
            )
        )
    return products


@pytest.fixture
def customer(db):
    return make_user("alice")


@pytest.fixture
def other_customer(db):
    return make_user("bob")


@pytest.fixture
def staff(db):
    return make_user("merch", is_staff=True, is_superuser=True)


@pytest.fixture
def api(customer):
    client = APIClient()
    client.force_authenticate(customer)
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def staff_api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client
