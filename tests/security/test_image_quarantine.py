"""Issue #13.5: a bad image saved through the shell or the admin never goes live.

The worker's image check is the ``product.image`` artifact: a decompression bomb, a truncated or an
undecodable file fails it, and its FAILED state quarantines the photo: blocks show the placeholder,
the API's image is null, the demo's pages show no picture, and the admin says why. Public API
responses show a status and a reason code, never the error text (staff see it).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from stylerec.models import ArtifactState, ArtifactStatus, get_product_model
from stylerec.services.artifacts import (
    IMAGE_CHECKING,
    IMAGE_QUARANTINED,
    PRODUCT_IMAGE,
    artifacts_compute,
    images_withheld,
)
from tests.factories import make_product, make_user
from tests.pipeline.fakes import fake_stylerec, png_bytes

pytestmark = pytest.mark.django_db


def _noise_png(size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 255, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


TRUNCATED = _noise_png()[:-300]
NOT_AN_IMAGE = b"\x89PNG\r\n\x1a\n this is not a picture"


def _upload(data: bytes, name: str = "photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


@pytest.fixture
def fakes(settings, monkeypatch):
    settings.STYLEREC = fake_stylerec(PRODUCT_URL_NAME="shop:product", MAX_IMAGE_PIXELS=1_000_000)
    # load_image keeps Pillow's own limit in step with the setting: give later tests theirs back.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


def _saved_and_checked(data: bytes, capture, **fields):
    """A product saved as the shell would, then checked by the (eager) worker."""
    with capture(execute=True):
        product = make_product(image=_upload(data), **fields)
    return get_product_model().objects.get(pk=product.pk)


def _block() -> str:
    request = RequestFactory().get("/")
    SessionMiddleware(lambda r: None).process_request(request)
    request.user = AnonymousUser()
    return Template('{% load stylerec %}{% recommendations "trending" k=10 %}').render(
        Context({"request": request})
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (TRUNCATED, "image_unreadable"),
        (NOT_AN_IMAGE, "image_unreadable"),
        (png_bytes((9, 9, 9), size=(1200, 1200)), "image_too_large"),  # over MAX_IMAGE_PIXELS: a bomb
    ],
    ids=["truncated", "not-an-image", "bomb"],
)
def test_a_bad_image_saved_through_the_shell_is_quarantined(
    fakes, django_capture_on_commit_callbacks, data, reason
):
    capture = django_capture_on_commit_callbacks
    good = _saved_and_checked(png_bytes((10, 120, 200)), capture, title="Good shirt", popularity=5.0)
    bad = _saved_and_checked(data, capture, title="Bad shirt", popularity=9.0)
    state = ArtifactState.objects.get(kind=PRODUCT_IMAGE, object_id=bad.pk)
    assert state.status == ArtifactStatus.FAILED and state.error.startswith("ImageInputError:")
    assert images_withheld([good, bad]) == {bad.pk: IMAGE_QUARANTINED}

    # Blocks: the bad product is listed, with the placeholder instead of its photo.
    html = _block()
    assert f'data-product="{bad.pk}"' in html and f'data-product="{good.pk}"' in html
    assert bad.image.url not in html and good.image.url in html
    assert html.count("stylerec-item__placeholder") == 1

    # API: image null for the bad one, everywhere a product appears.
    anon = APIClient()
    detail = anon.get(f"/api/stylerec/products/{bad.pk}/").json()
    assert detail["image"] is None
    listed = {p["id"]: p["image"] for p in anon.get("/api/stylerec/products/").json()["results"]}
    assert listed[bad.pk] is None and listed[good.pk].endswith(good.image.url)
    recommended = anon.get("/api/stylerec/recommendations/", {"block": "trending"}).json()
    images = {item["product"]["id"]: item["product"]["image"] for item in recommended["items"]}
    assert images[bad.pk] is None and images[good.pk]

    # The public sees a status and a reason code, never the error text; staff see the text.
    artifact = next(a for a in detail["artifacts"] if a["kind"] == PRODUCT_IMAGE)
    assert (artifact["status"], artifact["reason"], artifact["error"]) == ("failed", reason, "")
    assert "ImageInputError" not in str(detail) and str(bad.image.name) not in str(detail["artifacts"])
    customer = APIClient()
    customer.force_authenticate(make_user("alice"))
    assert customer.get(f"/api/stylerec/products/{bad.pk}/").json()["artifacts"][0]["error"] == ""
    staff = APIClient()
    staff.force_authenticate(make_user("merch", is_staff=True))
    staff_artifacts = staff.get(f"/api/stylerec/products/{bad.pk}/").json()["artifacts"]
    staff_image = next(a for a in staff_artifacts if a["kind"] == PRODUCT_IMAGE)
    assert staff_image["error"] == state.error and staff_image["reason"] == reason

    # The demo's product page shows no photo either.
    page = anon.get(f"/p/{bad.pk}/").content.decode()
    assert bad.image.url not in page


def test_a_bomb_uploaded_through_the_admin_is_quarantined_with_the_reason_shown(
    fakes, admin_client, django_capture_on_commit_callbacks
):
    bomb = png_bytes((9, 9, 9), size=(1200, 1200))  # 1.44 Mpx, 5 KB; the limit here is 1 Mpx
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:stylerec_product_add"),
            {
                "title": "Poster",
                "category": "Art",
                "price": "10",
                "image": _upload(bomb, "poster.png"),
                "is_active": "on",
            },
        )
    assert response.status_code == 302, response.content.decode()[-2000:]
    product = get_product_model().objects.get(title="Poster")
    state = ArtifactState.objects.get(kind=PRODUCT_IMAGE, object_id=product.pk)
    assert state.status == ArtifactStatus.FAILED and "limit" in state.error
    page = admin_client.get(reverse("admin:stylerec_product_change", args=[product.pk])).content.decode()
    assert "Quarantined" in page, page
    assert "than the limit of 1,000,000" in page
    listing = admin_client.get(reverse("admin:stylerec_product_changelist")).content.decode()
    assert re.search(r'title="ImageInputError: [^"]*limit of 1,000,000', listing)  # the badge's tooltip
    assert APIClient().get(f"/api/stylerec/products/{product.pk}/").json()["image"] is None


def test_a_new_file_waits_for_its_check_and_a_good_replacement_goes_live(
    fakes, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    product = _saved_and_checked(TRUNCATED, capture, title="Coat")
    assert images_withheld([product]) == {product.pk: IMAGE_QUARANTINED}
    with capture(execute=False):  # saved, its check queued but not run yet
        product.image = _upload(png_bytes((1, 2, 3)), "fixed.png")
        product.save()
    assert images_withheld([product]) == {product.pk: IMAGE_CHECKING}
    assert APIClient().get(f"/api/stylerec/products/{product.pk}/").json()["image"] is None
    artifacts_compute(kind=PRODUCT_IMAGE, ids=[product.pk])
    assert images_withheld([product]) == {}
    assert APIClient().get(f"/api/stylerec/products/{product.pk}/").json()["image"].endswith(".png")


def test_photos_never_checked_are_shown(settings):
    settings.STYLEREC = fake_stylerec(AUTO_COMPUTE=False)
    product = make_product(image=_upload(png_bytes((1, 2, 3))))
    assert not ArtifactState.objects.filter(object_id=product.pk).exists()
    assert images_withheld([product]) == {}
    assert APIClient().get(f"/api/stylerec/products/{product.pk}/").json()["image"].endswith(".png")


def test_a_model_error_is_not_a_bad_photo(fakes):
    product = make_product(image=_upload(png_bytes((1, 2, 3))))
    ArtifactState.objects.filter(kind=PRODUCT_IMAGE, object_id=product.pk).delete()
    from stylerec.services.artifacts import input_hash

    ArtifactState.objects.create(
        kind=PRODUCT_IMAGE,
        object_id=product.pk,
        status=ArtifactStatus.FAILED,
        model_version="m1",
        input_hash=input_hash(inputs=product.image.name, version="m1"),
        error="RuntimeError: CUDA error: an illegal memory access was encountered at /opt/torch/x.cu",
    )
    assert images_withheld([product]) == {}  # the file decoded; the model broke: the photo is shown
    body = APIClient().get(f"/api/stylerec/products/{product.pk}/").json()
    artifact = next(a for a in body["artifacts"] if a["kind"] == PRODUCT_IMAGE)
    assert (artifact["reason"], artifact["error"]) == ("processing_error", "")
    assert "/opt/torch" not in str(body)
