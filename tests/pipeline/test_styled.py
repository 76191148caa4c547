"""Styled images: on demand, for best sellers ahead of time, regenerated when stale (fake transfer)."""

from __future__ import annotations

import pytest
from PIL import Image

from stylerec.models import ArtifactStatus, StyledImage
from stylerec.services.styled import styled_image_for, styled_images_generate, styled_images_precompute
from tests.factories import make_style
from tests.pipeline.conftest import image_upload, make_product_with_image
from tests.pipeline.fakes import POISON, model_calls

pytestmark = pytest.mark.django_db


def test_styled_image_on_demand(model_log, django_capture_on_commit_callbacks):
    product = make_product_with_image((200, 40, 10))
    style = make_style("noir")
    with django_capture_on_commit_callbacks(execute=True):
        assert styled_image_for(product=product, style=style) is None  # asked for, made by the (eager) worker
    styled = styled_image_for(product=product, style=style)
    assert styled is not None and styled.status == ArtifactStatus.READY
    with styled.image.open("rb") as fh:
        image = Image.open(fh)
        image.load()
    assert max(image.size) == 64  # STYLED_IMAGE_SIZE, aspect kept (96x128 photo)
    red, green, blue = image.convert("RGB").getpixel((10, 10))
    assert red < 80 and green > 180 and blue > 200  # the fake transfer inverts (200, 40, 10)
    assert StyledImage.objects.count() == 1  # never every product in every style


def test_styled_image_regenerated_when_the_product_image_changes(
    model_log, django_capture_on_commit_callbacks
):
    product = make_product_with_image((10, 10, 10))
    style = make_style("noir")
    with django_capture_on_commit_callbacks(execute=True):
        styled_image_for(product=product, style=style)
    first = StyledImage.objects.get()
    old_name, storage = first.image.name, first.image.storage
    with django_capture_on_commit_callbacks(execute=True):
        product.image = image_upload((250, 250, 250), name="new.png")
        product.save()
    again = StyledImage.objects.get()
    assert again.status == ArtifactStatus.READY and again.input_hash != first.input_hash
    assert again.image.name != old_name and not storage.exists(old_name)
    assert styled_image_for(product=product, style=style) == again


def test_a_changed_style_serves_nothing_stale(model_log, django_capture_on_commit_callbacks):
    product = make_product_with_image()
    style = make_style("noir")
    with django_capture_on_commit_callbacks(execute=True):
        styled_image_for(product=product, style=style)
    with django_capture_on_commit_callbacks() as callbacks:
        style.transfer_strength = 0.3
        style.save()
    assert StyledImage.objects.get().status == ArtifactStatus.STALE
    assert styled_image_for(product=product, style=style) is None
    for callback in callbacks:
        callback()
    assert styled_image_for(product=product, style=style) is not None


def test_precompute_only_best_sellers(model_log):
    sellers = [make_product_with_image(sales_count=n) for n in (50, 40, 1)]
    make_style("noir")
    make_style("boho")
    ids = styled_images_precompute(top_n=2, enqueue=False)
    assert len(ids) == 4
    assert set(StyledImage.objects.values_list("product_id", flat=True)) == {sellers[0].pk, sellers[1].pk}
    report = styled_images_generate(ids=ids)
    assert len(report.done) == 4
    assert [n for _, _, n in model_calls(model_log, "transfer")] == [2, 2]  # one batch per style
    assert styled_images_precompute(top_n=2, enqueue=False) == []  # all up to date


def test_a_failed_transfer_is_recorded_and_not_requested_again(model_log, django_capture_on_commit_callbacks):
    product = make_product_with_image(POISON)
    style = make_style("noir")
    with django_capture_on_commit_callbacks(execute=True):
        styled_image_for(product=product, style=style)
    row = StyledImage.objects.get()
    assert row.status == ArtifactStatus.FAILED and "magenta" in row.error
    with django_capture_on_commit_callbacks() as callbacks:
        assert styled_image_for(product=product, style=style) is None
    assert callbacks == []
