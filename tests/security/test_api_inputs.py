"""Issue #13.6: deep JSON was a 500, and the schema did not say what the API answers.

* JSON nested 1,000 deep made Python's decoder raise RecursionError: a 500. stylerec's API views
  parse JSON with ``DepthLimitedJSONParser`` (set on the views, not on the host): deeper than 32
  levels is a 400.
* The schema now says what the API does: ``sentiment_label`` may be "", 400/401/403/404/429 are
  documented, ``k`` and ids have minimums, and ``?k=`` (empty) is a 400, as an empty integer is.
"""

from __future__ import annotations

import json

import pytest
import yaml
from django.urls import get_resolver
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from stylerec.api.parsers import MAX_JSON_DEPTH, DepthLimitedJSONParser, json_nested_deeper_than
from tests.factories import make_review

pytestmark = pytest.mark.django_db


def _nested(depth: int, leaf: object = 1) -> object:
    """``depth`` lists, one in the other."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _post_json(client, url: str, text: str, method: str = "post"):
    return getattr(client, method)(url, data=text, content_type="application/json")


@pytest.mark.parametrize(
    ("url", "method"), [("/api/stylerec/events/", "post"), ("/api/stylerec/me/styles/", "put")]
)
def test_json_nested_1000_deep_is_a_400_not_a_500(api, catalog, url, method):
    deep = "[" * 1000 + "]" * 1000
    response = _post_json(api, url, '{"kind": "cart", "styles": ' + deep + "}", method)
    assert response.status_code == 400, response.content
    assert "nested deeper than 32 levels" in response.json()["detail"]
    half_open = "[" * 100_000  # not even balanced: refused before the decoder sees it
    assert _post_json(api, url, half_open, method).status_code == 400


def test_depth_limit_is_exact_and_strings_do_not_count(api, catalog):
    url = "/api/stylerec/events/"
    # The object is one level, its "x" the others.
    at_limit = {"kind": "cart", "product_id": catalog[0].pk, "query": "", "x": _nested(MAX_JSON_DEPTH - 1)}
    assert _post_json(api, url, json.dumps(at_limit)).status_code == 201  # unknown keys are ignored
    over = {**at_limit, "x": _nested(MAX_JSON_DEPTH)}
    assert _post_json(api, url, json.dumps(over)).status_code == 400
    brackets_in_text = {"kind": "search", "query": "[" * 300 + '\\"{' * 50}
    assert _post_json(api, url, json.dumps(brackets_in_text)).status_code == 201


def test_the_scan_is_linear_on_hostile_bodies():
    assert not json_nested_deeper_than('"' + '\\"' * 500_000 + '"', 32)
    assert json_nested_deeper_than("[" * 1_000_000, 32)
    assert not json_nested_deeper_than("[]" * 1_000_000, 32)
    assert json_nested_deeper_than('{"a": [1, {"b": []}]}', 3) and not json_nested_deeper_than(
        '{"a": [1, {"b": []}]}', 4
    )


def test_the_parser_is_set_on_stylerecs_views_only():
    assert DepthLimitedJSONParser not in api_settings.DEFAULT_PARSER_CLASSES  # the host's stay its own
    views = []
    for pattern in get_resolver().url_patterns:
        stack = [pattern]
        while stack:
            entry = stack.pop()
            stack.extend(getattr(entry, "url_patterns", []))
            cls = getattr(getattr(entry, "callback", None), "cls", None)
            if isinstance(cls, type) and issubclass(cls, APIView) and cls.__module__ == "stylerec.api.views":
                views.append(cls)
    assert len(views) >= 9
    for cls in views:
        assert DepthLimitedJSONParser in cls.parser_classes, cls


# --- the schema says what the API does --------------------------------------------------------


def _schema(client) -> dict:
    response = client.get("/api/stylerec/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.fixture
def schema(client):
    return _schema(client)


def _operation(schema, path: str, method: str = "get") -> dict:
    return schema["paths"][f"/api/stylerec/{path}"][method]


def _parameter(operation: dict, name: str) -> dict:
    return next(p for p in operation["parameters"] if p["name"] == name)["schema"]


def test_sentiment_label_may_be_blank_as_returned(anon_api, catalog, schema):
    make_review(catalog[0], text="Fine.")  # not analysed yet: sentiment_label ""
    reviews = anon_api.get(f"/api/stylerec/products/{catalog[0].pk}/reviews/").json()["results"]
    assert reviews[0]["sentiment_label"] == ""
    label = schema["components"]["schemas"]["Review"]["properties"]["sentiment_label"]
    enums = [schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]["enum"] for ref in label["oneOf"]]
    assert "" in sum(enums, [])


def test_error_answers_are_documented(schema):
    expected = {
        ("recommendations/", "get"): {"400", "429"},
        ("staff/recommendations/", "get"): {"400", "401", "403", "429"},
        ("events/", "post"): {"400", "403", "429"},
        ("me/styles/", "put"): {"400", "403", "429"},
        ("products/", "get"): {"404", "429"},
        ("products/{id}/", "get"): {"404", "429"},
        ("products/{id}/reviews/", "post"): {"400", "401", "403", "404", "429"},
    }
    for (path, method), codes in expected.items():
        responses = _operation(schema, path, method)["responses"]
        assert codes <= set(responses), (path, method, sorted(responses))
        for code in codes:
            assert responses[code]["content"]["application/json"]["schema"]["$ref"]


def test_minimums_and_k_maximum_are_in_the_schema(client, settings):
    settings.STYLEREC = {"MAX_K": 20}
    schema = _schema(client)
    recommendations = _operation(schema, "recommendations/")
    assert _parameter(recommendations, "k") == {"type": "integer", "minimum": 1, "maximum": 20}
    assert _parameter(recommendations, "product_id")["minimum"] == 1
    staff = _operation(schema, "staff/recommendations/")
    assert _parameter(staff, "user_id")["minimum"] == 1 and _parameter(staff, "profile_id")["minimum"] == 1
    assert _parameter(_operation(schema, "products/{id}/"), "id") == {
        "type": "integer",
        "minimum": 1,
        "maximum": 10**18 - 1,
    }


@pytest.mark.parametrize("query", ["k=", "k=%20", "block=", "product_id=", "k=0", "product_id=0"])
def test_empty_or_out_of_range_parameters_are_a_400(anon_api, catalog, query):
    response = anon_api.get(f"/api/stylerec/recommendations/?{query}")
    assert response.status_code == 400, (query, response.content)


def test_staff_empty_parameters_are_a_400_too(staff_api, catalog):
    for query in ("user_id=", "profile_id=", "explain="):
        assert staff_api.get(f"/api/stylerec/staff/recommendations/?{query}").status_code == 400, query


def test_absent_and_blank_string_parameters_take_their_defaults(anon_api, catalog):
    assert anon_api.get("/api/stylerec/recommendations/").status_code == 200
    assert anon_api.get("/api/stylerec/recommendations/?category=").status_code == 200
