"""Writes to what serving reads: a customer's cached recommendations are dropped when their taste
changes (an event, a style choice, a refreshed profile)."""

from __future__ import annotations

import uuid

from stylerec.cache import cache_set, recommendation_version_key
from stylerec.conf import stylerec_settings
from stylerec.customers import Owner


def recommendations_invalidate(*, user_id: int | None, session_key: str = "") -> None:
    """Make every cached recommendation of this customer stale (their version token changes)."""
    owner = Owner(user_id=user_id, session_key=session_key)
    cache_set(
        recommendation_version_key(owner_key=owner.key),
        uuid.uuid4().hex,
        timeout=2 * stylerec_settings.CACHE_TIMEOUT,
    )
