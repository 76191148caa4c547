"""Style scores reuse the product vectors the pipeline has already stored, instead of encoding
every photo and text a second time; vectors that are not current for the product's inputs are
never reused."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from stylerec.models import get_product_model
from stylerec.services.artifacts import PRODUCT_STYLES, artifacts_compute
from tests.factories import make_style
from tests.pipeline.conftest import make_product_with_image
from tests.pipeline.fakes import fake_stylerec, model_calls

pytestmark = pytest.mark.django_db


@pytest.fixture
def prototype_scorer(settings, tmp_path):
    """The default scorer over the (logging) fake encoders it shares with the pipeline."""
    log = tmp_path / "calls.log"
    settings.STYLEREC = {
        **fake_stylerec(log_file=str(log), AUTO_COMPUTE=False),
        "STYLE_SCORER": "stylerec.ml.styles.PrototypeStyleScorer",
        "STYLE_SCORER_OPTIONS": {},
    }
    return log


def encoded(log, kind: str) -> int:
    return sum(n for _, k, n in model_calls(log, kind))


def test_style_scores_reuse_current_stored_vectors(prototype_scorer):
    make_style("noir", description="dark tailored black")
    products = [make_product_with_image((30 * i, 40, 50), title=f"Noir coat {i}") for i in range(3)]
    call_command("stylerec_backfill", "--no-progress", "--kind", "style,product_text,product_image")
    images, texts = encoded(prototype_scorer, "image"), encoded(prototype_scorer, "text")

    artifacts_compute(kind=PRODUCT_STYLES, ids=[p.pk for p in products])

    assert encoded(prototype_scorer, "image") == images  # no photo encoded again
    assert encoded(prototype_scorer, "text") - texts <= 1  # at most the styles' own prompt
    scores = get_product_model().objects.get(pk=products[0].pk).style_scores
    assert set(scores) == {"noir"} and scores["noir"] == pytest.approx(1.0)


def test_vectors_not_current_for_the_inputs_are_encoded_afresh(prototype_scorer):
    make_style("noir", description="dark tailored black")
    product = make_product_with_image((10, 20, 30), title="Noir coat")
    call_command("stylerec_backfill", "--no-progress", "--kind", "style,product_text,product_image")
    product.title = "Bright summer dress"  # its stored text vector is now out of date
    product.save()
    images = encoded(prototype_scorer, "image")

    artifacts_compute(kind=PRODUCT_STYLES, ids=[product.pk])

    assert encoded(prototype_scorer, "image") == images + 1  # read from the photo, not reused
