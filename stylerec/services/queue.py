"""Sending work to the Celery workers: the one place that enqueues, and the task names.

Tasks are looked up *by name* in the Celery app's registry, so this module (and every service)
never imports ``stylerec.tasks``: tasks call services, services enqueue by name. The registry holds
stylerec's tasks in every process because ``StyleRecConfig.ready()`` imports ``stylerec.tasks``.

Model inference runs on ``STYLEREC["GPU_QUEUE"]``, light work on ``CPU_QUEUE``;
``STYLEREC["TASK_ROUTES"]`` (``{task name: queue}``) overrides either. ``task_enqueue`` routes by
itself; hosts that call the tasks directly route them with ``route_task``
(``CELERY_TASK_ROUTES = ("stylerec.services.queue.route_task",)``; the old path
``"stylerec.tasks.route_task"`` still works).

Callers mark the work pending in the database *before* enqueueing, so a message that never
reaches the broker loses nothing: the sweep (``stylerec.artifacts_sweep``) or the next backfill
sends it again.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from stylerec.conf import stylerec_settings

logger = logging.getLogger(__name__)

# Task names: stylerec.tasks registers them, everything else enqueues by them.
ARTIFACTS_COMPUTE = "stylerec.artifacts_compute"
STYLED_IMAGES_GENERATE = "stylerec.styled_images_generate"  # kept for messages already queued
AGGREGATES_UPDATE = "stylerec.product_aggregates_update"
PROFILE_REFRESH = "stylerec.customer_profile_refresh"
ARTIFACTS_SWEEP = "stylerec.artifacts_sweep"
GPU_TASKS = frozenset({ARTIFACTS_COMPUTE, STYLED_IMAGES_GENERATE})

# A save must not hang on a broker that is down: two quick tries, then the work stays pending in
# the database and the sweep or the next backfill picks it up.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def task_queue(name: str) -> str:
    """The queue of a stylerec task, read from settings at call time."""
    routes = stylerec_settings.TASK_ROUTES or {}
    if name in routes:
        route = routes[name]
        return route if isinstance(route, str) else route["queue"]
    return stylerec_settings.GPU_QUEUE if name in GPU_TASKS else stylerec_settings.CPU_QUEUE


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict | None:
    """A Celery router (``CELERY_TASK_ROUTES = ("stylerec.services.queue.route_task",)``) for hosts
    that call stylerec's tasks directly; ``task_enqueue`` routes by itself."""
    return {"queue": task_queue(name)} if name.startswith("stylerec.") else None


def task_enqueue(name: str, *args: Any, **kwargs: Any) -> bool:
    """Send the task ``name`` now; False (and a warning) if the broker cannot take it.

    The log line names the task only, never its arguments (a session key is personal data)."""
    from celery import current_app

    task = current_app.tasks[name]  # an unknown name is a bug: raise, do not hide it
    try:
        task.apply_async(
            args=args, kwargs=kwargs, queue=task_queue(name), retry=True, retry_policy=PUBLISH_RETRY
        )
    except Exception as exc:  # noqa: BLE001 - a broker outage must never break the caller's save
        logger.warning(
            "Could not enqueue %s (%s: %s); the work stays pending for the sweep/backfill",
            name,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def task_eager(name: str) -> bool:
    """Whether Celery runs the task ``name`` in this process when it is sent (its app's
    ``task_always_eager``, read where ``apply_async`` reads it)."""
    from celery import current_app

    return bool(current_app.tasks[name].app.conf.task_always_eager)


def task_enqueue_on_commit(name: str, *args: Any) -> None:
    """Send the task ``name`` once the current transaction commits (at once outside one), so a
    worker never reads rows that are not there yet, and a rolled-back save sends nothing."""
    # ``task_enqueue`` is looked up when the callback runs, so tests can replace it.
    transaction.on_commit(lambda: task_enqueue(name, *args))
