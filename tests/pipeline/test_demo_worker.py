"""The demo's set-up with no broker installed: a real Celery worker on kombu's filesystem transport
beside the web process (config/settings/base.py), as `make demo` runs it. A page view only asks;
the worker draws the styled image; the next view shows it. No model ever runs in the web process.
"""

from __future__ import annotations

import os
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from stylerec.customers import Owner
from stylerec.models import StyledImage
from stylerec.services.preferences import style_preferences_set
from tests.factories import make_product, make_style
from tests.pipeline.conftest import image_upload, make_product_with_image
from tests.pipeline.fakes import fake_stylerec, model_calls
from tests.pipeline.test_worker import Broker, _pools_reset, _use_broker, celery_worker, ready, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def filesystem_broker(settings, tmp_path):
    """This process and the worker exchange messages as files in a per-test folder."""

    folders = {name: tmp_path / "broker" / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    transport = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "polling_interval": 0.1,
    }
    settings.STYLEREC = fake_stylerec(
        log_file=str(tmp_path / "model-calls.log"), GPU_QUEUE="stylerec.gpu", CPU_QUEUE="stylerec.cpu"
    )
    restore = _use_broker("filesystem://", transport)
    try:
        yield Broker(url="filesystem://", transport=transport, stylerec=settings.STYLEREC, tmp=tmp_path)
    finally:
        restore()
        _pools_reset()


def styled_urls(html: str) -> list[str]:
    return re.findall(r'data-styled="([^"]+)"', html)


def test_a_page_view_asks_the_worker_for_styled_images_and_the_next_view_shows_them(filesystem_broker):
    style = make_style("noir")
    with celery_worker(filesystem_broker, name="demo"):
        products = [make_product_with_image((40 * i, 120, 90), title=f"Coat {i}") for i in range(1, 5)]
        for product in products:
            wait_for(lambda p=product: ready(p.pk), f"the artifacts of {product.title}", filesystem_broker)
        user = get_user_model().objects.create_user("noir-fan", password="pw-123456789")
        style_preferences_set(owner=Owner(user_id=user.pk), weights={style.slug: 1.0})
        client = Client()
        client.force_login(user)
        page = reverse("shop:product", args=[products[0].pk])

        first = client.get(page)
        assert first.status_code == 200
        # The blocks show the photos and ask the worker for the styled ones (with these fast fakes
        # the worker may already have drawn some for a later block of the same page).
        assert 'class="stylerec-item' in first.content.decode()
        assert StyledImage.objects.filter(style=style).exists()

        wait_for(
            lambda: StyledImage.objects.filter(style=style, status="ready").exists(),
            "the worker to draw a styled image",
            filesystem_broker,
        )
        second = client.get(page)
        assert styled_urls(second.content.decode())  # the next view shows what the worker made
    calls = model_calls(filesystem_broker.stylerec["STYLE_TRANSFER_OPTIONS"]["log_file"])
    assert calls and os.getpid() not in {pid for pid, _, _ in calls}  # drawn by the worker only


class ExplodingModel:
    """Every model of this test: building one fails loudly."""

    def __init__(self, **options: object) -> None:
        raise AssertionError("a model was loaded in the web process")


EXPLODING = {
    setting: "tests.pipeline.test_demo_worker.ExplodingModel"
    for setting in (
        "TEXT_ENCODER",
        "SENTIMENT_MODEL",
        "PREFERENCE_EXTRACTOR",
        "IMAGE_ENCODER",
        "STYLE_SCORER",
        "STYLE_TRANSFER",
    )
}


def test_pages_and_api_never_call_a_model(filesystem_broker, settings):
    """With no worker running and every model raising, the product page, the catalog with a search,
    a review, an event and the API still answer with what is stored; the work waits in the queue."""
    settings.STYLEREC = {**filesystem_broker.stylerec, **EXPLODING}
    style = make_style("noir")
    # Stored vectors, as a worker would have left them; the saves queue their artifact work.
    products = [make_product(direction=i, title=f"Noir coat {i}", image=image_upload()) for i in range(6)]
    user = get_user_model().objects.create_user("careful", password="pw-123456789")
    style_preferences_set(owner=Owner(user_id=user.pk), weights={style.slug: 1.0})
    client = Client()
    client.force_login(user)

    page = client.get(reverse("shop:product", args=[products[0].pk]))
    assert page.status_code == 200 and 'class="stylerec-item' in page.content.decode()
    assert client.get(reverse("shop:catalog") + "?q=noir+coat").status_code == 200
    review = client.post(
        reverse("shop:review_create", args=[products[1].pk]), {"rating": 5, "text": "Lovely coat"}
    )
    assert review.status_code == 302
    api = client.get("/api/stylerec/recommendations/", {"block": "similar", "product_id": products[0].pk})
    assert api.status_code == 200 and api.json()["items"]
    queued = list((filesystem_broker.tmp / "broker" / "queue").iterdir())
    assert queued  # styled images, the review's artifacts and the profile refresh wait for a worker
