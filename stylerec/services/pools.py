"""Writes: customers' candidate pools (``ranking.pools``), built by workers.

A customer's pools are rebuilt with their profile (``services.profiles.customer_profile_refresh``,
run on every profile-changing event: view, click, cart, purchase, search, review, style choice),
when a request finds one missing or older than ``POOL_REFRESH_AGE`` (``candidate_pools_request``),
and by the periodic sweep (``candidate_pools_sweep``), which also ends anonymous visitors' pools."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from stylerec.cache import cache_add
from stylerec.customers import Owner
from stylerec.models import CandidatePool
from stylerec.ranking.engine import pool_compute
from stylerec.ranking.pools import POOL_BLOCKS, POOL_REFRESH_AGE, SESSION_POOL_LIFETIME
from stylerec.ranking.profiles import profile_for_request
from stylerec.services import queue

# A customer whose pool is missing asks for it once in this many seconds, however many blocks
# and pages they load meanwhile.
POOL_REQUEST_DEBOUNCE = 30


def candidate_pools_build(*, user_id: int | None = None, session_key: str = "") -> int:
    """Compute and store the customer's pools (every block of ``POOL_BLOCKS``) on the primary
    database; the number stored. Idempotent: a rebuild replaces the rows."""
    owner = Owner(user_id=user_id, session_key="" if user_id else session_key)
    if not owner.known:
        return 0
    if owner.user_id and not get_user_model().objects.filter(pk=owner.user_id).exists():
        return 0  # asked for before the account was deleted
    profile = profile_for_request(user_id=owner.user_id, session_key=owner.session_key)
    for block in POOL_BLOCKS:
        stored = pool_compute(owner=owner, block=block, profile=profile)
        CandidatePool.objects.update_or_create(
            **owner.fields(),
            block=block,
            defaults={
                "product_ids": stored.ids.tolist(),
                "signals": stored.signals_bytes(),
                "sources": stored.sources_bytes(),
                "inputs": stored.inputs,
                "built_at": timezone.now(),
            },
        )
    return len(POOL_BLOCKS)


def candidate_pools_request(*, owner: Owner) -> bool:
    """Ask a worker to build the customer's pools (run here in eager mode); at most once per
    ``POOL_REQUEST_DEBOUNCE`` seconds per customer. True when asked."""
    if not owner.known or not cache_add(
        f"pool:wanted:{owner.key}", 1, timeout=POOL_REQUEST_DEBOUNCE, what="candidate pool requests"
    ):
        return False
    return queue.task_enqueue(queue.POOLS_BUILD, owner.user_id, owner.session_key)


def candidate_pools_sweep(*, limit: int = 200) -> dict[str, int]:
    """Delete anonymous visitors' pools not rebuilt for ``SESSION_POOL_LIFETIME`` and ask for the
    ``limit`` oldest pools built before ``POOL_REFRESH_AGE`` to be rebuilt (new products reach
    them so; a product deactivated or sold out is filtered when served, whatever a pool's age)."""
    now = timezone.now()
    expired, _ = CandidatePool.objects.filter(
        user__isnull=True, built_at__lt=now - SESSION_POOL_LIFETIME
    ).delete()
    stale = (
        CandidatePool.objects.filter(Q(built_at__lt=now - POOL_REFRESH_AGE))
        .order_by("built_at")
        .values_list("user_id", "session_key")
        .distinct()[:limit]
    )
    sent = sum(queue.task_enqueue(queue.POOLS_BUILD, user_id, session_key) for user_id, session_key in stale)
    return {"expired": expired, "rebuilds_sent": sent}
