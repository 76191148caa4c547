"""Identity and privacy (issue #13): no stored value can sign anybody in; a customer can export and
erase what stylerec holds about them; deleting an account takes its reviews (and their weight in
ratings) with it; raw events expire."""

from __future__ import annotations

import datetime as dt
import importlib
import json

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from stylerec.customers import SESSION_FIELD, is_pseudonym, session_pseudonym
from stylerec.models import (
    CustomerLink,
    CustomerProfile,
    Interaction,
    Review,
    StylePreference,
    get_product_model,
)
from stylerec.services.aggregates import products_sentiment_aggregate
from stylerec.services.events import interaction_record
from stylerec.services.reviews import review_create
from tests.factories import make_style

pytestmark = pytest.mark.django_db

EXPORT = "/api/stylerec/me/export/"
ERASE = "/api/stylerec/me/erase/"
PASSWORD = "pass-word-123"  # tests.factories.make_user's
CUSTOMER_TABLES = (Interaction, StylePreference, CustomerProfile, CustomerLink)


def _cookie(client: Client) -> str:
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def _browse_then_sign_in(client: Client, *, user, products, style: str = "retro") -> tuple[str, str]:
    """An anonymous visit (a product page, a style choice), sign-in through the store's login
    form, then signed-in events from every entry point: the product page, a block's click link,
    the API and the styles API. Returns (the anonymous session cookie, the live signed-in one)."""
    assert client.get(f"/p/{products[0].pk}/").status_code == 200
    assert client.post("/styles/", {f"style_{style}": "1"}).status_code == 302
    anonymous_cookie = _cookie(client)
    response = client.post("/login/", {"username": user.get_username(), "password": PASSWORD})
    assert response.status_code == 302, response.content
    assert client.get(f"/p/{products[1].pk}/").status_code == 200
    click = client.get(f"/r/similar/{products[2].pk}/?pos=1", HTTP_SEC_FETCH_SITE="same-origin")
    assert click.status_code == 302
    event = client.post(
        "/api/stylerec/events/",
        {"kind": "cart", "product_id": products[2].pk},
        content_type="application/json",
    )
    assert event.status_code == 201, event.content
    styles = client.put(
        "/api/stylerec/me/styles/",
        {"styles": [{"slug": style, "weight": 0.7}]},
        content_type="application/json",
    )
    assert styles.status_code == 200, styles.content
    return anonymous_cookie, _cookie(client)


def _stored_rows() -> list[dict]:
    return [row for model in CUSTOMER_TABLES for row in model.objects.values()]


def _signed_in_as(cookie_value: str):
    """Who a request carrying ``cookie_value`` as its session cookie is signed in as (None: nobody)."""
    stranger = Client()
    stranger.cookies[django_settings.SESSION_COOKIE_NAME] = cookie_value
    return stranger.get(EXPORT).json()["customer"]["user_id"]


# --- identity: the session hijack ---------------------------------------------------------------


def test_no_session_cookie_is_stored_or_shown_and_stored_keys_sign_nobody_in(catalog, customer, staff):
    make_style("retro")
    client = Client()
    anonymous_cookie, live_cookie = _browse_then_sign_in(client, user=customer, products=catalog)
    assert anonymous_cookie != live_cookie  # Django gives the session a new key at sign-in

    # The customer's events are there: anonymous ones under a pseudonym, signed-in ones under the
    # user alone (no session value at all).
    signed_in = Interaction.objects.filter(user=customer)
    assert {e.kind for e in signed_in} >= {"view", "click", "cart"}
    assert set(signed_in.values_list("session_key", flat=True)) == {""}
    anonymous = Interaction.objects.filter(user=None)
    assert anonymous.count() == 1 and is_pseudonym(anonymous.get().session_key)

    # Neither cookie value is anywhere in stylerec's tables ...
    stored = json.dumps(_stored_rows(), default=str)
    assert live_cookie not in stored and anonymous_cookie not in stored
    # ... nor on the admin pages that list customers' rows.
    admin = Client()
    admin.force_login(staff)
    pages = [
        "/admin/stylerec/interaction/",
        "/admin/stylerec/stylepreference/",
        "/admin/stylerec/customerprofile/",
        f"/admin/stylerec/interaction/{signed_in.first().pk}/change/",
        f"/admin/stylerec/interaction/{anonymous.get().pk}/change/",
    ]
    for page in pages:
        response = admin.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert live_cookie not in html and anonymous_cookie not in html, page

    # The live cookie signs its holder in (what the attack needed) ...
    assert _signed_in_as(live_cookie) == customer.pk
    # ... but no value stylerec stores does.
    stored_keys = {row["session_key"] for row in _stored_rows() if row.get("session_key")}
    assert stored_keys  # the anonymous visit's pseudonym, at least
    for key in stored_keys:
        assert _signed_in_as(key) is None


