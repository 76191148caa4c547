"""Rate limits for the write endpoints: events, reviews, and the host's sign-up form. The API's
views use ``StylerecScopedRateThrottle`` (also importable as ``stylerec.api.throttling``), plain
views ``throttle_view``.

``ScopedRateThrottle`` reads its rates from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``; a host
that sets nothing still gets these defaults, and a host that sets a scope wins.

Who is limited: a signed-in customer by their account, anybody else by their address, which is
``client_ip``: DRF's ``NUM_PROXIES`` rule, except that an unset ``NUM_PROXIES`` trusts no proxy
(DRF would then key on the whole, client-written ``X-Forwarded-For`` header, so a client could
name a new "address" with every request). Behind N reverse proxies of your own, set
``REST_FRAMEWORK["NUM_PROXIES"] = N``.

Plain Django views (stylerec's form endpoints, a host's sign-up and review forms) use the same
throttle through the ``throttle_view(scope)`` decorator, which answers 429 with a message and
``Retry-After``.

While the cache is unreachable (Redis down) the counts go on in each web process's memory
(``stylerec.cache.LocalFallbackCache``), with one warning a minute: the limits get looser (each
process counts on its own) but stay on, so a cache outage never opens the review, event and sign-up
endpoints to floods, nor answers 500.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, NoReturn, cast

from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from stylerec.cache import LocalFallbackCache

DEFAULT_RATES = {
    "stylerec.events": "240/min",  # a page view posts impressions for a few blocks at once
    "stylerec.reviews": "20/hour",  # the review API and the store's review form share it
    "stylerec.signup": "10/hour",  # per address: for the host's sign-up view (throttle_view)
}
THROTTLE_MESSAGES = {
    "stylerec.events": "Too many events from this customer.",
    "stylerec.reviews": "Too many reviews from this account.",
    "stylerec.signup": "Too many sign-ups from this address.",
}


def client_ip(request: Any) -> str:
    """The address of the client behind ``request``: ``REMOTE_ADDR`` unless
    ``REST_FRAMEWORK["NUM_PROXIES"]`` names N trusted proxies, then the N-th address from the
    right of ``X-Forwarded-For`` (each proxy appends the address it got the request from)."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    num_proxies = api_settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not num_proxies or not forwarded:  # None (unset) or 0: trust no header
        return remote
    addrs = [addr.strip() for addr in str(forwarded).split(",")]
    return addrs[-min(int(num_proxies), len(addrs))] or remote


def throttle_message(scope: str | None) -> str:
    return THROTTLE_MESSAGES.get(scope or "", "Too many requests.")


class StylerecScopedRateThrottle(ScopedRateThrottle):
    @property
    def cache(self) -> Any:  # type: ignore[override]  # DRF's is a class attribute
        """DRF's cache (Django's default), counting in this process while it is unreachable."""
        return LocalFallbackCache(ScopedRateThrottle.cache, what="throttle")

    def get_rate(self) -> str | None:
        # DRF's rates are "N/period" strings or None; the stubs type the setting's values as numbers.
        host_rates = cast("dict[str, str | None]", api_settings.DEFAULT_THROTTLE_RATES or {})
        rates = {**DEFAULT_RATES, **host_rates}
        return rates.get(self.scope) if self.scope is not None else None

    def get_ident(self, request: Any) -> str:
        return client_ip(request)

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = getattr(request, "user", None)  # a plain view may run without the auth middleware
        ident = str(user.pk) if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        # Only writes are limited: reading reviews or one's own events must stay free.
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


class ThrottleMessageMixin:
    """For API views with a ``throttle_scope``: the 429 says what was limited."""

    throttle_scope: str | None = None

    def throttled(self, request: Any, wait: float | None) -> NoReturn:
        raise Throttled(wait=wait, detail=throttle_message(self.throttle_scope))


def throttled_response(scope: str, wait: float | None) -> HttpResponse:
    """The 429 of a plain view: the message, when to come back, and ``Retry-After``."""
    seconds = max(1, math.ceil(wait)) if wait is not None else None
    text = throttle_message(scope) + (f" Try again in {seconds} seconds." if seconds else "")
    response = HttpResponse(text, status=429, content_type="text/plain; charset=utf-8")
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def throttle_check(request: HttpRequest, *, scope: str) -> HttpResponse | None:
    """None when ``request`` is within ``scope``'s rate (and counts it), else the 429 to answer."""
    throttle = StylerecScopedRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        return None
    return throttled_response(scope, throttle.wait())


def throttle_view(scope: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Limit a plain Django view's writes (POST & co.) to ``scope``'s rate; beyond it, 429."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return throttle_check(request, scope=scope) or view(request, *args, **kwargs)

        return wrapped

    return decorator
