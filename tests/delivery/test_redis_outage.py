"""Redis down (the cache and the broker): the store's pages and stylerec's API still answer, with
what they can; nothing on the request path reads or writes the cache unguarded."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from stylerec.models import Interaction, PendingTask, Review
from tests.factories import make_product, make_style
from tests.outage import redis_down

pytestmark = pytest.mark.django_db

RECS = "/api/stylerec/recommendations/"


@pytest.fixture(autouse=True)
def _outage_warnings_again(monkeypatch):
    """Each test sees the first warning of an outage (they are logged once a minute)."""
    from stylerec import cache

    monkeypatch.setattr(cache, "_outage_logged", {})
    cache._local.clear()  # and no count left over from another test


@pytest.fixture
def shop(catalog, customer):
    client = Client()
    client.force_login(customer)
    return client


def test_pages_and_reads_answer_200_while_redis_is_down(shop, api, anon_api, catalog, caplog):
    with redis_down(), caplog.at_level(logging.WARNING):
        assert shop.get(reverse("shop:catalog")).status_code == 200
        assert shop.get(reverse("shop:catalog"), {"q": "navy"}).status_code == 200
        assert shop.get(reverse("shop:product", args=[catalog[0].pk])).status_code == 200
        response = api.get(RECS, {"block": "similar", "product_id": catalog[0].pk, "k": 3})
        assert response.status_code == 200, response.content
        assert response.json()["items"]
        assert anon_api.get(RECS, {"block": "trending", "k": 3}).status_code == 200
    assert "cache" in caplog.text  # the outage is logged for staff


def test_events_are_recorded_while_redis_is_down(api, anon_api, catalog, django_capture_on_commit_callbacks):
    with redis_down(), django_capture_on_commit_callbacks(execute=True):
        for client in (api, anon_api):
            response = client.post(
                "/api/stylerec/events/", {"kind": "click", "product_id": catalog[0].pk}, format="json"
            )
            assert response.status_code == 201, response.content
    assert Interaction.objects.filter(kind="click").count() == 2
    # The profile refreshes that could not be sent wait for the sweep.
    assert PendingTask.objects.filter(name="stylerec.customer_profile_refresh").count() == 2


def test_reviews_are_posted_while_redis_is_down(shop, api, catalog, django_capture_on_commit_callbacks):
    with redis_down(), django_capture_on_commit_callbacks(execute=True):
        response = shop.post(
            reverse("shop:review_create", args=[catalog[0].pk]), {"rating": 4, "text": "Fits well"}
        )
        assert response.status_code == 302
        response = api.post(
            f"/api/stylerec/products/{catalog[1].pk}/reviews/", {"rating": 5, "text": "Lovely"}, format="json"
        )
        assert response.status_code == 201, response.content
    assert Review.objects.count() == 2
    pending = PendingTask.objects.filter(name="stylerec.product_aggregates_update")
    assert sorted(row.args[0] for row in pending) == [[catalog[0].pk], [catalog[1].pk]]


def test_throttles_still_limit_while_redis_is_down(api, catalog, settings, caplog):
    """The throttles fall back to a per-process count: looser (one count per web process), never
    off, and the fallback is logged."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"stylerec.events": "3/min"},
    }
    with redis_down(), caplog.at_level(logging.WARNING, logger="stylerec"):
        codes = [
            api.post(
                "/api/stylerec/events/", {"kind": "click", "product_id": catalog[0].pk}, format="json"
            ).status_code
            for _ in range(5)
        ]
    assert codes == [201, 201, 201, 429, 429]
    warned = [record for record in caplog.records if "throttle" in record.getMessage()]
    assert len(warned) == 1  # one warning a minute, not one per request


def test_styled_image_requests_are_debounced_while_redis_is_down(django_capture_on_commit_callbacks):
    from stylerec.models import StyledImage
    from stylerec.services.styled import styled_images_request

    product = make_product(image="products/a.jpg")
    style = make_style("retro")
    with redis_down(), django_capture_on_commit_callbacks(execute=True):
        first = styled_images_request(pairs=[(product.pk, style.pk)])
        again = styled_images_request(pairs=[(product.pk, style.pk)])
    assert len(first) == 1 and again == []  # a second view within the minute asks for nothing
    assert StyledImage.objects.get().status == "pending"  # the sweep sends it once Redis is back


def test_erasure_answers_while_redis_is_down(api, customer, catalog, django_capture_on_commit_callbacks):
    # Erasure recomputes the reviewed products' ratings at once, which reads the cached prior.
    Review.objects.create(product=catalog[0], user=customer, rating=4, text="ok")
    Review.objects.create(product=catalog[0], rating=5, text="Lovely", sentiment_score=0.8)  # stays
    with redis_down(), django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/stylerec/me/erase/", {"confirm": True}, format="json")
    assert response.status_code in (200, 204), response.content
    assert not Review.objects.filter(user=customer).exists()


def test_a_new_customer_signs_up_and_shops_while_redis_is_down(catalog, django_capture_on_commit_callbacks):
    client = Client()
    password = "a-long-pass-phrase-42"
    with redis_down(), django_capture_on_commit_callbacks(execute=True):
        assert client.get(reverse("shop:signup")).status_code == 200
        response = client.post(
            reverse("shop:signup"), {"username": "carol", "password1": password, "password2": password}
        )
        assert response.status_code == 302, response.content  # signed up (the throttle counted it)
        assert client.get(reverse("shop:styles")).status_code == 200
        assert client.post(reverse("shop:cart_add", args=[catalog[0].pk])).status_code == 302
        assert client.get(reverse("shop:cart")).status_code == 200
        assert client.post(reverse("shop:checkout")).status_code == 302
