"""The API's rate limits: ``stylerec.throttling`` (shared with the plain form views), importable
here too, where ``REST_FRAMEWORK`` settings of existing hosts may name them."""

from __future__ import annotations

from stylerec.throttling import (
    DEFAULT_RATES,
    THROTTLE_MESSAGES,
    StylerecScopedRateThrottle,
    ThrottleMessageMixin,
    client_ip,
)

__all__ = [
    "DEFAULT_RATES",
    "THROTTLE_MESSAGES",
    "StylerecScopedRateThrottle",
    "ThrottleMessageMixin",
    "client_ip",
]
