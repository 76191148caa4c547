"""Django-cache access that never breaks serving, and the keys every layer shares.

Every call goes through ``stylerec_settings.CACHE_ALIAS``; any backend error (Redis down, a
timeout, a pickling problem) is logged and treated as a miss, so recommendations are then served
uncached instead of failing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import caches

from stylerec.conf import stylerec_settings

logger = logging.getLogger("stylerec.ranking")

PREFIX = "stylerec:"


def _cache() -> Any:
    return caches[stylerec_settings.CACHE_ALIAS]


def cache_get_many(keys: list[str]) -> dict[str, Any]:
    try:
        found = _cache().get_many([PREFIX + key for key in keys])
    except Exception:  # noqa: BLE001 - a cache outage must not break serving
        logger.warning("stylerec cache read failed; serving uncached", exc_info=True)
        return {}
    return {key[len(PREFIX) :]: value for key, value in found.items()}


def cache_get(key: str) -> Any:
    return cache_get_many([key]).get(key)


def cache_set_many(values: dict[str, Any], *, timeout: int | None = None) -> None:
    try:
        _cache().set_many(
            {PREFIX + key: value for key, value in values.items()},
            timeout=stylerec_settings.CACHE_TIMEOUT if timeout is None else timeout,
        )
    except Exception:  # noqa: BLE001
        logger.warning("stylerec cache write failed", exc_info=True)


def cache_set(key: str, value: Any, *, timeout: int | None = None) -> None:
    cache_set_many({key: value}, timeout=timeout)


def cache_delete(key: str) -> None:
    try:
        _cache().delete(PREFIX + key)
    except Exception:  # noqa: BLE001
        logger.warning("stylerec cache delete failed", exc_info=True)


def recommendation_version_key(*, owner_key: str) -> str:
    """The key of a customer's version token: cached recommendations carry the token they were
    made under, so replacing it (``services.recommendations``) makes them all stale at once."""
    return f"ver:{owner_key}"
