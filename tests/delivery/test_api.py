"""The REST API under /api/stylerec/: validation (400, never 500), ownership, staff-only
endpoints, throttling, reviews, products with artifact states."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stylerec.models import ArtifactState, Interaction, Review, Style, StylePreference
from tests.factories import make_style

pytestmark = pytest.mark.django_db

RECS = "/api/stylerec/recommendations/"


def test_api_is_mounted_where_the_docs_say():
    assert reverse("stylerec:api-recommendations") == RECS
    assert reverse("stylerec:api-schema") == "/api/stylerec/schema/"
    assert reverse("stylerec:api-docs") == "/api/stylerec/docs/"


# --- recommendations ---------------------------------------------------------------------------


def test_recommendations_for_a_viewed_product_have_reasons_and_click_links(api, catalog):
    viewed = catalog[0]
    response = api.get(RECS, {"block": "similar", "product_id": viewed.pk, "k": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["block"] == "similar"
    assert 1 <= len(body["items"]) <= 3
    ids = [item["product"]["id"] for item in body["items"]]
    assert viewed.pk not in ids
    # The closest products are the viewed product's own family (axis 0).
    assert set(ids) <= {p.pk for p in catalog[:5]}
    for position, item in enumerate(body["items"], start=1):
        assert item["position"] == position
        assert item["reasons"] and item["reasons"][0]["text"]
        assert item["click_url"].startswith(f"/r/similar/{item['product']['id']}/?pos={position}")
        assert item["contributions"] == {}  # explanations are for staff only


def test_a_repeat_request_is_served_as_cached_json_until_the_customer_acts(
    api, catalog, customer, monkeypatch
):
    from stylerec.api import views

    renders = []
    real = views.result_data
    monkeypatch.setattr(views, "result_data", lambda *a, **kw: renders.append(1) or real(*a, **kw))
    first = api.get(RECS, {"block": "for_you", "k": 4}).json()
    again = api.get(RECS, {"block": "for_you", "k": 4}).json()
    assert len(renders) == 1  # the second answer is the stored JSON, not serialized again
    assert first["cached"] is False and again["cached"] is True
    assert again["items"] == first["items"]
    # Its absolute URLs (photos) name the host: another host gets its own rendering.
    other = api.get(RECS, {"block": "for_you", "k": 4}, HTTP_HOST="localhost").json()
    assert len(renders) == 2 and other["items"] == first["items"]
    # The customer acts: their cached answers are stale at once.
    api.post("/api/stylerec/events/", {"kind": "cart", "product_id": first["items"][0]["product"]["id"]})
    after = api.get(RECS, {"block": "for_you", "k": 4}).json()
    assert len(renders) == 3 and after["cached"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"block": "nope"}, "block"),
        ({"block": 3}, "block"),
        ({"k": 0}, "k"),
        ({"k": -5}, "k"),
        ({"k": 10**9}, "k"),
        ({"k": "many"}, "k"),
        ({"k": "1e3"}, "k"),
        ({"product_id": "abc"}, "product_id"),
        ({"product_id": 10**30}, "product_id"),
        ({"product_id": 987654}, "product_id"),
        ({"category": "x" * 101}, "category"),
    ],
)
def test_bad_recommendation_queries_are_400_with_the_field_named(api, catalog, params, field):
    response = api.get(RECS, params)
    assert response.status_code == 400
    assert field in response.json()


def test_a_customer_cannot_ask_for_another_customers_recommendations(api, other_customer, catalog):
    from stylerec.services.events import interaction_record

    # Bob clicked around the floral family; Alice has no history.
    for product in catalog[5:8]:
        interaction_record(kind="click", user=other_customer, product_id=product.pk)
    mine = api.get(RECS, {"block": "for_you", "k": 5}).json()
    as_bob = api.get(RECS, {"block": "for_you", "k": 5, "user_id": other_customer.pk}).json()
    # The user_id parameter is not part of the customer API: the answer is Alice's own list.
    assert [i["product"]["id"] for i in as_bob["items"]] == [i["product"]["id"] for i in mine["items"]]
    assert api.get("/api/stylerec/staff/recommendations/", {"user_id": other_customer.pk}).status_code == 403


def test_staff_see_any_customers_list_with_per_signal_contributions(staff_api, customer, catalog):
    response = staff_api.get(
        "/api/stylerec/staff/recommendations/",
        {"user_id": customer.pk, "block": "similar", "product_id": catalog[0].pk, "k": 4, "explain": 1},
    )
    assert response.status_code == 200, response.content
    items = response.json()["items"]
    assert items
    from stylerec.ranking.types import SIGNALS

    for item in items:
        assert set(item["contributions"]) <= set(SIGNALS)
        assert item["contributions"]  # filled: explain=1
    assert staff_api.get("/api/stylerec/staff/recommendations/", {"user_id": "me"}).status_code == 400


def test_anonymous_visitors_cannot_use_the_staff_endpoint(anon_api, catalog):
    assert anon_api.get("/api/stylerec/staff/recommendations/").status_code in (401, 403)


# --- events ------------------------------------------------------------------------------------


def test_event_is_recorded_for_the_signed_in_customer_with_block_and_profile(api, customer, catalog):
    from stylerec.models import RankingProfile

    profile = RankingProfile.objects.create(name="p1", is_active=True)
    response = api.post(
        "/api/stylerec/events/",
        {
            "kind": "cart",
            "product_id": catalog[2].pk,
            "block": "for_you",
            "profile_id": profile.pk,
            "position": 2,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    event = Interaction.objects.get(pk=response.json()["id"])
    assert (event.user, event.kind, event.product, event.block, event.profile, event.position) == (
        customer,
        "cart",
        catalog[2],
        "for_you",
        profile,
        2,
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "teleport", "product_id": 1},
        {"kind": "click"},  # a click needs a product
        {"kind": "click", "product_id": "abc"},
        {"kind": "click", "product_id": 987654},
        {"kind": "click", "product_id": 10**40},
        {"kind": "search", "query": ""},
        {"kind": "cart", "product_id": "PID", "block": "homepage"},
        {"kind": "cart", "product_id": "PID", "profile_id": 987654},
        {"kind": "cart", "product_id": "PID", "position": -1},
        {"kind": ["click"], "product_id": "PID"},
    ],
)
def test_bad_events_are_400_and_record_nothing(api, catalog, payload):
    payload = {k: (catalog[0].pk if v == "PID" else v) for k, v in payload.items()}
    response = api.post("/api/stylerec/events/", payload, format="json")
    assert response.status_code == 400, response.content
    assert not Interaction.objects.exists()


def test_anonymous_events_belong_to_the_session(anon_api, catalog):
    response = anon_api.post(
        "/api/stylerec/events/", {"kind": "click", "product_id": catalog[0].pk}, format="json"
    )
    assert response.status_code == 201
    event = Interaction.objects.get()
    assert event.user is None and event.session_key


def test_events_are_throttled(api, catalog, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"stylerec.events": "3/min"},
    }
    codes = [
        api.post(
            "/api/stylerec/events/", {"kind": "click", "product_id": catalog[0].pk}, format="json"
        ).status_code
        for _ in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]
    assert Interaction.objects.count() == 3


# --- my styles ---------------------------------------------------------------------------------


@pytest.fixture
def styles(db):
    return [make_style("retro"), make_style("minimalist"), make_style("light-luxury")]


def test_put_and_get_my_styles(api, customer, styles):
    url = "/api/stylerec/me/styles/"
    assert api.get(url).json() == {"styles": []}
    body = {"styles": [{"slug": "retro", "weight": 1.0}, {"slug": "minimalist", "weight": 0.4}]}
    response = api.put(url, body, format="json")
    assert response.status_code == 200, response.content
    assert [(s["slug"], s["weight"]) for s in response.json()["styles"]] == [
        ("retro", 1.0),
        ("minimalist", 0.4),
    ]
    # PUT replaces: what is left out is dropped.
    api.put(url, {"styles": [{"slug": "light-luxury", "weight": 0.7}]}, format="json")
    stored = StylePreference.objects.filter(user=customer, source="explicit")
    assert {(p.style.slug, p.weight) for p in stored} == {("light-luxury", 0.7)}


@pytest.mark.parametrize(
    "body",
    [
        {"styles": [{"slug": "gothic", "weight": 1}]},
        {"styles": [{"slug": "retro", "weight": 2}]},
        {"styles": [{"slug": "retro", "weight": "lots"}]},
        {"styles": [{"slug": "retro"}, {"slug": "retro"}]},
        {"styles": "retro"},
        {},
    ],
)
def test_bad_style_choices_are_400(api, styles, body):
    response = api.put("/api/stylerec/me/styles/", body, format="json")
    assert response.status_code == 400, response.content
    assert not StylePreference.objects.exists()


def test_styles_of_one_customer_are_invisible_to_another(api, other_customer, styles):
    from rest_framework.test import APIClient

    api.put("/api/stylerec/me/styles/", {"styles": [{"slug": "retro", "weight": 1}]}, format="json")
    bob = APIClient()
    bob.force_authenticate(other_customer)
    assert bob.get("/api/stylerec/me/styles/").json() == {"styles": []}


def test_anonymous_styles_live_in_the_session(anon_api, styles):
    anon_api.put("/api/stylerec/me/styles/", {"styles": [{"slug": "retro", "weight": 0.9}]}, format="json")
    assert anon_api.get("/api/stylerec/me/styles/").json()["styles"][0]["slug"] == "retro"
    preference = StylePreference.objects.get()
    assert preference.user is None and preference.session_key


def test_put_my_styles_after_staff_deactivate_a_chosen_style(api, customer, styles):
    url = "/api/stylerec/me/styles/"
    assert api.put(url, {"styles": [{"slug": "retro", "weight": 1.0}]}, format="json").status_code == 200
    retro = styles[0]
    retro.is_active = False  # staff retire the style the customer chose
    retro.save()
    response = api.put(url, {"styles": [{"slug": "minimalist", "weight": 0.5}]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"styles": [{"slug": "minimalist", "name": "Minimalist", "weight": 0.5}]}
    stored = StylePreference.objects.filter(user=customer, source="explicit")
    assert {(p.style.slug, p.weight) for p in stored} == {("minimalist", 0.5)}  # the inactive one is gone


@pytest.mark.parametrize("slug", ["gothic", "retro"])
def test_put_my_styles_naming_an_unknown_or_inactive_style_is_400(api, customer, styles, slug):
    url = "/api/stylerec/me/styles/"
    api.put(url, {"styles": [{"slug": "minimalist", "weight": 0.5}]}, format="json")
    Style.objects.filter(slug="retro").update(is_active=False)
    response = api.put(url, {"styles": [{"slug": slug, "weight": 0.8}]}, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {"styles": [f"Unknown or inactive styles: {slug}."]}
    # nothing changed
    assert [p.style.slug for p in StylePreference.objects.filter(user=customer)] == ["minimalist"]


def test_style_preferences_set_replaces_and_drops_inactive_choices(customer, styles):
    """The service owns the rule: weight 0 (or leaving a style out) drops it, inactive or not;
    only a style asked for with a weight above 0 must be active."""
    from stylerec.customers import Owner
    from stylerec.services.preferences import UnknownStyles, style_preferences_set

    owner = Owner.of(customer)
    style_preferences_set(owner=owner, weights={"retro": 1.0, "minimalist": 0.3})
    Style.objects.filter(slug="retro").update(is_active=False)
    kept = style_preferences_set(owner=owner, weights={"retro": 0.0, "light-luxury": 0.6})
    assert [(p.style.slug, p.weight) for p in kept] == [("light-luxury", 0.6)]
    assert set(StylePreference.objects.filter(owner.q()).values_list("style__slug", flat=True)) == {
        "light-luxury"
    }
    with pytest.raises(UnknownStyles, match="retro"):
        style_preferences_set(owner=owner, weights={"retro": 0.5})


# --- reviews -----------------------------------------------------------------------------------


def test_reviews_list_and_create(api, customer, catalog):
    url = f"/api/stylerec/products/{catalog[0].pk}/reviews/"
    response = api.post(
        url, {"rating": 4, "title": "Nice", "text": "  Soft cotton, true to size.  "}, format="json"
    )
    assert response.status_code == 201, response.content
    review = Review.objects.get()
    assert (review.user, review.product, review.rating, review.text) == (
        customer,
        catalog[0],
        4,
        "Soft cotton, true to size.",
    )
    listed = api.get(url).json()
    assert listed["results"][0]["author"] == "alice"


@pytest.mark.parametrize(
    "body",
    [
        {"rating": 6, "text": "ok"},
        {"rating": 0, "text": "ok"},
        {"rating": "five", "text": "ok"},
        {"rating": 5, "text": "   "},
        {"rating": 5},
        {"rating": 5, "text": "x" * 5001},
    ],
)
def test_bad_reviews_are_400(api, catalog, body):
    response = api.post(f"/api/stylerec/products/{catalog[0].pk}/reviews/", body, format="json")
    assert response.status_code == 400, response.content
    assert not Review.objects.exists()


def test_review_length_follows_max_review_chars(api, catalog, settings):
    settings.STYLEREC = {**settings.STYLEREC, "MAX_REVIEW_CHARS": 20}
    response = api.post(f"/api/stylerec/products/{catalog[0].pk}/reviews/", {"rating": 5, "text": "y" * 21})
    assert response.status_code == 400
    assert "20" in str(response.json()["text"])


def test_only_signed_in_customers_write_reviews(anon_api, catalog):
    url = f"/api/stylerec/products/{catalog[0].pk}/reviews/"
    assert anon_api.get(url).status_code == 200
    assert anon_api.post(url, {"rating": 5, "text": "great"}).status_code in (401, 403)


def test_reviews_are_throttled(api, catalog, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"stylerec.reviews": "2/hour"},
    }
    url = f"/api/stylerec/products/{catalog[0].pk}/reviews/"
    codes = [api.post(url, {"rating": 5, "text": f"review {n}"}).status_code for n in range(3)]
    assert codes == [201, 201, 429]


# --- products ----------------------------------------------------------------------------------


def test_product_detail_shows_artifact_states(anon_api, catalog):
    product = catalog[0]
    # Saving a product already queued its artifacts; set their outcome as a worker would.
    ArtifactState.objects.filter(object_id=product.pk).delete()
    ArtifactState.objects.create(
        kind="product.image", object_id=product.pk, status="ready", model_version="m1"
    )
    ArtifactState.objects.create(kind="product.text", object_id=product.pk, status="failed", error="boom")
    ArtifactState.objects.create(
        kind="review.sentiment", object_id=product.pk, status="ready"
    )  # not the product's
    body = anon_api.get(f"/api/stylerec/products/{product.pk}/").json()
    assert body["title"] == product.title
    states = [(a["kind"], a["status"]) for a in body["artifacts"]]
    assert states == [("product.image", "ready"), ("product.text", "failed")]
    assert body["url"] == f"/p/{product.pk}/"


def test_product_list_is_paginated(anon_api, catalog):
    body = anon_api.get("/api/stylerec/products/").json()
    assert body["count"] == 10
    assert {p["id"] for p in body["results"]} == {p.pk for p in catalog}


@pytest.mark.parametrize("path", ["abc", "99999999999999999999999", "-1", "987654"])
def test_unknown_or_malformed_product_ids_are_404_not_500(anon_api, catalog, path):
    assert anon_api.get(f"/api/stylerec/products/{path}/").status_code == 404
    assert anon_api.get(f"/api/stylerec/products/{path}/reviews/").status_code == 404


def test_choosing_styles_refreshes_the_in_your_style_list(
    api, catalog, styles, django_capture_on_commit_callbacks
):
    from stylerec.models import get_product_model

    # The floral family (5-9) is retro, the navy family minimalist.
    for product in catalog:
        retro = product.pk in {p.pk for p in catalog[5:]}
        get_product_model().objects.filter(pk=product.pk).update(
            style_scores={"retro": 0.9} if retro else {"minimalist": 0.9}
        )
    with django_capture_on_commit_callbacks(execute=True):  # the cache is cleared once the choice commits
        api.put("/api/stylerec/me/styles/", {"styles": [{"slug": "minimalist", "weight": 1}]}, format="json")
    first = [i["product"]["id"] for i in api.get(RECS, {"block": "in_your_style", "k": 3}).json()["items"]]
    with django_capture_on_commit_callbacks(execute=True):
        api.put("/api/stylerec/me/styles/", {"styles": [{"slug": "retro", "weight": 1}]}, format="json")
    second = [i["product"]["id"] for i in api.get(RECS, {"block": "in_your_style", "k": 3}).json()["items"]]
    assert set(first) <= {p.pk for p in catalog[:5]}
    assert second and set(second) <= {p.pk for p in catalog[5:]}  # not the cached minimalist list
