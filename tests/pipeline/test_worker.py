"""The pipeline through real Celery workers (subprocesses) and Redis, against the test database.

Each test uses its own Redis key prefix and queue names on a dedicated Redis database, so parallel
runs do not see each other's messages. Workers are always killed in a ``finally``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from PIL import Image

from stylerec.lab.worker import celery_worker as lab_celery_worker
from stylerec.lab.worker import current_database
from stylerec.models import ArtifactState, ArtifactStatus, StyledImage, get_product_model
from stylerec.services.artifacts import PRODUCT_IMAGE, PRODUCT_KINDS, PRODUCT_STYLES, PRODUCT_TEXT
from stylerec.services.styled import styled_image_for
from tests.factories import make_style
from tests.outage import _pools_reset, conf_override
from tests.pipeline.conftest import make_product_with_image
from tests.pipeline.fakes import fake_stylerec, image_vector, model_calls, text_vector

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 13  # dedicated to these tests
WAIT_SECONDS = 60


@dataclass
class Broker:
    url: str
    transport: dict
    stylerec: dict
    tmp: Path

    @property
    def queues(self) -> list[str]:
        return [self.stylerec["GPU_QUEUE"], self.stylerec["CPU_QUEUE"]]


def _use_broker(url: str, transport: dict) -> Callable[[], None]:
    """Point this process's Celery app at a broker (the tests run eagerly otherwise); returns the
    function that undoes it."""
    restore = conf_override(broker_url=url, task_always_eager=False, broker_transport_options=transport)
    _pools_reset()
    return restore


@pytest.fixture
def broker(settings, tmp_path) -> Iterator[Broker]:
    tag = uuid.uuid4().hex[:10]
    transport = {
        "global_keyprefix": f"stylerec-test-{tag}:",
        "visibility_timeout": 3,  # redeliver a dead worker's task after 3 s
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    log = tmp_path / "model-calls.log"
    settings.STYLEREC = fake_stylerec(log_file=str(log), GPU_QUEUE=f"gpu-{tag}", CPU_QUEUE=f"cpu-{tag}")
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    restore = _use_broker(url, transport)
    try:
        yield Broker(url=url, transport=transport, stylerec=settings.STYLEREC, tmp=tmp_path)
    finally:
        restore()
        _pools_reset()
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{transport['global_keyprefix']}*"))
        if keys:
            client.delete(*keys)


@contextmanager
def celery_worker(
    broker: Broker, stylerec: dict | None = None, name: str = "w"
) -> Iterator[subprocess.Popen]:
    """A worker (``stylerec.lab.worker``) on the test database, the test's broker and fake models."""
    overrides = {
        "DATABASES": {"default": current_database()},
        "CELERY_BROKER_URL": broker.url,
        "CELERY_TASK_ALWAYS_EAGER": False,
        "CELERY_BROKER_TRANSPORT_OPTIONS": broker.transport,
        "STYLEREC": stylerec or broker.stylerec,
        "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
    }
    with lab_celery_worker(
        overrides=overrides,
        queues=broker.queues,
        log_path=broker.tmp / f"worker-{name}.log",
        name=name,
        cwd=ROOT,
    ) as proc:
        yield proc


def wait_for(
    condition: Callable[[], object], what: str, broker: Broker, timeout: float = WAIT_SECONDS
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in broker.tmp.glob("worker-*.log"))
    raise AssertionError(f"timed out waiting for {what}; worker logs:\n{logs}")


def ready(product_id: int, kinds=PRODUCT_KINDS) -> bool:
    rows = ArtifactState.objects.filter(object_id=product_id, kind__in=kinds, status=ArtifactStatus.READY)
    return rows.count() == len(kinds)


def expected_image_vector(product) -> np.ndarray:
    with product.image.open("rb") as fh:
        return image_vector(Image.open(fh).convert("RGB"))


def test_worker_computes_vectors_and_styled_images_for_a_saved_product(broker):
    style = make_style("noir")
    with celery_worker(broker):
        product = make_product_with_image((40, 160, 90), title="Noir trench")
        wait_for(lambda: ready(product.pk), "the product's artifacts", broker)
        stored = get_product_model().objects.get(pk=product.pk)
        assert np.allclose(stored.text_embedding, text_vector("Noir trench\nShirt"), atol=1e-6)
        assert np.allclose(stored.image_embedding, expected_image_vector(stored), atol=1e-6)
        assert stored.style_scores == {"noir": 0.9}

        assert styled_image_for(product=stored, style=style) is None  # requested from the worker
        styled = wait_for(lambda: styled_image_for(product=stored, style=style), "the styled image", broker)
        assert styled.image.storage.exists(styled.image.name)
    worker_pids = {pid for pid, _, _ in model_calls(broker.stylerec["TEXT_ENCODER_OPTIONS"]["log_file"])}
    assert worker_pids and os.getpid() not in worker_pids  # computed by the worker, not in this process


def test_a_task_killed_mid_batch_is_redelivered_and_stored_once(broker):
    hold, started = broker.tmp / "hold", broker.tmp / "started"
    hold.touch()
    log = broker.stylerec["IMAGE_ENCODER_OPTIONS"]["log_file"]
    holding = {
        **broker.stylerec,
        "IMAGE_ENCODER_OPTIONS": {"log_file": log, "hold_file": str(hold), "started_file": str(started)},
    }
    with celery_worker(broker, stylerec=holding, name="doomed") as doomed:
        product = make_product_with_image((10, 20, 30))
        wait_for(started.exists, "the image batch to start", broker)
        os.killpg(doomed.pid, signal.SIGKILL)  # the whole worker dies mid-task, before acknowledging
        doomed.wait(timeout=10)
    assert (
        ArtifactState.objects.get(kind=PRODUCT_IMAGE, object_id=product.pk).status == ArtifactStatus.PENDING
    )
    hold.unlink()
    with celery_worker(broker, name="survivor"):
        wait_for(lambda: ready(product.pk), "the redelivered task", broker)
    state = ArtifactState.objects.get(kind=PRODUCT_IMAGE, object_id=product.pk)
    assert state.attempts == 1  # written once, by the redelivery
    stored = get_product_model().objects.get(pk=product.pk)
    assert np.allclose(stored.image_embedding, expected_image_vector(stored), atol=1e-6)
    pids = [pid for pid, _, _ in model_calls(log, "image")]
    assert len(set(pids)) == 2  # started in the killed worker, done again in the survivor


def test_redis_down_during_a_save_leaves_pending_work_for_the_backfill(settings, tmp_path, caplog):
    settings.STYLEREC = fake_stylerec(log_file=str(tmp_path / "calls.log"))
    restore = _use_broker("redis://127.0.0.1:1/0", {"socket_connect_timeout": 1})  # nothing listens on port 1
    try:
        product = make_product_with_image(title="Saved while Redis is down")
    finally:
        restore()
        _pools_reset()
    assert get_product_model().objects.filter(pk=product.pk).exists()
    states = ArtifactState.objects.filter(object_id=product.pk, kind__in=PRODUCT_KINDS)
    assert set(states.values_list("status", flat=True)) == {ArtifactStatus.PENDING}
    assert "Could not enqueue" in caplog.text
    call_command("stylerec_backfill", "--no-progress", "--kind", "product_text,product_image,product_styles")
    assert ready(product.pk, kinds=(PRODUCT_TEXT, PRODUCT_IMAGE, PRODUCT_STYLES))
    assert StyledImage.objects.count() == 0
