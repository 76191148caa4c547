"""Rate limits for the write endpoints (events, reviews).

``ScopedRateThrottle`` reads its rates from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``; a host
that sets nothing still gets these defaults, and a host that sets a scope wins."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

DEFAULT_RATES = {
    "stylerec.events": "240/min",  # a page view posts impressions for a few blocks at once
    "stylerec.reviews": "20/hour",
}


class StylerecScopedRateThrottle(ScopedRateThrottle):
    def get_rate(self) -> str | None:
        rates = {**DEFAULT_RATES, **(api_settings.DEFAULT_THROTTLE_RATES or {})}
        return rates.get(self.scope)

    def allow_request(self, request, view) -> bool:
        # Only writes are limited: reading reviews or one's own events must stay free.
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)
