"""stylerec_backfill: computes what is missing or stale, resumes, and hands work to workers."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from stylerec.models import ArtifactState, ArtifactStatus, StyledImage, get_product_model
from stylerec.services.artifacts import KINDS, PRODUCT_IMAGE, PRODUCT_TEXT
from tests.factories import make_review, make_style
from tests.pipeline.conftest import make_product_with_image
from tests.pipeline.fakes import model_calls

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(settings, model_log):
    """Products, reviews and styles saved with AUTO_COMPUTE off (as an import would leave them)."""
    settings.STYLEREC = {**settings.STYLEREC, "AUTO_COMPUTE": False, "PRECOMPUTE_STYLED_TOP_N": 2}
    make_style("noir")
    products = [
        make_product_with_image((30 * i, 90, 120), title=f"Coat {i}", sales_count=i) for i in range(5)
    ]
    make_review(products[0], text="Great coat")
    settings.STYLEREC = {**settings.STYLEREC, "AUTO_COMPUTE": True}
    return products


def backfill(*args: str) -> str:
    out = io.StringIO()
    call_command("stylerec_backfill", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_backfill_computes_everything_missing(catalog, model_log):
    backfill()
    for kind in KINDS:
        assert not ArtifactState.objects.filter(kind=kind).exclude(status=ArtifactStatus.READY).exists()
    assert ArtifactState.objects.filter(kind=PRODUCT_TEXT).count() == 5
    assert all(p.image_embedding is not None and p.style_scores for p in get_product_model().objects.all())
    assert get_product_model().objects.get(pk=catalog[0].pk).review_count == 1
    # the two best sellers, in the one active style
    assert set(StyledImage.objects.values_list("product_id", "status")) == {
        (catalog[4].pk, ArtifactStatus.READY),
        (catalog[3].pk, ArtifactStatus.READY),
    }
    calls = len(model_calls(model_log))
    assert "0 needed work" in backfill()  # a second run has nothing to do
    assert len(model_calls(model_log)) == calls


def test_backfill_shows_one_progress_line_for_the_whole_run(catalog, model_log, capsys):
    call_command("stylerec_backfill", "--kind", "product_text,product_image,review", stdout=io.StringIO())
    err = capsys.readouterr().err
    lines = {line.split(":")[0].strip() for line in err.replace("\r", "\n").splitlines() if line.strip()}
    assert lines == {"backfill"}  # one bar, not one per kind
    # Its total is every row of every kind asked for, counted up front: 5 + 5 products, 1 review
    # and the rating of the one reviewed product; the ETA is the whole run's.
    assert "0/12 " in err and "12/12 " in err and "13/" not in err


def test_backfill_resumes_and_recomputes_only_stale(catalog, model_log, settings):
    backfill("--kind", "product_text", "--limit", "2", "--batch-size", "1")
    assert [n for _, _, n in model_calls(model_log, "text")] == [1, 1]
    backfill("--kind", "product_text")
    assert ArtifactState.objects.filter(kind=PRODUCT_TEXT, status=ArtifactStatus.READY).count() == 5
    assert [n for _, _, n in model_calls(model_log, "text")] == [1, 1, 3]
    opts = {"version": "v2", "log_file": str(model_log)}
    settings.STYLEREC = {**settings.STYLEREC, "IMAGE_ENCODER_OPTIONS": opts}
    backfill("--kind", "product_image")
    assert set(ArtifactState.objects.filter(kind=PRODUCT_IMAGE).values_list("model_version", flat=True)) == {
        "fake-image:v2"
    }


def test_backfill_async_hands_batches_to_the_workers(catalog, model_log):
    out = backfill("--kind", "product_text", "--async", "--batch-size", "2")
    assert "3 batches enqueued" in out  # tests run Celery eagerly: the "workers" ran them already
    assert ArtifactState.objects.filter(kind=PRODUCT_TEXT, status=ArtifactStatus.READY).count() == 5


def test_backfill_rejects_unknown_kinds(catalog):
    with pytest.raises(CommandError):
        backfill("--kind", "everything")


def test_failed_rows_wait_for_force(catalog, model_log):
    backfill("--kind", "product_text")
    row = ArtifactState.objects.filter(kind=PRODUCT_TEXT, object_id=catalog[0].pk)
    row.update(status=ArtifactStatus.FAILED, error="boom")  # failed on these very inputs
    backfill("--kind", "product_text")
    assert row.get().status == ArtifactStatus.FAILED
    backfill("--kind", "product_text", "--force")
    assert row.get().status == ArtifactStatus.READY and row.get().error == ""
