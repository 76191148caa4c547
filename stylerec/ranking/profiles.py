"""Which RankingProfile serves a request: the active one, or its A/B challenger for a stable
share of customers.

The active profile (with its challenger) is read once and kept in the stylerec cache for a short
while, so a cached recommendation costs no database query; saving or deleting any profile drops
that entry in this process at once, other processes see the change within
``ACTIVE_PROFILE_TIMEOUT`` seconds.
"""

from __future__ import annotations

import hashlib

from django.db.models.signals import post_delete, post_save

from stylerec.cache import cache_delete, cache_get, cache_set
from stylerec.models import RankingProfile

ACTIVE_PROFILE_KEY = "profile:active"
ACTIVE_PROFILE_TIMEOUT = 30
_NONE = "none"  # cached marker: no active profile


def profile_default() -> RankingProfile:
    """An unsaved profile with the model's default weights, used when none is active."""
    return RankingProfile(name="default")


def profile_active(*, cached: object = None) -> RankingProfile:
    """The active profile (challenger preloaded), or the unsaved default. ``cached`` is what the
    caller already read from ``ACTIVE_PROFILE_KEY`` (saves a cache round trip)."""
    cached = cached if cached is not None else cache_get(ACTIVE_PROFILE_KEY)
    if cached == _NONE:
        return profile_default()
    if isinstance(cached, RankingProfile):
        return cached
    profile = RankingProfile.objects.filter(is_active=True).select_related("challenger").first()
    cache_set(ACTIVE_PROFILE_KEY, profile or _NONE, timeout=ACTIVE_PROFILE_TIMEOUT)
    return profile or profile_default()


def ab_bucket(*, profile_id: int | None, user_id: int | None, session_key: str) -> float:
    """A stable number in [0, 1) for this customer (user id, else session key) and experiment:
    the same customer always lands in the same arm while the experiment runs."""
    who = f"u{user_id}" if user_id else f"s{session_key}"
    digest = hashlib.sha256(f"stylerec-ab:{profile_id}:{who}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def profile_for_request(
    *, user_id: int | None, session_key: str, active: RankingProfile | None = None
) -> RankingProfile:
    """The active profile, or its challenger when this customer's bucket falls in
    ``challenger_share``. Anonymous visitors without a session always get the active profile."""
    active = active or profile_active()
    challenger = active.challenger if active.challenger_id else None
    if challenger is None or active.challenger_share <= 0 or not (user_id or session_key):
        return active
    bucket = ab_bucket(profile_id=active.pk, user_id=user_id, session_key=session_key)
    return challenger if bucket < active.challenger_share else active


def profile_cache_key(profile: RankingProfile) -> str:
    """Identifies the profile's current settings in cache keys: id, version and last save."""
    if profile.pk is None:
        return "default"
    stamp = int(profile.updated_at.timestamp() * 1_000_000) if profile.updated_at else 0
    return f"{profile.pk}.{profile.version}.{stamp}"


def _drop_active_profile(**kwargs: object) -> None:
    cache_delete(ACTIVE_PROFILE_KEY)


post_save.connect(_drop_active_profile, sender=RankingProfile, dispatch_uid="stylerec_ranking_profile_saved")
post_delete.connect(
    _drop_active_profile, sender=RankingProfile, dispatch_uid="stylerec_ranking_profile_deleted"
)
