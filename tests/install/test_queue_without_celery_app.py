"""A host without a Celery app (issue #14): stylerec runs its tasks in-process, says so once in
the log, and never sends anything to Celery's default broker (amqp://guest@localhost:5672//)."""

from __future__ import annotations

import logging

import pytest
from django.utils import timezone

from stylerec.models import CustomerProfile, Interaction
from stylerec.services import queue
from tests.factories import make_product, make_user

pytestmark = pytest.mark.django_db

INLINE_LOG = "runs its tasks here, in-process"


def _viewer():
    user = make_user()
    Interaction.objects.create(
        user=user, product=make_product(direction=1), kind="view", created_at=timezone.now()
    )
    return user


def test_the_hosts_celery_app_is_used_when_there_is_one():
    # The demo (config/celery.py) creates one: stylerec hands it the tasks.
    app = queue.celery_app()
    assert app is not None and app.main == "stylerec_demo"
    assert not queue.tasks_inline()


def test_without_a_celery_app_tasks_run_here_logged_once_and_nothing_is_sent(
    no_celery_app, tcp_attempts, caplog, django_capture_on_commit_callbacks
):
    from celery import current_app

    assert current_app.main == "default" and current_app.conf.broker_url is None  # Celery's fallback
    assert queue.celery_app() is None and queue.tasks_inline()
    assert queue.task_eager(queue.PROFILE_REFRESH)
    first, second = _viewer(), _viewer()
    with caplog.at_level(logging.WARNING, logger="stylerec.services.queue"):
        assert queue.task_enqueue(queue.PROFILE_REFRESH, first.pk, "") is True
        with django_capture_on_commit_callbacks(execute=True):
            queue.task_enqueue_on_commit(queue.PROFILE_REFRESH, second.pk, "")
    # The work was done, here and now.
    assert CustomerProfile.objects.get(user=first).interaction_count == 1
    assert CustomerProfile.objects.get(user=second).interaction_count == 1
    # Said once, with what to do about it.
    said = [r.getMessage() for r in caplog.records if INLINE_LOG in r.getMessage()]
    assert len(said) == 1 and "docs/install.md" in said[0]
    # Nothing went to a broker: no TCP connection was even attempted.
    assert tcp_attempts == []


def test_a_broker_setting_nobody_reads_is_named_and_not_used(no_celery_app, tcp_attempts, settings, caplog):
    # CELERY_BROKER_URL is a Django setting: only a Celery app created with
    # config_from_object(..., namespace="CELERY") reads it. Without one it is ignored, so stylerec
    # does the work here rather than hand it to a broker nobody configured.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    user = _viewer()
    with caplog.at_level(logging.WARNING, logger="stylerec.services.queue"):
        assert queue.task_enqueue(queue.PROFILE_REFRESH, user.pk, "") is True
    assert CustomerProfile.objects.filter(user=user).exists()
    assert "CELERY_BROKER_URL is set, but no Celery app reads it" in caplog.text
    assert tcp_attempts == []


def test_a_task_failing_in_process_is_logged_and_reported_false(
    no_celery_app, tcp_attempts, monkeypatch, caplog
):
    import stylerec.tasks

    def broken(**kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(stylerec.tasks, "products_sentiment_aggregate", broken)
    with caplog.at_level(logging.WARNING, logger="stylerec.services.queue"):
        assert queue.task_enqueue(queue.AGGREGATES_UPDATE, [1]) is False
    assert f"{queue.AGGREGATES_UPDATE} failed in-process (ValueError)" in caplog.text
    assert tcp_attempts == []


def test_an_unknown_task_name_is_still_a_bug(no_celery_app):
    with pytest.raises(KeyError):
        queue.task_enqueue("stylerec.no_such_task")


def test_a_broker_named_in_the_environment_is_celerys_own_configuration(no_celery_app, monkeypatch):
    # Celery's fallback app reads CELERY_BROKER_URL from the environment (so do workers started
    # with `celery -A proj worker`): that is a configured broker, and stylerec sends to it.
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    assert queue.celery_app() is not None and not queue.tasks_inline()


@pytest.mark.django_db(transaction=True)  # commits as a real request does: on_commit fires in it
def test_without_a_celery_app_a_page_view_never_waits_for_the_work(no_celery_app, tcp_attempts, monkeypatch):
    """The in-process mode still keeps work off the page: what a request asks for runs once its
    response is finished (Django's request_finished), not while it is being rendered."""
    from django.test import Client
    from django.urls import reverse

    from stylerec.services import profiles

    user, product = make_user(), make_product(direction=2)
    served: list[bool] = []
    real_refresh = profiles.customer_profile_refresh

    def refresh(**kwargs):
        served.append(queue._serving_a_request())  # still inside the request?
        return real_refresh(**kwargs)

    monkeypatch.setattr(profiles, "customer_profile_refresh", refresh)
    client = Client()
    client.force_login(user)
    response = client.get(reverse("shop:product", args=[product.pk]))  # records a view
    assert response.status_code == 200
    assert served == [False]  # ran once, after the response, not during it
    assert CustomerProfile.objects.get(user=user).interaction_count == 1
    assert tcp_attempts == []
