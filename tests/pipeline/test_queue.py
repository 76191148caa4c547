"""The one enqueue helper: tasks by name, sent after commit, a broker outage never breaks a save."""

from __future__ import annotations

import logging

import pytest
from celery import current_app

from stylerec.models import ArtifactStatus, StyledImage
from stylerec.services import queue
from stylerec.services.artifacts import KINDS, STYLED, artifacts_sweep
from tests.factories import make_style
from tests.pipeline.conftest import make_product_with_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple]]:
    recorded: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        queue, "task_enqueue", lambda name, *args, **kw: recorded.append((name, args)) or True
    )
    return recorded


def test_a_broker_outage_is_logged_without_the_arguments_and_reported_false(monkeypatch, caplog):
    task = current_app.tasks[queue.PROFILE_REFRESH]

    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(task, "apply_async", down)
    with caplog.at_level(logging.WARNING, logger="stylerec.services.queue"):
        assert queue.task_enqueue(queue.PROFILE_REFRESH, None, "secret-session-key") is False
    assert queue.PROFILE_REFRESH in caplog.text and "ConnectionError" in caplog.text
    assert "secret-session-key" not in caplog.text


def test_an_unknown_task_name_is_a_bug_not_an_outage():
    with pytest.raises(KeyError):
        queue.task_enqueue("stylerec.no_such_task")


def test_sent_only_once_the_transaction_commits(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        queue.task_enqueue_on_commit(queue.AGGREGATES_UPDATE, [1, 2])
        assert sent == []
    assert sent == [(queue.AGGREGATES_UPDATE, ([1, 2],))]


def test_every_task_is_registered_and_routed(settings):
    settings.STYLEREC = {"GPU_QUEUE": "g", "CPU_QUEUE": "c"}
    names = {
        queue.ARTIFACTS_COMPUTE: "g",
        queue.STYLED_IMAGES_GENERATE: "g",
        queue.AGGREGATES_UPDATE: "c",
        queue.PROFILE_REFRESH: "c",
        queue.ARTIFACTS_SWEEP: "c",
    }
    for name, expected in names.items():
        assert name in current_app.tasks
        assert queue.task_queue(name) == expected


def test_styled_images_are_a_kind_of_the_engine_and_swept_with_the_others(model_log, sent):
    assert STYLED in KINDS
    product, style = make_product_with_image(), make_style("noir")
    StyledImage.objects.create(product=product, style=style, status=ArtifactStatus.PENDING)
    sent.clear()  # what the product's save enqueued
    artifacts_sweep()
    assert (queue.ARTIFACTS_COMPUTE, (STYLED, [])) in sent
