"""Thin Celery tasks of the ranker. (The customer profile refresh task lives with the pipeline's
tasks, ``stylerec.tasks.customer_profile_refresh``, and calls ``services.profiles``.)"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="stylerec.ranking.collaborative_refresh", ignore_result=True)
def collaborative_refresh_task() -> dict[str, int]:
    """Periodic (Celery beat): decayed popularity and item-item neighbour lists."""
    from stylerec.ranking.collaborative import collaborative_refresh

    return collaborative_refresh()
