"""Django-cache access that never breaks serving, and the keys every layer shares.

Every call goes through ``stylerec_settings.CACHE_ALIAS``; any backend error (Redis down, a
timeout, a pickling problem) is logged and treated as a miss, so recommendations are then served
uncached instead of failing. An outage is logged once a minute per kind of access
(``cache_outage_log``), not once per request.

Counts and debounces (the throttles, the styled-image request debounce) fall back to a cache in
this process instead (``LocalFallbackCache``, ``cache_add``): per process they are approximate,
which beats turning them off. Never for values another process invalidates (recommendations).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from stylerec.conf import stylerec_settings

logger = logging.getLogger("stylerec.ranking")

PREFIX = "stylerec:"

# One warning per minute and per kind of failing access, however many requests fail meanwhile.
OUTAGE_LOG_INTERVAL = 60.0
_outage_logged: dict[str, float] = {}
_outage_lock = threading.Lock()

# Where counts and debounces go while the shared cache is unreachable: this process's memory.
_local = LocMemCache("stylerec-local-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


def cache_outage_log(what: str, *, log: logging.Logger | None = None) -> None:
    """Log the exception being handled as a cache failure of ``what`` (e.g. "read"), with its
    traceback, at most once a minute per ``what``: an outage must not write one per request."""
    now = time.monotonic()
    with _outage_lock:
        last = _outage_logged.get(what)
        if last is not None and now - last < OUTAGE_LOG_INTERVAL:
            return
        _outage_logged[what] = now
    (log or logger).warning(
        "stylerec: the cache is unavailable (%s); carrying on without it (logged once a minute)",
        what,
        exc_info=True,
    )


def _cache() -> Any:
    return caches[stylerec_settings.CACHE_ALIAS]


def cache_get_many(keys: list[str]) -> dict[str, Any]:
    try:
        found = _cache().get_many([PREFIX + key for key in keys])
    except Exception:  # noqa: BLE001 - a cache outage must not break serving
        cache_outage_log("read; serving uncached")
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
        cache_outage_log("write")


def cache_set(key: str, value: Any, *, timeout: int | None = None) -> None:
    # One SET with its expiry: ``set_many`` of one key is a MULTI/MSET/EXPIRE/EXEC pipeline on
    # Redis, measurably dearer on every uncached block.
    try:
        _cache().set(
            PREFIX + key, value, timeout=stylerec_settings.CACHE_TIMEOUT if timeout is None else timeout
        )
    except Exception:  # noqa: BLE001
        cache_outage_log("write")


def cache_delete(key: str) -> None:
    try:
        _cache().delete(PREFIX + key)
    except Exception:  # noqa: BLE001
        cache_outage_log("delete")


class _ClientPerPool(RedisCacheClient):
    """Django's Redis client builds a new ``redis.Redis`` for every call. Its ``__init__`` fills two
    case-insensitive tables of about 80 response callbacks each, which was a fifth of a cached
    block. One client per connection pool is enough: a ``redis.Redis`` is thread-safe and takes
    its connections from the pool, which also handles forks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own get_client, memoised (its helpers are private: django-stubs omits them; the
        # tests run this class against a real Redis, so a Django that renames them fails there)
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))  # pools live as long as this object: ids are stable
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    """Django's ``RedisCache``, reusing one Redis client per connection pool (``_ClientPerPool``).
    Give it as the ``BACKEND`` of the cache stylerec uses (``CACHE_ALIAS``); everything else,
    ``LOCATION`` and ``OPTIONS`` included, is Django's."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ClientPerPool


class LocalFallbackCache:
    """The part of a Django cache's API that counts and debounces use (``get``, ``set``, ``add``),
    on ``primary`` while it answers and on this process's memory while it fails: limits stay on,
    per process, during a Redis outage. Not for values another process invalidates."""

    def __init__(self, primary: Any, *, what: str) -> None:
        self.primary = primary
        self.what = what

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self.primary.get(key, default)
        except Exception:  # noqa: BLE001 - a cache outage must not break serving
            cache_outage_log(f"{self.what}; counting in this process")
            return _local.get(key, default)

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> None:
        try:
            self.primary.set(key, value, timeout)
        except Exception:  # noqa: BLE001
            cache_outage_log(f"{self.what}; counting in this process")
            _local.set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        try:
            return bool(self.primary.add(key, value, timeout))
        except Exception:  # noqa: BLE001
            cache_outage_log(f"{self.what}; counting in this process")
            return bool(_local.add(key, value, timeout))


def cache_add(key: str, value: Any, *, timeout: int, what: str) -> bool:
    """``cache.add`` (True when the key was not there) on stylerec's cache, or on this process's
    memory while that cache is unreachable: for debounces."""
    return LocalFallbackCache(_cache(), what=what).add(PREFIX + key, value, timeout)


def recommendation_version_key(*, owner_key: str) -> str:
    """The key of a customer's version token: cached recommendations carry the token they were
    made under, so replacing it (``services.recommendations``) makes them all stale at once."""
    return f"ver:{owner_key}"
