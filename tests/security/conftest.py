"""The security tests reuse the delivery tests' catalog, customers and API clients."""

from tests.delivery.conftest import (  # noqa: F401 - fixtures, found by name
    _product_urls,
    anon_api,
    api,
    catalog,
    customer,
    other_customer,
    staff,
    staff_api,
)
