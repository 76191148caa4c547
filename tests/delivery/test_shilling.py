"""Shilling (issue #13): purchases only from the store's order hook, throttles that a forged
``X-Forwarded-For`` cannot reset, sign-up and review limits, and the admin's burst purge."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from stylerec.models import Interaction, Review, get_product_model
from stylerec.services.orders import order_record
from stylerec.services.reviews import purchase_verified
from tests.factories import make_established, make_order, make_user

pytestmark = pytest.mark.django_db


def _rates(settings, **rates: str) -> None:
    """Throttle rates by scope name with dots as underscores: ``stylerec_events="2/min"``."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {name.replace("_", "."): rate for name, rate in rates.items()},
    }


# --- purchases come from the order hook only ----------------------------------------------------


def test_a_client_posted_purchase_is_refused_and_counts_for_nothing(api, customer, catalog):
    product = catalog[0]
    sales = product.sales_count
    response = api.post(
        "/api/stylerec/events/", {"kind": "purchase", "product_id": product.pk}, format="json"
    )
    assert response.status_code == 400
    assert "order" in response.json()["kind"][0]  # says where purchases come from
    assert not Interaction.objects.filter(kind="purchase").exists()
    product.refresh_from_db()
    assert product.sales_count == sales  # not a sale
    assert purchase_verified(user=customer, product=product) is False
    review = api.post(f"/api/stylerec/products/{product.pk}/reviews/", {"rating": 5, "text": "Great"})
    assert review.status_code == 201 and review.json()["verified_purchase"] is False


def test_a_purchase_row_without_an_order_verifies_nothing(customer, catalog):
    # e.g. one posted by a client before this release: only orders from the hook verify a review
    Interaction.objects.create(
        user=customer, product=catalog[0], kind="purchase", created_at=catalog[0].created_at
    )
    assert purchase_verified(user=customer, product=catalog[0]) is False
    make_order(catalog[0].pk, user=customer)
    assert purchase_verified(user=customer, product=catalog[0]) is True


def test_the_order_hook_records_each_order_once(customer, catalog):
    a, b = catalog[0], catalog[1]
    sales = {p.pk: p.sales_count for p in (a, b)}
    first = order_record(user=customer, product_ids=[a.pk, b.pk, a.pk], order_id="A-1")
    again = order_record(user=customer, product_ids=[a.pk, b.pk], order_id="A-1")  # the hook fired twice
    assert sorted(i.pk for i in first) == sorted(i.pk for i in again)
    assert Interaction.objects.filter(kind="purchase", order_id="A-1").count() == 2
    for product in (a, b):
        product.refresh_from_db()
        assert product.sales_count == sales[product.pk] + 1
    assert purchase_verified(user=customer, product=a) is True
    with pytest.raises(ValueError):
        order_record(user=customer, product_ids=[a.pk], order_id="")
    with pytest.raises(ValueError):
        order_record(user=None, session_key="", product_ids=[a.pk], order_id="A-2")  # nobody
    with pytest.raises(ValueError):
        order_record(user=customer, product_ids=[987654321], order_id="A-3")


def test_the_demo_shops_buy_now_places_an_order_server_side(client, customer, catalog):
    client.force_login(customer)
    product = catalog[2]
    response = client.post(reverse("shop:buy", args=[product.pk]), {"block": "similar", "profile_id": ""})
    assert response.status_code == 302
    purchase = Interaction.objects.get(kind="purchase")
    assert (purchase.user, purchase.product, purchase.block) == (customer, product, "similar")
    assert purchase.order_id.startswith("demo-")
    client.post(reverse("shop:review_create", args=[product.pk]), {"rating": 5, "text": "Lovely"})
    assert Review.objects.get().verified_purchase is True


# --- client addresses and throttles -------------------------------------------------------------


def test_a_forged_x_forwarded_for_does_not_reset_the_event_throttle(settings, catalog):
    _rates(settings, stylerec_events="3/min")
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    # A different product each time: viewing one product again at once is a reload, not an event.
    statuses = [
        client.post(
            "/api/stylerec/events/",
            {"kind": "view", "product_id": catalog[n].pk},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        ).status_code
        for n in range(5)
    ]
    assert statuses == [201, 201, 201, 429, 429]
    assert Interaction.objects.count() == 3
    event = {"kind": "view", "product_id": catalog[5].pk}
    assert "Too many events" in client.post("/api/stylerec/events/", event).json()["detail"]


def test_the_form_endpoints_share_the_event_throttle(settings, catalog):
    _rates(settings, stylerec_events="2/min")
    client = Client(REMOTE_ADDR="203.0.113.8")
    cart = {"kind": "cart", "product_id": catalog[0].pk}
    statuses = [
        client.post("/r/event/", cart, HTTP_X_FORWARDED_FOR=f"10.0.1.{n}").status_code for n in range(3)
    ]
    assert statuses == [302, 302, 429]
    throttled = client.post("/r/impressions/", {"block": "for_you", "product_ids": str(catalog[0].pk)})
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0


