"""Celery tasks: thin. They take primary keys, call a service, and enqueue what follows.

Every task is idempotent (the services compare input hashes), acknowledged late and re-queued if
its worker dies (``acks_late`` + ``reject_on_worker_lost``), retried with exponential backoff and
jitter on transient errors only, and bounded by soft and hard time limits.

Model inference runs on ``STYLEREC["GPU_QUEUE"]`` (one process per GPU, prefetch 1), light work on
``CPU_QUEUE``; ``STYLEREC["TASK_ROUTES"]`` (``{task name: queue}``) overrides either.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from stylerec.conf import stylerec_settings
from stylerec.services.artifacts import KINDS, REVIEW, TRANSIENT_ERRORS

logger = logging.getLogger(__name__)

ARTIFACTS_COMPUTE = "stylerec.artifacts_compute"
STYLED_IMAGES_GENERATE = "stylerec.styled_images_generate"
AGGREGATES_UPDATE = "stylerec.product_aggregates_update"
PROFILE_REFRESH = "stylerec.customer_profile_refresh"
ARTIFACTS_SWEEP = "stylerec.artifacts_sweep"
GPU_TASKS = frozenset({ARTIFACTS_COMPUTE, STYLED_IMAGES_GENERATE})

_RELIABLE: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}
# A batch of 32 style transfers on a CPU takes well under a minute; ten is a stuck worker.
GPU_LIMITS = {"soft_time_limit": 540, "time_limit": 600}
CPU_LIMITS = {"soft_time_limit": 60, "time_limit": 90}
# A save must not hang on a broker that is down: two quick tries, then the row stays pending
# and the sweep or the next backfill picks it up.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def task_queue(name: str) -> str:
    """The queue of a stylerec task, read from settings at call time."""
    routes = stylerec_settings.TASK_ROUTES or {}
    if name in routes:
        route = routes[name]
        return route if isinstance(route, str) else route["queue"]
    return stylerec_settings.GPU_QUEUE if name in GPU_TASKS else stylerec_settings.CPU_QUEUE


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict | None:
    """A Celery router (``CELERY_TASK_ROUTES = ("stylerec.tasks.route_task",)``) for hosts that
    call the tasks directly; ``task_enqueue`` routes by itself."""
    return {"queue": task_queue(name)} if name.startswith("stylerec.") else None


def task_enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Send ``task``; False (and a log line) if the broker cannot take it. The work it stands for
    is already marked pending in the database, so nothing is lost."""
    try:
        task.apply_async(
            args=args, kwargs=kwargs, queue=task_queue(task.name), retry=True, retry_policy=PUBLISH_RETRY
        )
    except Exception as exc:  # noqa: BLE001 - a broker outage must never break the caller's save
        logger.warning(
            "Could not enqueue %s%r: %s; left pending for the sweep/backfill", task.name, args, exc
        )
        return False
    return True


@shared_task(name=ARTIFACTS_COMPUTE, **_RELIABLE, **GPU_LIMITS)
def artifacts_compute(kind: str, ids: list[int] | None = None, force: bool = False) -> dict[str, Any]:
    from stylerec.services.artifacts import artifacts_compute_pending

    report = artifacts_compute_pending(kind=kind, ids=ids or [], force=force)
    if kind == REVIEW and (report.done or report.failed):
        reviews_follow_up(review_ids=[*report.done, *report.failed])
    return report.as_dict()


def reviews_follow_up(*, review_ids: list[int]) -> None:
    """New review artifacts change their products' aggregates and their authors' profiles."""
    from stylerec.models import Review

    rows = Review.objects.filter(pk__in=review_ids).values_list("product_id", "user_id")
    product_ids = sorted({product_id for product_id, _ in rows})
    if product_ids:
        task_enqueue(product_aggregates_update, product_ids)
    for user_id in sorted({user_id for _, user_id in rows if user_id is not None}):
        task_enqueue(customer_profile_refresh, user_id, "")


@shared_task(name=STYLED_IMAGES_GENERATE, **_RELIABLE, **GPU_LIMITS)
def styled_images_generate(ids: list[int] | None = None, force: bool = False) -> dict[str, Any]:
    from stylerec.services.styled import styled_images_generate as generate

    return generate(ids=ids or [], force=force).as_dict()


@shared_task(name=AGGREGATES_UPDATE, **_RELIABLE, **CPU_LIMITS)
def product_aggregates_update(product_ids: list[int]) -> int:
    from stylerec.services.aggregates import products_sentiment_aggregate

    return products_sentiment_aggregate(product_ids=product_ids)


@shared_task(name=PROFILE_REFRESH, **_RELIABLE, **CPU_LIMITS)
def customer_profile_refresh(user_id: int | None = None, session_key: str = "") -> bool:
    """Refresh a customer's profile through the ranker's service (owned there; imported lazily so
    the pipeline works before and without it)."""
    try:
        from stylerec.selectors import recommendations_invalidate
        from stylerec.services.profiles import customer_profile_refresh as refresh
    except ImportError:
        logger.debug("stylerec's profile service is not available; profile refresh skipped")
        return False
    refresh(user_id=user_id, session_key=session_key)
    recommendations_invalidate(user_id=user_id, session_key=session_key)  # they were made for the old taste
    return True


@shared_task(name=ARTIFACTS_SWEEP, **_RELIABLE, **CPU_LIMITS)
def artifacts_sweep(max_tasks: int = 200) -> int:
    """Enqueue batches for whatever is pending or stale: recovers work whose message never made it
    to the broker (Redis was down during the save). Run by beat every few minutes."""
    from stylerec.models import ArtifactState, StyledImage
    from stylerec.services.artifacts import NEEDS_WORK

    batch_size = int(stylerec_settings.BATCH_SIZE)
    sent = 0
    for kind in KINDS:
        waiting = ArtifactState.objects.filter(kind=kind, status__in=NEEDS_WORK).count()
        for _ in range(min(-(-waiting // batch_size), max_tasks - sent)):
            sent += task_enqueue(artifacts_compute, kind, [])
    waiting = StyledImage.objects.filter(status__in=NEEDS_WORK).count()
    for _ in range(min(-(-waiting // batch_size), max_tasks - sent)):
        sent += task_enqueue(styled_images_generate, [])
    return sent
