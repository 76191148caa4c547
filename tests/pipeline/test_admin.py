"""The pipeline in the admin: badge, status filter, recompute action, status page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stylerec.models import ArtifactState, ArtifactStatus, get_product_model
from stylerec.services.artifacts import PRODUCT_IMAGE, PRODUCT_TEXT
from tests.factories import make_product

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:stylerec_product_changelist"


@pytest.fixture
def products(model_log):
    ok, broken = make_product(title="Fine shirt"), make_product(title="Broken shirt")
    ArtifactState.objects.all().delete()
    ArtifactState.objects.create(kind=PRODUCT_TEXT, object_id=ok.pk, status=ArtifactStatus.READY)
    ArtifactState.objects.create(kind=PRODUCT_TEXT, object_id=broken.pk, status=ArtifactStatus.READY)
    ArtifactState.objects.create(
        kind=PRODUCT_IMAGE,
        object_id=broken.pk,
        status=ArtifactStatus.FAILED,
        error="ImageInputError: truncated",
    )
    return ok, broken


def test_changelist_shows_the_worst_status_and_filters_by_it(admin_client, products):
    ok, broken = products
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "ImageInputError: truncated" in page and ">failed<" in page and ">ready<" in page
    filtered = admin_client.get(reverse(CHANGELIST), {"artifact_status": "failed"}).content.decode()
    assert "Broken shirt" in filtered and "Fine shirt" not in filtered


def test_recompute_action_recomputes_even_failed_artifacts(
    admin_client, products, django_capture_on_commit_callbacks
):
    ok, broken = products
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse(CHANGELIST),
            {"action": "recompute_artifacts", "_selected_action": [broken.pk]},
            follow=True,
        )
    assert "Queued 1 products" in response.content.decode()
    rows = ArtifactState.objects.filter(object_id=broken.pk)
    assert set(rows.values_list("status", flat=True)) == {ArtifactStatus.READY}  # no image: ready, empty
    assert get_product_model().objects.get(pk=broken.pk).text_embedding is not None
    assert get_product_model().objects.get(pk=ok.pk).text_embedding is None  # not selected


def test_status_page_counts_per_kind(admin_client, products, client):
    url = reverse("admin:stylerec_artifactstate_status")
    response = admin_client.get(url)
    rows = {row["kind"]: row for row in response.context["rows"]}
    assert rows[PRODUCT_IMAGE]["failed"] == 1 and rows[PRODUCT_IMAGE]["missing"] == 1
    assert rows[PRODUCT_TEXT]["ready"] == 2
    assert client.get(url).status_code == 302  # staff only
