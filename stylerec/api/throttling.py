"""Rate limits for the write endpoints (events, reviews).

``ScopedRateThrottle`` reads its rates from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``; a host
that sets nothing still gets these defaults, and a host that sets a scope wins."""

from __future__ import annotations

from typing import cast

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

DEFAULT_RATES = {
    "stylerec.events": "240/min",  # a page view posts impressions for a few blocks at once
    "stylerec.reviews": "20/hour",
}


class StylerecScopedRateThrottle(ScopedRateThrottle):
    def get_rate(self) -> str | None:
        # DRF's rates are "N/period" strings or None; the stubs type the setting's values as numbers.
        host_rates = cast("dict[str, str | None]", api_settings.DEFAULT_THROTTLE_RATES or {})
        rates = {**DEFAULT_RATES, **host_rates}
        return rates.get(self.scope) if self.scope is not None else None

    def allow_request(self, request, view) -> bool:
        # Only writes are limited: reading reviews or one's own events must stay free.
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)
