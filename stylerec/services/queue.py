"""Sending work to the Celery workers: the one place that enqueues, and the task names.

Tasks are looked up *by name* in the Celery app's registry, so this module (and every service)
never imports ``stylerec.tasks``: tasks call services, services enqueue by name. The registry holds
stylerec's tasks in every process because ``StyleRecConfig.ready()`` imports ``stylerec.tasks``.

Model inference runs on ``STYLEREC["GPU_QUEUE"]``, light work on ``CPU_QUEUE``;
``STYLEREC["TASK_ROUTES"]`` (``{task name: queue}``) overrides either. ``task_enqueue`` routes by
itself; hosts that call the tasks directly route them with ``route_task``
(``CELERY_TASK_ROUTES = ("stylerec.services.queue.route_task",)``; the old path
``"stylerec.tasks.route_task"`` still works).

A message that never reaches the broker loses nothing. The artifact tasks' callers mark the work
pending in the database *before* enqueueing (``ArtifactState``/``StyledImage`` rows), and for every
other task ``task_enqueue`` writes down what it could not send (a ``PendingTask`` row: name and
arguments): the sweep (``stylerec.artifacts_sweep``, ``pending_tasks_send``) sends both again, the
next backfill the artifacts too.

stylerec uses the host's Celery app. A host without one (no Celery app was created in this process,
so ``celery.current_app`` is Celery's own fallback app, which reads none of Django's ``CELERY_*``
settings) and without ``CELERY_BROKER_URL`` in the environment gets its tasks run here, in-process,
and one warning in the log saying so: the fallback app would otherwise send them to
``amqp://guest@localhost//``, where nobody reads them. Even then no page view waits for a model:
tasks asked for while a request is being served run once its response has been sent (Django's
``request_finished``), in a management command or a shell they run at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.db import router, transaction

from stylerec.conf import stylerec_settings

logger = logging.getLogger(__name__)

# Task names: stylerec.tasks registers them, everything else enqueues by them.
ARTIFACTS_COMPUTE = "stylerec.artifacts_compute"
STYLED_IMAGES_GENERATE = "stylerec.styled_images_generate"  # kept for messages already queued
AGGREGATES_UPDATE = "stylerec.product_aggregates_update"
PROFILE_REFRESH = "stylerec.customer_profile_refresh"
ARTIFACTS_SWEEP = "stylerec.artifacts_sweep"
EVENTS_PRUNE = "stylerec.events_prune"  # beat, daily: STYLEREC["EVENT_RETENTION_DAYS"]
POOLS_BUILD = "stylerec.candidate_pools_build"
POOLS_SWEEP = "stylerec.candidate_pools_sweep"  # beat, every 5 minutes
GPU_TASKS = frozenset({ARTIFACTS_COMPUTE, STYLED_IMAGES_GENERATE})
# Tasks whose work is already kept pending per object (ArtifactState/StyledImage rows, which the
# sweep finds): a failed send of these is not written down again as a PendingTask, which would send
# every batch twice. A failed send of any other task is.
PENDING_IN_OWN_ROWS = frozenset({ARTIFACTS_COMPUTE, STYLED_IMAGES_GENERATE})

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


def _is_celery_fallback(app: Any) -> bool:
    """Whether ``app`` is the app Celery makes for itself when nobody created one
    (``celery._state._get_current_app``: main "default", no fix-ups, never set as current)."""
    return (
        getattr(app, "main", None) == "default"
        and not getattr(app, "fixups", None)
        and getattr(app, "set_as_current", True) is False
    )


def celery_app() -> Any | None:
    """The host's Celery app, or None when the host has none: Celery's fallback app is current and
    no broker is named in the environment (``CELERY_BROKER_URL``, which Celery itself reads). Then
    stylerec runs its tasks in-process (``task_enqueue``) instead of sending them anywhere."""
    from celery import current_app

    app = current_app._get_current_object()
    if _is_celery_fallback(app) and not os.environ.get("CELERY_BROKER_URL"):
        return None
    return app


def tasks_inline() -> bool:
    """True when stylerec runs its tasks in this process because the host has no Celery app."""
    return celery_app() is None


_inline_announced = threading.Event()


def _announce_inline() -> None:
    """Say once per process that tasks run in-process, and why."""
    if _inline_announced.is_set():
        return
    _inline_announced.set()
    if getattr(settings, "CELERY_BROKER_URL", None):
        logger.warning(
            "stylerec: CELERY_BROKER_URL is set, but no Celery app reads it (none was created in this "
            "process), so stylerec runs its tasks here, in-process. Create the Celery app and import it "
            "in your project's __init__.py (docs/install.md, step 4) to hand them to workers."
        )
    else:
        logger.warning(
            "stylerec: no Celery app is configured (no Celery app, no CELERY_BROKER_URL), so stylerec "
            "runs its tasks here, in-process: fine for development and small stores. For workers, "
            "see docs/install.md, step 4."
        )


# Tasks a request asked for while stylerec runs them in-process: run after its response is sent.
_request = threading.local()


def _request_begins(**kwargs: Any) -> None:
    _request.deferred = []


def _request_ends(**kwargs: Any) -> None:
    deferred, _request.deferred = getattr(_request, "deferred", None), None
    for name, args, kwargs_ in deferred or ():
        _run_inline(name, args, kwargs_)


request_started.connect(_request_begins, dispatch_uid="stylerec.queue.request_begins")
request_finished.connect(_request_ends, dispatch_uid="stylerec.queue.request_ends")


def _serving_a_request() -> bool:
    return getattr(_request, "deferred", None) is not None


def _run_inline(name: str, args: Any, kwargs: Any) -> bool:
    result = _task(name).apply(args=args, kwargs=kwargs)
    if result.failed():
        logger.warning(
            "%s failed in-process (%s); the work stays pending for the next stylerec_sync",
            name,
            type(result.result).__name__,
        )
        return False
    return True


def _task(name: str) -> Any:
    from celery import current_app

    app = celery_app()
    return (app if app is not None else current_app).tasks[name]  # an unknown name is a bug: raise


def task_enqueue(name: str, *args: Any, **kwargs: Any) -> bool:
    """Send the task ``name`` now; False (and a warning) if the broker cannot take it.

    Without a Celery app in the host (``celery_app()`` is None) the task runs in this process
    instead: after the response when a request asked for it, else now; False (and a warning) if
    it failed, the work then stays pending for the next sync/backfill.

    The log line names the task only, never its arguments (a session key is personal data)."""
    task = _task(name)
    if celery_app() is None:
        _announce_inline()
        if _serving_a_request():
            _request.deferred.append((name, args, kwargs))
            return True
        return _run_inline(name, args, kwargs)
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
        if name not in PENDING_IN_OWN_ROWS:
            pending_task_record(name, args, kwargs)
        return False
    return True


def pending_task_key(name: str, args: Any, kwargs: Any) -> str:
    """The fingerprint of a task and its arguments: one ``PendingTask`` row per identical task."""
    payload = json.dumps([name, list(args), dict(kwargs)], sort_keys=True, cls=DjangoJSONEncoder)
    return hashlib.sha256(payload.encode()).hexdigest()


def pending_task_record(name: str, args: Any, kwargs: Any) -> bool:
    """Write down a task that could not be sent, for the sweep (``pending_tasks_send``); the same
    task with the same arguments is written once. Never raises: the caller's save has happened."""
    from stylerec.models import PendingTask

    try:
        key = pending_task_key(name, args, kwargs)
        # Round-trip through JSON: what the row holds is what the task will be sent with.
        row_args, row_kwargs = json.loads(json.dumps([list(args), dict(kwargs)], cls=DjangoJSONEncoder))
        with transaction.atomic(using=router.db_for_write(PendingTask)):  # a savepoint inside a transaction
            PendingTask.objects.bulk_create(
                [PendingTask(name=name, args=row_args, kwargs=row_kwargs, key=key)], ignore_conflicts=True
            )
    except Exception:  # noqa: BLE001 - e.g. the database is down too: nothing more to be done here
        logger.exception("Could not record %s for the sweep; it is lost", name)
        return False
    return True


