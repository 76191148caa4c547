"""Issue #13.5: a batch of small PNGs that decode to huge images must not take a worker's memory.

Eight 4.9 KB PNGs of 6300x6300 (each under MAX_IMAGE_PIXELS) in one batch took a worker from 68 MiB
to 1.66 GiB: every image of the batch was decoded before the model call. Now the engine opens a
batch's images (headers only), then decodes and runs them in calls of at most MAX_BATCH_PIXELS.
These tests count the pixels each model call receives, and the pixels decoded and still alive when
it runs, with a fake encoder.
"""

from __future__ import annotations

import io
import weakref

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from stylerec.ml import images as ml_images
from stylerec.models import ArtifactState, ArtifactStatus
from stylerec.services import artifacts
from stylerec.services.artifacts import PRODUCT_IMAGE, PRODUCT_STYLES, pixel_batches
from tests.factories import make_product, make_style
from tests.pipeline.fakes import FakeImageEncoder, FakeStyleScorer, fake_stylerec

pytestmark = pytest.mark.django_db

SIDE = 1000  # 1 Mpx each: a few hundred bytes of PNG
BUDGET = 2_500_000  # two images per call


class Meter:
    """Pixels decoded and not yet freed, and what each model call saw."""

    live = 0
    calls: list[tuple[int, int]] = []  # (pixels given to the call, pixels decoded and alive)

    @classmethod
    def reset(cls) -> None:
        cls.live, cls.calls = 0, []

    @classmethod
    def decoded(cls, image: Image.Image) -> Image.Image:
        pixels = image.width * image.height
        cls.live += pixels
        weakref.finalize(image, cls._freed, pixels)
        return image

    @classmethod
    def _freed(cls, pixels: int) -> None:
        cls.live -= pixels


class PixelCountingEncoder(FakeImageEncoder):
    def encode(self, images):
        Meter.calls.append((sum(i.width * i.height for i in images), Meter.live))
        return super().encode(images)


class PixelCountingScorer(FakeStyleScorer):
    def score(self, images, texts, styles):
        Meter.calls.append((sum(i.width * i.height for i in images if i is not None), Meter.live))
        return super().score(images, texts, styles)


@pytest.fixture
def meter(monkeypatch):
    decode = ml_images.OpenedImage.decode
    monkeypatch.setattr(ml_images.OpenedImage, "decode", lambda self: Meter.decoded(decode(self)))
    Meter.reset()
    yield Meter
    Meter.reset()


def _big_png(colour: tuple[int, int, int]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE), colour).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 10_000  # tiny on disk, a megapixel decoded
    return SimpleUploadedFile("big.png", buffer.getvalue(), content_type="image/png")


def _products(n: int) -> list[int]:
    return [make_product(title=f"Poster {i}", image=_big_png((i * 20, 80, 160))).pk for i in range(n)]


def test_a_batch_is_split_so_no_model_call_decodes_more_than_the_budget(settings, meter):
    settings.STYLEREC = fake_stylerec(
        AUTO_COMPUTE=False,
        BATCH_SIZE=8,
        MAX_BATCH_PIXELS=BUDGET,
        IMAGE_ENCODER="tests.security.test_image_budget.PixelCountingEncoder",
    )
    ids = _products(8)
    report = artifacts.artifacts_compute(kind=PRODUCT_IMAGE, ids=ids)
    assert sorted(report.done) == sorted(ids)
    given = [pixels for pixels, _ in meter.calls]
    assert sum(given) == 8 * SIDE * SIDE  # every image encoded once
    assert max(given) <= BUDGET, given  # before the fix: one call of 8 Mpx
    # Peak memory: what is decoded and alive while a model runs is one call's worth, not the batch.
    assert max(alive for _, alive in meter.calls) <= BUDGET, meter.calls
    assert ArtifactState.objects.filter(kind=PRODUCT_IMAGE, status=ArtifactStatus.READY).count() == 8


def test_style_scores_batches_are_bounded_too(settings, meter):
    settings.STYLEREC = fake_stylerec(
        AUTO_COMPUTE=False,
        BATCH_SIZE=8,
        MAX_BATCH_PIXELS=BUDGET,
        STYLE_SCORER="tests.security.test_image_budget.PixelCountingScorer",
    )
    make_style("retro")
    ids = _products(6)
    report = artifacts.artifacts_compute(kind=PRODUCT_STYLES, ids=ids)
    assert sorted(report.done) == sorted(ids)
    assert max(pixels for pixels, _ in meter.calls) <= BUDGET
    assert max(alive for _, alive in meter.calls) <= BUDGET


def test_an_image_over_the_budget_runs_alone_and_a_truncated_one_fails_alone(settings, meter):
    settings.STYLEREC = fake_stylerec(
        AUTO_COMPUTE=False,
        BATCH_SIZE=8,
        MAX_BATCH_PIXELS=SIDE * SIDE // 2,  # smaller than one image
        IMAGE_ENCODER="tests.security.test_image_budget.PixelCountingEncoder",
    )
    ids = _products(3)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buffer, "PNG"
    )
    truncated = make_product(
        title="Cut off",
        image=SimpleUploadedFile("cut.png", buffer.getvalue()[:-200], content_type="image/png"),
    )
    report = artifacts.artifacts_compute(kind=PRODUCT_IMAGE, ids=[*ids, truncated.pk])
    assert sorted(report.done) == sorted(ids)
    assert list(report.failed) == [truncated.pk] and "truncated" in report.failed[truncated.pk]
    assert [pixels for pixels, _ in meter.calls] == [SIDE * SIDE] * 3


def test_pixel_batches_keeps_order_and_never_returns_an_empty_call():
    items = [(pk, cost) for pk, cost in enumerate([3, 3, 5, 1, 9, 0, 0])]
    parts = list(pixel_batches(items, lambda cost: cost, 6))
    assert [[pk for pk, _ in part] for part in parts] == [[0, 1], [2, 3], [4], [5, 6]]
    assert list(pixel_batches([], lambda cost: cost, 6)) == []


def test_opening_reads_the_header_only():
    buffer = io.BytesIO()
    Image.new("RGB", (6300, 6300), (255, 255, 255)).save(buffer, format="PNG")
    opened = ml_images.open_image(buffer.getvalue())
    assert opened.size == (6300, 6300) and ml_images.image_pixels(opened) == 6300 * 6300
    assert not hasattr(opened, "im")  # bytes and a size: nothing decoded
    assert len(buffer.getvalue()) < 200_000