def test_pseudonym_is_a_keyed_hash_that_fits_the_column():
    key = "abcdefghijklmnopqrstuvwxyz012345"
    pseudonym = session_pseudonym(key)
    assert len(pseudonym) == 40 and is_pseudonym(pseudonym) and key not in pseudonym
    assert session_pseudonym(key) == pseudonym and session_pseudonym("another") != pseudonym
    with override_settings(SECRET_KEY="another-secret-key-of-more-than-32-characters"):
        assert session_pseudonym(key) != pseudonym  # unguessable without the secret
    assert session_pseudonym("") == "" and not is_pseudonym(key)


def test_an_anonymous_visitor_keeps_one_pseudonym_and_a_host_passing_a_user_stores_no_session(
    catalog, customer
):
    client = Client()
    client.get(f"/p/{catalog[0].pk}/")
    client.get(f"/p/{catalog[1].pk}/")
    keys = set(Interaction.objects.values_list("session_key", flat=True))
    assert keys == {client.session[SESSION_FIELD]} and _cookie(client) not in keys
    # A host that calls the service with a user and a session value: the value is dropped.
    event = interaction_record(kind="view", user=customer, session_key="whatever", product_id=catalog[2].pk)
    assert event.session_key == ""


def test_migration_pseudonymises_stored_session_keys(catalog, customer):
    migration = importlib.import_module("stylerec.migrations.0003_privacy")
    raw = "rawsessionkey0123456789abcdefghi"
    Interaction.objects.create(kind="view", session_key=raw, product=catalog[0], created_at=timezone.now())
    Interaction.objects.create(kind="view", user=customer, session_key="live-key", created_at=timezone.now())
    StylePreference.objects.create(session_key=raw, style=make_style("retro"), weight=1.0)
    CustomerProfile.objects.create(session_key=raw)
    already = session_pseudonym("other")
    Interaction.objects.create(kind="view", session_key=already, created_at=timezone.now())

    class SchemaEditor:
        pass

    editor = SchemaEditor()
    editor.connection = connection
    migration.session_keys_pseudonymise(apps, editor)
    assert Interaction.objects.get(user=customer).session_key == ""
    for model in (Interaction, StylePreference, CustomerProfile):
        assert model.objects.filter(user=None, session_key=session_pseudonym(raw)).exists()
        assert not model.objects.filter(session_key=raw).exists()
    assert Interaction.objects.filter(session_key=already).exists()  # not hashed twice


# --- export ----------------------------------------------------------------------------------


def test_export_holds_the_customers_own_events_reviews_and_styles_and_nothing_of_another(
    catalog, customer, other_customer
):
    make_style("retro"), make_style("boho")
    client = Client()
    _browse_then_sign_in(client, user=customer, products=catalog)
    review_create(product=catalog[1], user=customer, rating=4, text="Lovely navy shirt, mine.")
    # Somebody else, signed in and anonymous, on other products.
    other = Client()
    _browse_then_sign_in(other, user=other_customer, products=catalog[7:], style="boho")
    review_create(product=catalog[8], user=other_customer, rating=1, text="Somebody else's secret words")
    stranger = Client()
    stranger.get(f"/p/{catalog[9].pk}/")

    response = client.get(EXPORT)
    assert response.status_code == 200
    body = response.json()
    mine = {p.pk for p in catalog[:3]}
    assert body["customer"]["user_id"] == customer.pk
    assert body["customer"]["anonymous_keys"] == [client.session[SESSION_FIELD]]
    events = body["events"]
    assert {(e["owner"], e["kind"], e["product_id"]) for e in events} >= {
        ("session", "view", catalog[0].pk),  # before signing in
        ("account", "view", catalog[1].pk),
        ("account", "click", catalog[2].pk),
        ("account", "cart", catalog[2].pk),
    }
    assert {e["product_id"] for e in events} <= mine
    assert [r["text"] for r in body["reviews"]] == ["Lovely navy shirt, mine."]
    assert {(s["owner"], s["style"], s["source"]) for s in body["styles"]} >= {
        ("session", "retro", "explicit"),
        ("account", "retro", "explicit"),
    }
    assert {s["style"] for s in body["styles"]} == {"retro"}
    assert body["style_weights"]["retro"] == pytest.approx(0.7)
    assert {p["owner"] for p in body["profiles"]} == {"account", "session"}
    assert all(p["text_vector"] is None or p["text_vector"]["dimensions"] == 384 for p in body["profiles"])
    assert body["event_retention_days"] == 365
    text = response.content.decode()
    assert "secret words" not in text and "boho" not in text
    assert other.session[SESSION_FIELD] not in text and stranger.session[SESSION_FIELD] not in text

    # An anonymous visitor gets their session's data; a visitor without a session gets nothing.
    anonymous = stranger.get(EXPORT).json()
    assert anonymous["customer"] == {"user_id": None, "anonymous_keys": [stranger.session[SESSION_FIELD]]}
    assert [e["product_id"] for e in anonymous["events"]] == [catalog[9].pk]
    assert Client().get(EXPORT).json()["events"] == []