def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_saw(settings, catalog):
    from stylerec.throttling import client_ip

    class Request:
        def __init__(self, forwarded: str) -> None:
            self.META = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": forwarded}

    assert client_ip(Request("1.1.1.1, 198.51.100.4")) == "10.9.9.9"  # NUM_PROXIES unset: no header
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # the proxy appends what it saw; whatever the client wrote before that is ignored
    assert client_ip(Request("1.1.1.1, 198.51.100.4")) == "198.51.100.4"
    _rates(settings, stylerec_events="1/min")  # keeps NUM_PROXIES
    client = APIClient(REMOTE_ADDR="10.9.9.9")  # every request arrives from the proxy
    event = {"kind": "view", "product_id": catalog[0].pk}
    first = client.post("/api/stylerec/events/", event, HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.4")
    forged = client.post("/api/stylerec/events/", event, HTTP_X_FORWARDED_FOR="2.2.2.2, 198.51.100.4")
    other = client.post("/api/stylerec/events/", event, HTTP_X_FORWARDED_FOR="198.51.100.5")
    assert (first.status_code, forged.status_code, other.status_code) == (201, 429, 201)


def test_the_review_api_and_the_review_form_share_one_limit(settings, customer, catalog):
    _rates(settings, stylerec_reviews="2/hour")
    product = catalog[0]
    api = APIClient()
    api.force_authenticate(customer)
    url = f"/api/stylerec/products/{product.pk}/reviews/"
    assert api.post(url, {"rating": 5, "text": "One"}).status_code == 201
    shop = Client()
    shop.force_login(customer)
    form_url = reverse("shop:review_create", args=[product.pk])
    assert shop.post(form_url, {"rating": 5, "text": "Two"}).status_code == 302
    limited = shop.post(form_url, {"rating": 5, "text": "Three"})
    assert limited.status_code == 429 and b"Too many reviews" in limited.content
    refused = api.post(url, {"rating": 5, "text": "Four"})
    assert refused.status_code == 429 and "Too many reviews" in refused.json()["detail"]
    assert Review.objects.count() == 2
    other = make_user()  # the limit is per account
    api.force_authenticate(other)
    assert api.post(url, {"rating": 4, "text": "Mine"}).status_code == 201


def test_sign_ups_are_limited_per_address_whatever_x_forwarded_for_says(settings, db):
    _rates(settings, stylerec_signup="2/hour")
    url = reverse("shop:signup")
    statuses = []
    for n in range(4):
        client = Client(REMOTE_ADDR="203.0.113.9")
        password = "a-Long-pass-phrase-9"
        data = {"username": f"sybil{n}", "password1": password, "password2": password}
        statuses.append(client.post(url, data, HTTP_X_FORWARDED_FOR=f"10.0.2.{n}").status_code)
    assert statuses == [302, 302, 429, 429]
    assert Client(REMOTE_ADDR="203.0.113.9").get(url).status_code == 200  # the page itself stays open
    assert Client(REMOTE_ADDR="203.0.113.10").post(url, {}).status_code == 200  # another address: the form


# --- staff see and purge a burst -----------------------------------------------------------------


def test_staff_see_a_burst_and_purge_it(client, staff, catalog):
    target, honest = catalog[9], catalog[0]
    regular = make_user()
    make_established(regular)
    make_order(honest.pk, user=regular)
    sybils = [make_user(f"sybil{n}") for n in range(12)]
    for sybil in sybils:
        for product in (target, honest):
            Interaction.objects.create(user=sybil, product=product, kind="cart", created_at=target.created_at)
        Review.objects.create(product=target, user=sybil, rating=5, text="Best ever")
    client.force_login(staff)
    url = reverse("admin:stylerec_interaction_bursts")
    page = client.get(url, {"hours": 24, "min_customers": 10})
    assert page.status_code == 200
    bursts = [b.product_id for b in page.context["bursts"]]
    assert target.pk in bursts
    response = client.post(url, {"product_id": target.pk, "hours": 24, "min_customers": 10})
    assert response.status_code == 302
    assert not Interaction.objects.filter(user__in=sybils).exists()
    assert not Review.objects.filter(product=target).exists()
    assert not get_product_model().objects.get(pk=target.pk).review_count
    assert all(not u.is_active for u in type(staff).objects.filter(pk__in=[s.pk for s in sybils]))
    assert Interaction.objects.filter(user=regular).exists()  # the established customer stays
    assert target.pk not in [b.product_id for b in client.get(url, {"hours": 24}).context["bursts"]]


def test_customers_cannot_open_the_bursts_page(client, customer):
    client.force_login(customer)
    assert client.get(reverse("admin:stylerec_interaction_bursts")).status_code == 302  # to the login
