"""Click links, form events and impression beacons: plain Django views, no JavaScript needed."""

from __future__ import annotations

import pytest

from stylerec.models import Interaction, RankingProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(db):
    return RankingProfile.objects.create(name="baseline", is_active=True)


def test_click_link_records_the_click_and_lands_on_the_product_page(client, customer, catalog, profile):
    client.force_login(customer)
    product = catalog[3]
    response = client.get(f"/r/for_you/{product.pk}/?p={profile.pk}&pos=2", HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code == 302
    assert response["Location"] == f"/p/{product.pk}/?block=for_you&p={profile.pk}"
    click = Interaction.objects.get(kind="click")
    assert (click.user, click.product, click.block, click.profile, click.position) == (
        customer,
        product,
        "for_you",
        profile,
        2,
    )


def test_click_link_survives_junk_parameters(client, catalog):
    response = client.get(f"/r/similar/{catalog[0].pk}/?p=abc&pos=-4", HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code == 302
    click = Interaction.objects.get()
    assert click.profile is None and click.position is None and click.session_key  # anonymous: the session


def test_click_on_an_unknown_block_or_product_records_nothing(client, catalog):
    same_site = {"HTTP_SEC_FETCH_SITE": "same-origin"}
    assert client.get(f"/r/homepage/{catalog[0].pk}/", **same_site).status_code == 302
    assert client.get("/r/similar/987654/", **same_site).status_code == 302
    assert client.get("/r/similar/99999999999999999999999/").status_code == 404
    assert not Interaction.objects.exists()


def test_add_to_cart_form_records_and_redirects_back(client, customer, catalog, profile):
    client.force_login(customer)
    product = catalog[1]
    response = client.post(
        "/r/event/",
        {
            "kind": "cart",
            "product_id": product.pk,
            "block": "similar",
            "profile_id": profile.pk,
            "next": f"/p/{product.pk}/",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/p/{product.pk}/"
    event = Interaction.objects.get()
    assert (event.kind, event.user, event.block, event.profile) == ("cart", customer, "similar", profile)


def test_a_purchase_cannot_be_posted_as_an_event(client, catalog):
    # Purchases come only from the store's order hook (services.orders.order_record).
    response = client.post(
        "/r/event/", {"kind": "purchase", "product_id": catalog[0].pk, "block": "", "profile_id": ""}
    )
    assert response.status_code == 400 and b"order" in response.content
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "refund", "product_id": "PID"},
        {"kind": "cart", "product_id": "x"},
        {"kind": "cart", "product_id": "987654"},
        {"kind": "cart", "product_id": "PID", "block": "homepage"},
    ],
)
def test_bad_form_events_are_400(client, catalog, data):
    data = {k: (str(catalog[0].pk) if v == "PID" else v) for k, v in data.items()}
    assert client.post("/r/event/", data).status_code == 400
    assert not Interaction.objects.exists()


def test_event_form_never_redirects_off_site(client, catalog):
    response = client.post(
        "/r/event/", {"kind": "cart", "product_id": catalog[0].pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_event_form_needs_post_and_csrf(catalog):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.get("/r/event/").status_code == 405
    assert strict.post("/r/event/", {"kind": "cart", "product_id": catalog[0].pk}).status_code == 403


def test_impression_beacon_records_each_item_in_order(client, catalog, profile):
    ids = [catalog[4].pk, catalog[2].pk, 987654, catalog[7].pk]
    response = client.post(
        "/r/impressions/",
        {"block": "trending", "profile_id": profile.pk, "product_ids": ",".join(map(str, ids))},
    )
    assert response.status_code == 204
    seen = list(
        Interaction.objects.filter(kind="impression")
        .order_by("position")
        .values_list("product_id", "position")
    )
    assert seen == [(catalog[4].pk, 1), (catalog[2].pk, 2), (catalog[7].pk, 4)]
    assert client.post("/r/impressions/", {"block": "nope", "product_ids": "1"}).status_code == 400


def test_the_product_page_says_what_its_reviews_say_about_the_fit(client, catalog):
    from stylerec.models import Review
    from stylerec.services.aggregates import product_sentiment_aggregate
    from tests.factories import make_review

    product = catalog[0]
    for _ in range(3):
        make_review(product, text="Lovely, but it runs small.")
    # What the review pipeline stores for "runs small" (stylerec.ml.preferences): a sizing mention.
    Review.objects.filter(product=product).update(
        preferences=[{"kind": "sizing", "key": "small", "polarity": -1}]
    )
    product_sentiment_aggregate(product_id=product.pk)  # the worker's step after reading reviews
    html = client.get(f"/p/{product.pk}/").content.decode()
    assert "fit: runs small (3 reviews)" in html
    other = client.get(f"/p/{catalog[1].pk}/").content.decode()
    # its own reviews say nothing (a block on it may still warn of the first product's fit: that is
    # the block's item note, tests/delivery/test_aspect_notes.py)
    assert "stylerec-aspects" not in other
