"""Tasks that could not be sent (the broker was down) are written down (``PendingTask``) and sent
again by the sweep, every kind: profile refreshes, aggregate updates, anything but the artifact
tasks, whose own state rows already keep their work pending."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import current_app

from stylerec.models import ArtifactState, ArtifactStatus, PendingTask
from stylerec.services import queue
from stylerec.services.artifacts import artifacts_sweep
from stylerec.services.events import interaction_record
from stylerec.services.privacy import customer_erase
from tests.factories import make_product, make_review, make_user
from tests.outage import broker, broker_down

pytestmark = pytest.mark.django_db


@pytest.fixture
def queues(settings) -> Iterator[dict[str, str]]:
    """Queue names of this test only (kombu's memory transport lives as long as the process)."""
    tag = uuid.uuid4().hex[:10]
    names = {"GPU_QUEUE": f"gpu-{tag}", "CPU_QUEUE": f"cpu-{tag}"}
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), **names}
    yield names


def messages_in(queue_name: str) -> list[tuple[str, str]]:
    """(task name, argsrepr) of the messages waiting in ``queue_name`` on the memory broker, taken."""
    found = []
    with current_app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue_name, no_ack=True)
        try:
            while True:
                message = simple.get(block=True, timeout=0.2)
                found.append((message.headers["task"], message.headers["argsrepr"]))
        except simple.Empty:
            pass
        finally:
            simple.close()
    return found


def test_a_profile_refresh_that_could_not_be_sent_is_sent_by_the_sweep(
    queues, django_capture_on_commit_callbacks
):
    user, product = make_user(), make_product()
    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        interaction_record(kind="click", user=user, product_id=product.pk)
    row = PendingTask.objects.get()
    assert (row.name, row.args, row.kwargs) == (queue.PROFILE_REFRESH, [user.pk, ""], {})

    with broker("memory://"):
        assert artifacts_sweep() >= 1
        sent = messages_in(queues["CPU_QUEUE"])
    assert (queue.PROFILE_REFRESH, repr((user.pk, ""))) in sent
    assert not PendingTask.objects.exists()


def test_an_aggregates_update_that_could_not_be_sent_is_sent_by_the_sweep(
    queues, django_capture_on_commit_callbacks
):
    product = make_product()
    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        make_review(product, rating=2)
    row = PendingTask.objects.get()  # the review's sentiment is pending in its ArtifactState instead
    assert (row.name, row.args) == (queue.AGGREGATES_UPDATE, [[product.pk]])
    assert ArtifactState.objects.filter(status=ArtifactStatus.PENDING).exists()

    with broker("memory://"):
        artifacts_sweep()
        sent = messages_in(queues["CPU_QUEUE"])
    assert (queue.AGGREGATES_UPDATE, repr(([product.pk],))) in sent
    assert not PendingTask.objects.exists()


def test_the_same_task_failing_again_is_written_down_once(queues):
    with broker_down():
        for _ in range(3):
            assert queue.task_enqueue(queue.PROFILE_REFRESH, None, "pseudonym") is False
        assert queue.task_enqueue(queue.PROFILE_REFRESH, None, "other") is False
    rows = sorted(PendingTask.objects.values_list("args", flat=True))
    assert rows == [[None, "other"], [None, "pseudonym"]]


def test_a_sweep_while_the_broker_is_still_down_keeps_the_rows(queues):
    with broker_down():
        queue.task_enqueue(queue.PROFILE_REFRESH, None, "a")
        queue.task_enqueue(queue.AGGREGATES_UPDATE, [1])
        assert queue.pending_tasks_send() == 0
    assert PendingTask.objects.count() == 2


def test_artifact_tasks_are_not_written_down_twice(queues):
    """Their work is pending in ArtifactState/StyledImage rows, which the sweep sends already."""
    with broker_down():
        assert queue.task_enqueue(queue.ARTIFACTS_COMPUTE, "review", [1]) is False
    assert not PendingTask.objects.exists()


def test_a_pending_task_no_longer_registered_is_dropped(queues, caplog):
    PendingTask.objects.create(name="stylerec.gone_in_an_upgrade", args=[], kwargs={}, key="x" * 64)
    with broker("memory://"):
        assert queue.pending_tasks_send() == 0
    assert not PendingTask.objects.exists()
    assert "gone_in_an_upgrade" in caplog.text


def test_erasure_drops_the_customers_pending_profile_refreshes(queues):
    user = make_user()
    with broker_down():
        queue.task_enqueue(queue.PROFILE_REFRESH, user.pk, "")
        queue.task_enqueue(queue.PROFILE_REFRESH, None, "their-pseudonym")
        queue.task_enqueue(queue.PROFILE_REFRESH, None, "someone-else")
        queue.task_enqueue(queue.AGGREGATES_UPDATE, [1])
    customer_erase(user_id=user.pk, session_keys=["their-pseudonym"])
    left = sorted((row.name, row.args) for row in PendingTask.objects.all())
    assert left == [(queue.PROFILE_REFRESH, [None, "someone-else"]), (queue.AGGREGATES_UPDATE, [[1]])]
