"""Artifacts computed on save, idempotently, with hashes deciding what is stale (fake models)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core import serializers
from django.core.files.base import ContentFile
from django.db import OperationalError

from stylerec import tasks
from stylerec.ml import registry
from stylerec.models import ArtifactState, ArtifactStatus, Review, get_product_model
from stylerec.services import artifacts
from stylerec.services.artifacts import PRODUCT_IMAGE, PRODUCT_STYLES, PRODUCT_TEXT, REVIEW, STYLE
from tests.factories import make_established, make_product, make_review, make_style, make_user
from tests.pipeline.conftest import image_upload, make_product_with_image
from tests.pipeline.fakes import POISON, fake_stylerec, image_vector, model_calls, text_vector

pytestmark = pytest.mark.django_db


def states(object_id: int) -> dict[str, ArtifactState]:
    return {s.kind: s for s in ArtifactState.objects.filter(object_id=object_id)}


def test_product_save_computes_text_image_and_style_vectors(model_log, django_capture_on_commit_callbacks):
    make_style("retro")
    with django_capture_on_commit_callbacks(execute=True):
        product = make_product_with_image(
            (10, 120, 200), title="Retro jacket", brand="Acme", description="Wool."
        )
    product = get_product_model().objects.get(pk=product.pk)
    expected_text = text_vector("Retro jacket\nAcme\nShirt\nWool.")
    assert np.allclose(product.text_embedding, expected_text, atol=1e-6)
    from PIL import Image

    with product.image.open("rb") as fh:
        assert np.allclose(product.image_embedding, image_vector(Image.open(fh).convert("RGB")), atol=1e-6)
    assert product.style_scores == {"retro": 0.9}  # the slug is in the text (0.7) and there is an image (0.2)
    rows = states(product.pk)
    assert {k: rows[k].status for k in (PRODUCT_TEXT, PRODUCT_IMAGE, PRODUCT_STYLES)} == dict.fromkeys(
        (PRODUCT_TEXT, PRODUCT_IMAGE, PRODUCT_STYLES), ArtifactStatus.READY
    )
    assert rows[PRODUCT_TEXT].model_version == "fake-text:v1"


def test_saves_that_change_no_input_enqueue_nothing(model_log, django_capture_on_commit_callbacks):
    product = make_product(title="Plain tee")
    ArtifactState.objects.all().delete()
    with django_capture_on_commit_callbacks() as callbacks:
        product.stock = 99
        product.price = 5
        product.save()
        get_product_model().objects.get(pk=product.pk).save(update_fields=["stock"])
    assert callbacks == []
    assert not ArtifactState.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        product.title = "Plain white tee"
        product.save()
    assert len(callbacks) == 2  # text and style scores; the image did not change
    assert set(ArtifactState.objects.values_list("kind", flat=True)) == {PRODUCT_TEXT, PRODUCT_STYLES}


def test_text_change_does_not_touch_image_artifact(model_log, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        product = make_product_with_image()
    product.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        product.description = "Now with pockets"
        product.save()
    assert [n for _, kind, n in model_calls(model_log, "image")] == [1]
    assert len(model_calls(model_log, "text")) == 2


def test_raw_saves_and_auto_compute_off_enqueue_nothing(
    settings, model_log, django_capture_on_commit_callbacks
):
    product = make_product(title="Fixture product")
    data = serializers.serialize("json", [product])
    ArtifactState.objects.all().delete()
    with django_capture_on_commit_callbacks() as callbacks:
        for obj in serializers.deserialize("json", data.replace("Fixture product", "Loaded from fixture")):
            obj.save()  # loaddata's path: raw=True
    assert callbacks == [] and not ArtifactState.objects.exists()
    settings.STYLEREC = {**settings.STYLEREC, "AUTO_COMPUTE": False}
    with django_capture_on_commit_callbacks() as callbacks:
        make_product(title="Quiet")
    assert callbacks == [] and not ArtifactState.objects.exists()


def test_pipeline_writes_do_not_trigger_the_receivers(model_log, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_product_with_image()
    # one task per artifact kind; computing and storing them enqueued nothing more
    assert len(callbacks) == 3


def test_recompute_is_idempotent_and_model_upgrade_makes_it_stale(settings, model_log):
    product = make_product(title="Linen shirt")
    artifacts.artifacts_compute(kind=PRODUCT_TEXT, ids=[product.pk])
    report = artifacts.artifacts_compute(kind=PRODUCT_TEXT, ids=[product.pk])
    assert report.skipped == [product.pk] and report.done == []
    assert len(model_calls(model_log, "text")) == 1
    assert artifacts.artifacts_needing_work(kind=PRODUCT_TEXT) == []

    settings.STYLEREC = {
        **settings.STYLEREC,
        "TEXT_ENCODER_OPTIONS": {"version": "v2", "log_file": str(model_log)},
    }
    assert artifacts.artifacts_needing_work(kind=PRODUCT_TEXT) == [product.pk]
    assert artifacts.artifacts_compute(kind=PRODUCT_TEXT, ids=[product.pk]).done == [product.pk]
    assert states(product.pk)[PRODUCT_TEXT].model_version == "fake-text:v2"


def test_a_stale_result_never_overwrites_a_newer_edit(model_log, monkeypatch):
    product = make_product(title="Old title")
    model = registry.get("text")
    original = model.encode

    def encode_while_someone_edits(texts):
        vectors = original(texts)
        # the product is edited while the model runs (its own task is enqueued by that save)
        get_product_model().objects.filter(pk=product.pk).update(title="New title")
        return vectors

    monkeypatch.setattr(model, "encode", encode_while_someone_edits)
    report = artifacts.artifacts_compute(kind=PRODUCT_TEXT, ids=[product.pk])
    assert report.discarded == [product.pk]
    product.refresh_from_db()
    assert product.text_embedding is None
    monkeypatch.setattr(model, "encode", original)
    assert artifacts.artifacts_compute(kind=PRODUCT_TEXT, ids=[product.pk]).done == [product.pk]
    product.refresh_from_db()
    assert np.allclose(product.text_embedding, text_vector("New title\nShirt"), atol=1e-6)


def test_one_bad_image_fails_its_product_and_the_batch_completes(model_log):
    good = [make_product_with_image((20 * i, 80, 90)) for i in range(1, 4)]
    poison = make_product_with_image(POISON)
    corrupt = make_product(title="Broken file")
    corrupt.image.save("broken.png", ContentFile(b"this is not a png"), save=False)
    get_product_model().objects.filter(pk=corrupt.pk).update(image=corrupt.image.name)
    ids = [p.pk for p in [*good, poison, corrupt]]

    report = artifacts.artifacts_compute(kind=PRODUCT_IMAGE, ids=ids)

    assert sorted(report.done) == sorted(p.pk for p in good)
    assert set(report.failed) == {poison.pk, corrupt.pk}
    failed = states(poison.pk)[PRODUCT_IMAGE]
    assert failed.status == ArtifactStatus.FAILED and "cannot read magenta" in failed.error
    assert "not an image" in states(corrupt.pk)[PRODUCT_IMAGE].error
    assert all(
        p.image_embedding is not None for p in get_product_model().objects.filter(pk__in=[g.pk for g in good])
    )
    # the same bad inputs are not retried (no retry storm) ...
    calls = len(model_calls(model_log, "image"))
    assert artifacts.artifacts_compute(kind=PRODUCT_IMAGE, ids=[poison.pk]).skipped == [poison.pk]
    assert len(model_calls(model_log, "image")) == calls
    assert poison.pk not in artifacts.artifacts_needing_work(kind=PRODUCT_IMAGE)
    # ... until the image changes
    poison.image = image_upload((1, 2, 3))
    poison.save()
    assert artifacts.artifacts_compute(kind=PRODUCT_IMAGE, ids=[poison.pk]).done == [poison.pk]


def test_task_fills_its_batch_with_other_pending_work(model_log, settings):
    products = [make_product(title=f"Item {i}") for i in range(6)]  # pending, nothing ran (no commit)
    tasks.artifacts_compute.apply(args=[PRODUCT_TEXT, [products[0].pk]])
    # BATCH_SIZE is 4: the task took its own id and the three oldest other pending ones, in one call
    assert [n for _, _, n in model_calls(model_log, "text")] == [4]
    ready = ArtifactState.objects.filter(kind=PRODUCT_TEXT, status=ArtifactStatus.READY)
    assert ready.count() == 4 and ready.filter(object_id=products[0].pk).exists()


def test_transient_errors_are_retried(model_log, monkeypatch):
    product = make_product(title="Retry me")
    model = registry.get("text")
    original, calls = model.encode, []

    def flaky(texts):
        calls.append(len(texts))
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return original(texts)

    monkeypatch.setattr(model, "encode", flaky)
    tasks.artifacts_compute.apply(args=[PRODUCT_TEXT, [product.pk]])
    assert len(calls) == 2
    assert states(product.pk)[PRODUCT_TEXT].status == ArtifactStatus.READY


def test_style_change_makes_every_products_style_scores_stale(model_log, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        style = make_style("boho", description="Loose and layered")
        product = make_product(title="Boho dress")
    assert get_product_model().objects.get(pk=product.pk).style_scores == {"boho": 0.7}
    assert states(style.pk)[STYLE].status == ArtifactStatus.READY
    with django_capture_on_commit_callbacks(execute=True):
        make_style("minimal")
    product.refresh_from_db()
    assert product.style_scores == {"boho": 0.7, "minimal": 0.1}
    style.refresh_from_db()
    assert np.allclose(style.text_embedding, text_vector("Boho\nLoose and layered"), atol=1e-6)
    assert style.image_prototype is None


def test_review_artifacts_and_aggregates(model_log, django_capture_on_commit_callbacks):
    make_style("retro")
    product = make_product(title="Jacket")
    author = make_user()
    make_established(author)  # a new account's review alone gives no score (stylerec.trust)
    with django_capture_on_commit_callbacks(execute=True):
        review = make_review(product, title="Love it", text="Great retro cut", rating=5, user=author)
    review.refresh_from_db()
    assert (review.language, review.sentiment_label, review.sentiment_score) == ("en", "positive", 0.8)
    assert review.preferences == [{"kind": "style", "key": "retro", "polarity": 1}]
    assert np.allclose(review.text_embedding, text_vector("Love it\nGreat retro cut"), atol=1e-6)
    assert states(review.pk)[REVIEW].status == ArtifactStatus.READY
    product.refresh_from_db()
    assert product.review_count == 1 and product.rating_average == 5.0
    # one positive review, pulled toward the prior (its own mean, 0.8, as it is the only one)
    assert product.sentiment_score == pytest.approx(0.8)
    with django_capture_on_commit_callbacks(execute=True):
        Review.objects.filter(pk=review.pk).first().delete()
    product.refresh_from_db()
    assert product.review_count == 0 and product.sentiment_score is None
    assert not ArtifactState.objects.filter(kind=REVIEW, object_id=review.pk).exists()


def test_routing_sends_inference_to_the_gpu_queue_and_the_rest_to_cpu(settings):
    settings.STYLEREC = {
        "GPU_QUEUE": "g",
        "CPU_QUEUE": "c",
        "TASK_ROUTES": {tasks.AGGREGATES_UPDATE: {"queue": "x"}},
    }
    assert tasks.task_queue(tasks.ARTIFACTS_COMPUTE) == "g"
    assert tasks.task_queue(tasks.STYLED_IMAGES_GENERATE) == "g"
    assert tasks.task_queue(tasks.PROFILE_REFRESH) == "c"
    assert tasks.task_queue(tasks.AGGREGATES_UPDATE) == "x"
    assert tasks.route_task(tasks.ARTIFACTS_SWEEP, (), {}, {}) == {"queue": "c"}
    assert tasks.route_task("other.app.task", (), {}, {}) is None
    for task in (tasks.artifacts_compute, tasks.styled_images_generate, tasks.product_aggregates_update):
        assert task.acks_late and task.reject_on_worker_lost and task.soft_time_limit < task.time_limit


def test_sweep_enqueues_pending_work(model_log):
    products = [make_product(title=f"Swept {i}") for i in range(5)]  # pending, their tasks never ran
    sent = tasks.artifacts_sweep.apply().get()
    assert sent >= 2  # five pending per product kind at BATCH_SIZE 4 -> two tasks each
    assert not ArtifactState.objects.filter(status__in=artifacts.NEEDS_WORK).exists()
    assert all(
        p.text_embedding is not None
        for p in get_product_model().objects.filter(pk__in=[p.pk for p in products])
    )


def test_fake_settings_are_isolated():
    assert fake_stylerec()["BATCH_SIZE"] == 4
