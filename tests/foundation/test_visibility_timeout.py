"""The broker's visibility timeout fits the longest task: derived from the tasks' hard time limits
(``stylerec.task_limits``), and the system check stylerec.W002 warns when a host's is shorter."""

from __future__ import annotations

import pytest
from celery import current_app
from django.conf import settings as django_settings
from django.core.checks import run_checks

from stylerec import task_limits
from stylerec.checks import check_visibility_timeout, longest_task_time_limit
from tests.outage import broker


def test_every_stylerec_task_is_bounded_by_the_longest_limit():
    name, limit = longest_task_time_limit(current_app)
    assert (name, limit) == ("stylerec.events_prune", task_limits.LONGEST_TIME_LIMIT)
    for task_name, task in current_app.tasks.items():
        if task_name.startswith("stylerec.") and task.time_limit is not None:
            assert task.time_limit <= task_limits.LONGEST_TIME_LIMIT, task_name


def test_the_settings_visibility_timeout_is_derived_from_the_longest_task():
    """It was 3600 s, picked by hand; now 2 × the longest hard limit, which also covers the longest
    autoretry countdown a reserved message can wait."""
    timeout = django_settings.VISIBILITY_TIMEOUT
    assert timeout == task_limits.VISIBILITY_TIMEOUT == 2 * task_limits.LONGEST_TIME_LIMIT == 1920
    assert timeout >= task_limits.LONGEST_TIME_LIMIT + task_limits.RETRY_BACKOFF_MAX


def _w002(url: str, transport: dict) -> list:
    with broker(url, transport):
        return check_visibility_timeout()


def test_a_visibility_timeout_shorter_than_the_longest_task_is_warned():
    warnings = _w002("redis://127.0.0.1:6379/0", {"visibility_timeout": 600})
    assert [w.id for w in warnings] == ["stylerec.W002"]
    assert "stylerec.events_prune" in warnings[0].msg and "960" in warnings[0].msg
    assert "1920" in warnings[0].hint


def test_the_warning_is_a_registered_check():
    with broker("redis://127.0.0.1:6379/0", {"visibility_timeout": 10}):
        assert [m.id for m in run_checks() if m.id == "stylerec.W002"] == ["stylerec.W002"]


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("redis://127.0.0.1:6379/0", {"visibility_timeout": 1920}),
        ("redis://127.0.0.1:6379/0", {}),  # kombu's default: 3600 s
        ("filesystem://", {"visibility_timeout": 1}),  # no visibility timeout on this transport
        ("amqp://guest@localhost//", {}),  # RabbitMQ redelivers when the connection drops instead
    ],
)
def test_no_warning_when_the_timeout_fits_or_does_not_apply(url, transport):
    assert _w002(url, transport) == []
