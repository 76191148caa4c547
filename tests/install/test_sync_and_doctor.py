"""An existing catalog brought up to date by one command, and the doctor that explains an empty
block (issue #14).

The catalog is what an existing store has when it adds stylerec: products saved without any
artifact (AUTO_COMPUTE off, as a bulk import leaves them), stock not tracked (None), and customers
with a past whose profiles were built before any product had a vector."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from celery import Celery
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from stylerec import diagnostics
from stylerec.diagnostics import INFO, OK, PROBLEM, WARNING
from stylerec.models import CustomerProfile, Interaction, get_product_model
from stylerec.services.profiles import customer_profile_refresh
from tests.factories import make_user
from tests.pipeline.conftest import make_product_with_image
from tests.pipeline.fakes import fake_stylerec

pytestmark = pytest.mark.django_db

K = 4


@pytest.fixture
def store(settings, tmp_path):
    """Ten products without vectors and with untracked stock; two customers with a history, one of
    them with a profile built from products that had no vectors yet."""
    settings.STYLEREC = fake_stylerec(str(tmp_path / "models.log"), AUTO_COMPUTE=False)
    products = [
        make_product_with_image((20 * i, 100, 200 - 10 * i), title=f"Linen shirt {i}", stock=None)
        for i in range(10)
    ]
    customers = [make_user(), make_user()]
    # Past orders, imported: customers of a month's standing (stylerec.trust counts them in full).
    ordered_at = timezone.now() - timedelta(days=40)
    for customer, bought in zip(customers, (products[:3], products[5:7]), strict=True):
        for product in bought:
            Interaction.objects.create(user=customer, product=product, kind="purchase", created_at=ordered_at)
    customer_profile_refresh(user_id=customers[0].pk)  # before any vector: an empty profile
    settings.STYLEREC = {**settings.STYLEREC, "AUTO_COMPUTE": True}
    return products, customers


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def levels(findings, topic: str) -> set[str]:
    return {f.level for f in findings if f.topic == topic}


def test_sync_brings_an_existing_catalog_up_to_date_and_the_block_fills(store, client):
    products, customers = store
    before = diagnostics.diagnose()
    assert levels(before, "vectors") == {PROBLEM}
    assert levels(before, "signals") == {WARNING}  # purchases, but popularity never computed
    with pytest.raises(CommandError, match="problem"):
        run("stylerec_doctor")

    out = run("stylerec_sync", "--no-progress")
    assert "[1/2]" in out and "[2/2]" in out
    catalog = get_product_model().objects.all()
    assert all(p.text_embedding is not None and p.image_embedding is not None for p in catalog)
    assert catalog.filter(popularity__gt=0).count() == 5
    # Both profiles now hold the vectors: the one built before them was rebuilt, the other built.
    for customer in customers:
        assert CustomerProfile.objects.get(user=customer).text_vector is not None

    after = diagnostics.diagnose()
    assert not [f for f in after if f.level == PROBLEM], after
    assert "No problem found." in run("stylerec_doctor")

    client.force_login(customers[0])
    answer = client.get(
        "/api/stylerec/recommendations/", {"block": "for_you", "product_id": products[0].pk, "k": K}
    ).json()
    assert len(answer["items"]) == K
    assert all(item["reasons"] for item in answer["items"])

    # Nothing left to do: a second sync computes and rebuilds nothing.
    again = run("stylerec_sync", "--no-progress")
    assert "product.text: 0 needed work" in again and "profiles: 0 customer profiles rebuilt" in again


def test_backfill_rebuilds_the_profiles_built_before_it(store):
    _, customers = store
    assert CustomerProfile.objects.get(user=customers[0]).text_vector is None
    out = run("stylerec_backfill", "--no-progress", "--kind", "product_text,product_image,profiles")
    assert "profiles: 2 customer profiles rebuilt" in out
    assert CustomerProfile.objects.get(user=customers[0]).text_vector is not None


def test_untracked_stock_is_shown_and_a_catalog_all_at_zero_is_explained(store, client):
    products, _ = store
    run("stylerec_sync", "--no-progress")
    viewed = products[0]
    url = "/api/stylerec/recommendations/"
    shown = client.get(url, {"block": "similar", "product_id": viewed.pk, "k": 20}).json()["items"]
    assert len(shown) == 9  # every other product: stock None is "not tracked", not "sold out"
    get_product_model().objects.filter(pk=products[1].pk).update(stock=0)
    cache.clear()  # the block was cached; update() sends no signal
    shown = client.get(url, {"block": "similar", "product_id": viewed.pk, "k": 20}).json()["items"]
    assert products[1].pk not in {item["product"]["id"] for item in shown}

    get_product_model().objects.update(stock=0)  # what the old migration's default did to a catalog
    (finding,) = [f for f in diagnostics.catalog_findings() if f.topic == "products"]
    assert finding.level == PROBLEM and "stock 0" in finding.message and "update(stock=None)" in finding.hint


def test_a_new_product_without_stock_or_price_is_not_tracked_rather_than_sold_out(settings):
    settings.STYLEREC = fake_stylerec(AUTO_COMPUTE=False)
    product = get_product_model().objects.create(title="Shawl", category="Scarf")
    assert product.stock is None and product.in_stock and product.price is None
    assert product.created_at is not None
    product.price = Decimal("12.00")
    product.full_clean()


def test_doctor_names_missing_styles_and_profile_as_information(store):
    findings = diagnostics.diagnose()
    assert levels(findings, "styles") == {INFO}
    assert levels(findings, "ranking profile") == {INFO}
    assert levels(findings, "migrations") == {OK}
    assert levels(findings, "tasks") == {INFO}  # the demo's Celery app, eager in tests


# --- who runs the tasks -------------------------------------------------------------------------


def test_doctor_without_a_celery_app_says_tasks_run_here(no_celery_app, tcp_attempts, settings):
    (finding,) = diagnostics.worker_findings()
    assert finding.level == INFO and "No Celery app" in finding.message
    settings.CELERY_BROKER_URL = "amqp://guest@127.0.0.1:5672//"
    (finding,) = diagnostics.worker_findings()
    assert finding.level == WARNING and "no Celery app reads it" in finding.message
    assert tcp_attempts == []


@pytest.fixture
def memory_app():
    """A Celery app on kombu's in-memory transport: a broker without a network, and no worker."""
    app = Celery("host", broker="memory://", set_as_current=False)
    app.conf.task_always_eager = False
    return app


