"""Issue #13: fuzz stylerec's API against its own OpenAPI schema with schemathesis.

Every operation of ``/api/stylerec/schema/`` is called through the Django WSGI app (no server, the
test database) with schema-driven examples (the coverage phase's boundary and invalid values, then
at most ``MAX_EXAMPLES`` fuzzed cases per operation, derandomized: the same cases on every run),
once as an anonymous visitor and once as a signed-in customer (a session cookie and a CSRF token, as
the store's pages send them). Every answer must be free of server errors and conform to the schema:
a documented status code, content type, headers and body.
"""

from __future__ import annotations

import json
import os
import secrets

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stylerec.models import RankingProfile, StylePreference
from tests.factories import make_product, make_review, make_style

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # a deterministic seed: the same cases on every run
    database=None,  # no .hypothesis folder in the working tree
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def store(customer):
    """Rows the operations can find: products 1 to 10 (small ids, which the generated cases often
    name), reviews, styles, ranking profile 1, a preference."""
    catalog = [
        make_product(
            id=pk,
            direction={pk % 2: 1.0, 10 + pk: 0.3},
            title=f"Item {pk}",
            category="Shirt" if pk % 2 else "Dress",
            popularity=float(pk),
        )
        for pk in range(1, 11)
    ]
    retro = make_style("retro", name="Retro")
    make_style("minimalist", name="Minimalist")
    for product in catalog[:3]:
        make_review(product, user=customer, text="Great retro cut.")
    RankingProfile.objects.create(id=1, name="Baseline", is_active=True)
    StylePreference.objects.create(user=customer, style=retro, weight=1.0)
    return catalog


@pytest.fixture
def wsgi_app(db, store):
    """Django's WSGI app, in this test's transaction: the handler's close_old_connections would
    close the connection mid-transaction (Django's test client disconnects it too)."""
    from django.core.wsgi import get_wsgi_application

    request_started.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/stylerec/schema/", wsgi_app)
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    return schema


@pytest.fixture
def signed_in(client, customer):
    """What a signed-in customer's browser sends: its session cookie and a CSRF token. A fresh
    session for every case: ``me/erase`` retires the session it is called with."""

    def credentials() -> dict[str, dict[str, str]]:
        client.force_login(customer)
        session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
        csrf = secrets.token_hex(16)  # 32 characters: an unmasked CSRF secret, as cookie and header
        return {
            "headers": {"X-CSRFToken": csrf},
            "cookies": {django_settings.SESSION_COOKIE_NAME: session, django_settings.CSRF_COOKIE_NAME: csrf},
        }

    return credentials


schema = schemathesis.pytest.from_fixture("api_schema")


def _call_and_validate(case, who: str, headers: dict | None = None, cookies: dict | None = None) -> None:
    response = case.call(headers=headers, cookies=cookies)
    stats = os.environ.get("STYLEREC_FUZZ_STATS")  # a file: one line per case, for reports
    if stats:
        with open(stats, "a", encoding="utf-8") as fh:
            fh.write(json.dumps([who, case.method, case.path, response.status_code]) + "\n")
    case.validate_response(response, checks=CHECKS, headers=headers)


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_an_anonymous_visitor(case):
    _call_and_validate(case, "anonymous")


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_a_signed_in_customer(case, signed_in):
    _call_and_validate(case, "customer", **signed_in())
