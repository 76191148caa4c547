from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import make_product
from tests.pipeline.fakes import fake_stylerec, png_bytes


@pytest.fixture
def model_log(settings, tmp_path) -> Path:
    """The fake models, each logging its calls to the returned file."""
    log = tmp_path / "model-calls.log"
    settings.STYLEREC = fake_stylerec(log_file=str(log))
    return log


def image_upload(color: tuple[int, int, int] = (200, 30, 30), name: str = "photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(color), content_type="image/png")


def make_product_with_image(color: tuple[int, int, int] = (200, 30, 30), **fields):
    return make_product(image=image_upload(color), **fields)