# --- erasure ---------------------------------------------------------------------------------


def _rated_by_two(catalog, customer, other_customer):
    """catalog[0] reviewed by the customer (5★, twice: one voice) and by another customer (2★)."""
    product = catalog[0]
    review_create(product=product, user=customer, rating=5, text="Love it")
    review_create(product=product, user=customer, rating=5, text="Still love it")
    review_create(product=product, user=other_customer, rating=2, text="Meh")
    products_sentiment_aggregate(product_ids=[product.pk])
    product.refresh_from_db()
    assert (product.rating_average, product.review_count) == (3.5, 2)
    return product


def test_erase_removes_all_of_it_pre_sign_in_session_included_and_recomputes_the_rating(
    catalog, customer, other_customer, django_capture_on_commit_callbacks
):
    make_style("retro")
    client = Client()
    _browse_then_sign_in(client, user=customer, products=catalog)
    pre_sign_in = client.session[SESSION_FIELD]
    assert Interaction.objects.filter(user=None, session_key=pre_sign_in).exists()
    assert CustomerLink.objects.filter(user=customer, session_key=pre_sign_in).exists()
    product = _rated_by_two(catalog, customer, other_customer)
    Interaction.objects.create(kind="view", user=other_customer, product=product, created_at=timezone.now())
    cookie_before = _cookie(client)

    with django_capture_on_commit_callbacks(execute=True):  # what would follow the erasure runs too
        response = client.post(ERASE)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["products_recomputed"] == [product.pk]
    assert body["erased"]["reviews"] == 2 and body["erased"]["events"] >= 4

    mine = {"user": customer}
    pre = {"user": None, "session_key": pre_sign_in}
    for model in (Interaction, StylePreference, CustomerProfile):
        assert not model.objects.filter(**mine).exists(), model
        assert not model.objects.filter(**pre).exists(), model
    assert not Review.objects.filter(user=customer).exists()
    assert not CustomerLink.objects.exists()
    product.refresh_from_db()
    assert (product.rating_average, product.review_count) == (2.0, 1)  # as if never reviewed
    # Others keep theirs; the account stays; the session has a new key and no pseudonym.
    assert Review.objects.filter(user=other_customer).count() == 1
    assert Interaction.objects.filter(user=other_customer).count() == 1
    customer.refresh_from_db()
    assert _cookie(client) != cookie_before and SESSION_FIELD not in client.session
    after = client.get(EXPORT).json()
    assert after["customer"]["user_id"] == customer.pk
    assert after["events"] == after["reviews"] == after["styles"] == after["profiles"] == []


def test_an_anonymous_visitor_erases_their_session(catalog):
    make_style("retro")
    client, other = Client(), Client()
    client.get(f"/p/{catalog[0].pk}/")
    client.post("/styles/", {"style_retro": "1"})
    other.get(f"/p/{catalog[1].pk}/")
    key = client.session[SESSION_FIELD]
    assert client.post(ERASE).status_code == 200
    for model in (Interaction, StylePreference, CustomerProfile):
        assert not model.objects.filter(session_key=key).exists()
    assert Interaction.objects.filter(session_key=other.session[SESSION_FIELD]).count() == 1