def pending_tasks_send(*, limit: int = 200) -> int:
    """Send again the tasks ``task_enqueue`` could not send (``PendingTask``), oldest first, at
    most ``limit``; the number sent. Stops at the first that still cannot be sent (the broker is
    still down), which is written down again. Each row is deleted *before* its task is sent, so a
    send that fails meanwhile for the same task writes a new row instead of being lost, and two
    sweeps at once never send one row twice."""
    from stylerec.models import PendingTask

    sent = 0
    for row in PendingTask.objects.order_by("pk")[:limit]:
        deleted, _ = PendingTask.objects.filter(pk=row.pk).delete()
        if not deleted:
            continue  # another sweep took it
        try:
            ok = task_enqueue(row.name, *row.args, **row.kwargs)
        except KeyError:  # celery.exceptions.NotRegistered: a task no longer there (an upgrade)
            logger.warning("Dropped the pending task %s: no task of that name is registered", row.name)
            continue
        if not ok:
            pending_task_record(row.name, row.args, row.kwargs)  # once: task_enqueue may have already
            break
        sent += 1
    return sent


def task_eager(name: str) -> bool:
    """Whether the task ``name`` runs in the caller, right when it is sent: without a Celery app in
    the host, outside a request (inside one it waits for the response); else its app's
    ``task_always_eager`` (read where ``apply_async`` reads it)."""
    if celery_app() is None:
        return not _serving_a_request()
    return bool(_task(name).app.conf.task_always_eager)


def task_enqueue_on_commit(name: str, *args: Any) -> None:
    """Send the task ``name`` once the current transaction commits (at once outside one), so a
    worker never reads rows that are not there yet, and a rolled-back save sends nothing."""
    # ``task_enqueue`` is looked up when the callback runs, so tests can replace it.
    transaction.on_commit(lambda: task_enqueue(name, *args))
