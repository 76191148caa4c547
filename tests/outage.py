"""Helpers for the Redis-outage tests: a cache and a broker that nothing answers, and a broker
that is back (kombu's in-process ``memory://`` transport)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from celery import current_app
from django.test import override_settings
from kombu import pools

# Nothing listens on port 1: connections are refused at once.
REDIS_DOWN = "redis://127.0.0.1:1/0"
CACHES_DOWN = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_DOWN,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


def conf_override(**values: object) -> Callable[[], None]:
    """Override Celery settings; the returned function undoes it by removing the overrides (not by
    writing the old values back, which would pin them and hide later Django settings changes)."""
    changes = current_app.conf.changes
    before = {key: changes[key] for key in values if key in changes}
    current_app.conf.update(values)

    def restore() -> None:
        for key in values:
            if key in before:
                changes[key] = before[key]
            else:
                changes.pop(key, None)

    return restore


def _pools_reset() -> None:
    if current_app._pool is not None:
        current_app._pool.force_close_all()
    current_app._pool = None
    current_app.amqp._producer_pool = None
    pools.reset()  # kombu's producer pools, kept per broker URL: a closed one must not come back


@contextmanager
def broker(url: str, transport: dict | None = None) -> Iterator[None]:
    """Point this process's Celery app at ``url`` (the tests run eagerly otherwise)."""
    restore = conf_override(broker_url=url, task_always_eager=False, broker_transport_options=transport or {})
    _pools_reset()
    try:
        yield
    finally:
        restore()
        _pools_reset()


def broker_down() -> AbstractContextManager[None]:
    return broker(REDIS_DOWN, {"socket_connect_timeout": 1})


@contextmanager
def redis_down() -> Iterator[None]:
    """The cache and the broker both unreachable, as when the one Redis behind them is down.
    ``override_settings`` (not the ``settings`` fixture) so the caches are back before the autouse
    fixture clears them."""
    with override_settings(CACHES=CACHES_DOWN), broker_down():
        yield