def test_deleting_an_account_takes_its_reviews_out_of_the_rating(
    catalog, customer, other_customer, django_capture_on_commit_callbacks
):
    make_style("retro")
    _browse_then_sign_in(Client(), user=customer, products=catalog)
    pre_sign_in = CustomerLink.objects.get(user=customer).session_key
    product = _rated_by_two(catalog, customer, other_customer)
    user_id = customer.pk

    with django_capture_on_commit_callbacks(execute=True):  # queued refreshes and aggregates run
        customer.delete()

    product.refresh_from_db()
    # Not 3 authorless 5★ reviews counted as 3 more customers: (5 + 5 + 2) / 3 = 4.0 on 3.
    assert (product.rating_average, product.review_count) == (2.0, 1)
    assert list(Review.objects.values_list("user_id", flat=True)) == [other_customer.pk]
    for model in (Interaction, StylePreference, CustomerProfile):
        assert not model.objects.filter(user_id=user_id).exists(), model
        assert not model.objects.filter(user=None, session_key=pre_sign_in).exists(), model


# --- staff command ---------------------------------------------------------------------------


def test_erase_user_command_by_username_and_by_id(catalog, customer, other_customer):
    product = _rated_by_two(catalog, customer, other_customer)
    Interaction.objects.create(kind="view", user=customer, product=product, created_at=timezone.now())
    out = _call("stylerec_erase_user", customer.get_username())
    assert "2 reviews" in out and "1 events" in out and repr(customer.get_username()) in out
    assert not Review.objects.filter(user=customer).exists()
    assert not Interaction.objects.filter(user=customer).exists()
    product.refresh_from_db()
    assert (product.rating_average, product.review_count) == (2.0, 1)
    assert get_product_model().objects.filter(pk=product.pk).exists()

    by_id = _call("stylerec_erase_user", str(other_customer.pk))
    assert "1 reviews" in by_id and not Review.objects.exists()
    with pytest.raises(CommandError, match="No user"):
        call_command("stylerec_erase_user", "nobody-at-all")


def _call(*args: str) -> str:
    import io

    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- retention -------------------------------------------------------------------------------


def test_retention_task_deletes_only_events_older_than_the_setting(settings, catalog, customer):
    from stylerec.tasks import events_prune

    now = timezone.now()

    def event(days_ago: float, **owner):
        return Interaction.objects.create(
            kind="view", product=catalog[0], created_at=now - dt.timedelta(days=days_ago), **owner
        )

    old_user, old_anon = event(400, user=customer), event(366, session_key=session_pseudonym("a"))
    kept = [event(364, user=customer), event(10, session_key=session_pseudonym("a")), event(0, user=customer)]
    stale_profile = CustomerProfile.objects.create(session_key=session_pseudonym("gone"))
    CustomerProfile.objects.filter(pk=stale_profile.pk).update(updated_at=now - dt.timedelta(days=400))
    fresh_profile = CustomerProfile.objects.create(session_key=session_pseudonym("a"))

    result = events_prune()
    assert result["events"] == 2 and result["profiles"] == 1
    assert set(Interaction.objects.values_list("pk", flat=True)) == {e.pk for e in kept}
    assert not Interaction.objects.filter(pk__in=[old_user.pk, old_anon.pk]).exists()
    assert set(CustomerProfile.objects.values_list("pk", flat=True)) == {fresh_profile.pk}

    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "EVENT_RETENTION_DAYS": 5}
    assert events_prune()["events"] == 2  # the 364- and 10-day-old ones
    settings.STYLEREC = {**settings.STYLEREC, "EVENT_RETENTION_DAYS": None}  # keep forever
    Interaction.objects.update(created_at=now - dt.timedelta(days=5000))
    assert events_prune()["events"] == 0 and Interaction.objects.count() == 1


def test_retention_is_scheduled_and_its_setting_checked():
    from django.core.checks import run_checks

    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert any(entry["task"] == "stylerec.events_prune" for entry in schedule.values())

    def errors(value):
        with override_settings(STYLEREC={"EVENT_RETENTION_DAYS": value}):
            return [m.id for m in run_checks() if m.id.startswith("stylerec.") and m.level >= 40]

    assert errors(None) == [] and errors(30) == []
    assert errors(0) == ["stylerec.E010"]
    assert errors("365") == ["stylerec.E009"]
