"""Celery tasks: thin. They take primary keys and call a service; the services enqueue what
follows (by task name, through ``stylerec.services.queue``, which also routes them).

Every task is idempotent (the services compare input hashes), acknowledged late and re-queued if
its worker dies (``acks_late`` + ``reject_on_worker_lost``), retried with exponential backoff and
jitter on transient errors only, and bounded by soft and hard time limits.

Model inference runs on ``STYLEREC["GPU_QUEUE"]`` (one process per GPU, prefetch 1), light work on
``CPU_QUEUE``; ``STYLEREC["TASK_ROUTES"]`` (``{task name: queue}``) overrides either.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from stylerec.services import (
    artifacts,
    pools,
    privacy,
    profiles,
    styled,  # noqa: F401  (registers the "styled" artifact kind)
)
from stylerec.services.aggregates import products_sentiment_aggregate
from stylerec.services.artifacts import (
    REVIEW,
    STYLED,
    TRANSIENT_ERRORS,
    artifacts_compute_pending,
    reviews_follow_up,
)
from stylerec.services.queue import (  # noqa: F401  (the names and routing, importable from here too)
    AGGREGATES_UPDATE,
    ARTIFACTS_COMPUTE,
    ARTIFACTS_SWEEP,
    EVENTS_PRUNE,
    GPU_TASKS,
    POOLS_BUILD,
    POOLS_SWEEP,
    PROFILE_REFRESH,
    PUBLISH_RETRY,
    STYLED_IMAGES_GENERATE,
    route_task,
    task_enqueue,
    task_queue,
)
from stylerec.services.recommendations import recommendations_invalidate

# The limits live in ``stylerec.task_limits`` (plain numbers the project settings read too: the
# broker's visibility timeout is derived from the longest).
from stylerec.task_limits import CPU_LIMITS, GPU_LIMITS, PRUNE_LIMITS, RETRY_BACKOFF_MAX

_RELIABLE: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name=ARTIFACTS_COMPUTE, **_RELIABLE, **GPU_LIMITS)
def artifacts_compute(kind: str, ids: list[int] | None = None, force: bool = False) -> dict[str, Any]:
    report = artifacts_compute_pending(kind=kind, ids=ids or [], force=force)
    if kind == REVIEW and (report.done or report.failed):
        reviews_follow_up(review_ids=[*report.done, *report.failed])
    return report.as_dict()


@shared_task(name=STYLED_IMAGES_GENERATE, **_RELIABLE, **GPU_LIMITS)
def styled_images_generate(ids: list[int] | None = None, force: bool = False) -> dict[str, Any]:
    """Styled images are the artifact kind "styled" now (``artifacts_compute``); this name stays
    for messages queued before the upgrade and hosts that call it."""
    return artifacts_compute_pending(kind=STYLED, ids=ids or [], force=force).as_dict()


@shared_task(name=AGGREGATES_UPDATE, **_RELIABLE, **CPU_LIMITS)
def product_aggregates_update(product_ids: list[int]) -> int:
    return products_sentiment_aggregate(product_ids=product_ids)


@shared_task(name=PROFILE_REFRESH, **_RELIABLE, **CPU_LIMITS)
def customer_profile_refresh(user_id: int | None = None, session_key: str = "") -> bool:
    profiles.customer_profile_refresh(user_id=user_id, session_key=session_key)
    recommendations_invalidate(user_id=user_id, session_key=session_key)  # they were made for the old taste
    return True


@shared_task(name=POOLS_BUILD, **_RELIABLE, **CPU_LIMITS)
def candidate_pools_build(user_id: int | None = None, session_key: str = "") -> int:
    built = pools.candidate_pools_build(user_id=user_id, session_key=session_key)
    recommendations_invalidate(user_id=user_id, session_key=session_key)  # made from the old pool
    return built


@shared_task(name=POOLS_SWEEP, **_RELIABLE, **CPU_LIMITS)
def candidate_pools_sweep(limit: int = 200) -> dict[str, int]:
    """End anonymous visitors' old pools and ask for the oldest pools' rebuild. Run by beat."""
    return pools.candidate_pools_sweep(limit=limit)


@shared_task(name=ARTIFACTS_SWEEP, **_RELIABLE, **CPU_LIMITS)
def artifacts_sweep(max_tasks: int = 200) -> int:
    """Send again what never made it to the broker (Redis was down when it was asked for): batches
    for pending or stale artifacts, and every other task that could not be sent (``PendingTask``:
    profile refreshes, aggregate updates). Run by beat every few minutes."""
    return artifacts.artifacts_sweep(max_tasks=max_tasks)


@shared_task(name=EVENTS_PRUNE, **_RELIABLE, **PRUNE_LIMITS)
def events_prune() -> dict[str, int]:
    """Delete raw events older than ``STYLEREC["EVENT_RETENTION_DAYS"]`` (and what anonymous
    visitors left that has not changed since). Run by beat once a day."""
    return privacy.events_prune()
