"""/api/stylerec/schema/ answers 200 in a host that never set REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]
(issue #14: it was a 500), and documents the same API as with the setting.

drf-spectacular's decorators read the setting when the view module is imported, so the host runs
in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stylerec.api import views
from stylerec.api.schema import SchemaMixin

ROOT = Path(__file__).resolve().parents[2]
FETCH = """
import django, json, sys
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment
assert "DEFAULT_SCHEMA_CLASS" not in settings.REST_FRAMEWORK
setup_test_environment()
response = Client(raise_request_exception=False).get("/api/stylerec/schema/", HTTP_ACCEPT="application/json")
print(json.dumps({"status": response.status_code, "body": response.content.decode()}))
"""


def test_every_api_view_carries_drf_spectacular_autoschema():
    from rest_framework.views import APIView

    api_views = [
        v
        for v in vars(views).values()
        if isinstance(v, type) and issubclass(v, APIView) and v.__module__ == views.__name__
    ]
    assert api_views
    assert [v.__name__ for v in api_views if not issubclass(v, SchemaMixin)] == []


@pytest.mark.slow
def test_schema_answers_200_without_default_schema_class(client):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.install.settings_without_schema_class")
    result = subprocess.run(
        [sys.executable, "-c", FETCH], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200, answer["body"][:2000]
    without = json.loads(answer["body"])
    with_setting = json.loads(client.get("/api/stylerec/schema/", HTTP_ACCEPT="application/json").content)
    assert "/api/stylerec/recommendations/" in without["paths"]
    assert without == with_setting  # the same document: parameters, bodies, responses