def test_doctor_does_not_ping_celerys_default_broker(tcp_attempts):
    app = Celery("host", set_as_current=False)  # an app of the host's that names no broker
    app.conf.task_always_eager = False
    (finding,) = diagnostics.worker_findings(app=app)
    assert finding.level == PROBLEM and "names no broker" in finding.message
    assert tcp_attempts == []


def test_doctor_finds_no_worker_within_a_second(memory_app, tcp_attempts):
    (finding,) = diagnostics.worker_findings(app=memory_app, ping_timeout=0.5)
    assert finding.level == PROBLEM and "No Celery worker answered" in finding.message
    assert "-Q stylerec.cpu,stylerec.gpu" in finding.hint
    assert tcp_attempts == []


def test_doctor_finds_workers_that_skip_a_queue(memory_app, monkeypatch, tcp_attempts):
    monkeypatch.setattr(memory_app.control, "ping", lambda **kw: [{"celery@w1": {"ok": "pong"}}])

    class Inspect:
        def __init__(self, queues):
            self.queues = queues

        def active_queues(self):
            return {"celery@w1": [{"name": name} for name in self.queues]}

    monkeypatch.setattr(memory_app.control, "inspect", lambda **kw: Inspect(["stylerec.cpu"]))
    (finding,) = diagnostics.worker_findings(app=memory_app)
    assert finding.level == PROBLEM and "none consumes stylerec.gpu" in finding.message
    monkeypatch.setattr(memory_app.control, "inspect", lambda **kw: Inspect(["stylerec.cpu", "stylerec.gpu"]))
    (finding,) = diagnostics.worker_findings(app=memory_app)
    assert finding.level == OK
    assert tcp_attempts == []


class UntrainedSentiment:
    """A sentiment model that was never trained: it cannot even be constructed."""

    def __init__(self, **options):
        from stylerec.ml.base import ModelLoadError

        raise ModelLoadError("No trained sentiment head (test)")


def test_a_model_that_cannot_load_skips_its_kind_and_the_sync_goes_on(store, settings):
    from tests.factories import make_review

    products, customers = store
    make_review(products[0], user=customers[0], rating=5)
    settings.STYLEREC = {
        **settings.STYLEREC,
        "SENTIMENT_MODEL": "tests.install.test_sync_and_doctor.UntrainedSentiment",
        "SENTIMENT_MODEL_OPTIONS": {},
    }
    err = io.StringIO()
    out = io.StringIO()
    call_command("stylerec_sync", "--no-progress", stdout=out, stderr=err)
    assert "review: skipped, its model cannot be loaded: No trained sentiment head" in err.getvalue()
    assert "customer profiles rebuilt" in out.getvalue() and "Refreshed" in out.getvalue()
    assert get_product_model().objects.filter(popularity__gt=0).exists()
    (finding,) = diagnostics.review_findings()  # and the doctor says what to do about it
    assert finding.level == WARNING and "stylerec_train_sentiment" in finding.hint
