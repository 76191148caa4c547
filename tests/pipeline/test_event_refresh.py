"""Whether an event refreshes the customer's profile in the request or through a task is Celery's
decision (its app's ``task_always_eager``), not a setting stylerec reads with its own default."""

from __future__ import annotations

import celery
import pytest

from stylerec.services.events import interaction_record
from tests.factories import make_product, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_broker(monkeypatch):
    """Nothing may reach a real broker (RabbitMQ may listen on localhost): sending fails the test."""

    def refuse(self, name, *args, **kwargs):
        raise AssertionError(f"a test tried to send {name} to a broker")

    monkeypatch.setattr(celery.Celery, "send_task", refuse)


@pytest.fixture
def calls(monkeypatch, no_broker):
    """Synchronous profile refreshes and task sends, recorded instead of done."""
    import stylerec.services.profiles
    import stylerec.services.queue

    recorded: dict[str, list] = {"refreshed": [], "sent": []}
    monkeypatch.setattr(
        stylerec.services.profiles,
        "customer_profile_refresh",
        lambda **kwargs: recorded["refreshed"].append(kwargs),
    )
    monkeypatch.setattr(
        stylerec.services.queue,
        "task_enqueue",
        lambda name, *args, **kwargs: recorded["sent"].append((name, args)) or True,
    )
    return recorded


def test_a_host_that_never_set_eager_refreshes_profiles_through_the_task(
    settings, calls, django_capture_on_commit_callbacks
):
    del settings.CELERY_TASK_ALWAYS_EAGER  # a host with a broker: Celery's default is not eager
    assert celery.current_app.conf.task_always_eager is False
    user, product = make_user(), make_product()
    with django_capture_on_commit_callbacks(execute=True):
        interaction_record(kind="view", user=user, product_id=product.pk)
        assert calls["sent"] == []  # nothing leaves before the event is committed
    assert calls["refreshed"] == []  # the page view did not do the worker's job
    assert calls["sent"] == [("stylerec.customer_profile_refresh", (user.pk, ""))]
