"""The OpenAPI schema validates, and the docs page works with local assets only (no CDN)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for route in (
        "/api/stylerec/recommendations/",
        "/api/stylerec/events/",
        "/api/stylerec/me/styles/",
        "/api/stylerec/products/{id}/reviews/",
        "/api/stylerec/staff/recommendations/",
    ):
        assert route in text


@pytest.mark.django_db
def test_schema_endpoint_and_docs_page_use_no_cdn(client):
    schema = client.get("/api/stylerec/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    docs = client.get("/api/stylerec/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in a for a in assets)
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    bundle = next(a for a in assets if "swagger-ui-bundle.js" in a)
    served = client.get(bundle)
    assert served.status_code == 200
    assert b"".join(served.streaming_content)[:100]


def test_only_swagger_files_are_served(client):
    assert client.get("/api/stylerec/docs/assets/../../settings.py").status_code == 404
    assert client.get("/api/stylerec/docs/assets/LICENSE").status_code == 404
