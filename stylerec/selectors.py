"""Reads: recommendations and what the ranker knows about a customer.

``recommendations_for`` is the one entry point of serving (template tags, API, admin preview)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from django.utils.translation import get_language

from stylerec.cache import cache_get_many, cache_set, recommendation_version_key
from stylerec.conf import stylerec_settings
from stylerec.customers import Owner
from stylerec.ranking.collaborative import POPULARITY_MAX_KEY
from stylerec.ranking.context import style_weights_merge
from stylerec.ranking.profiles import (
    ACTIVE_PROFILE_KEY,
    profile_active,
    profile_cache_key,
    profile_for_request,
)
from stylerec.ranking.types import BLOCKS, RecommendationRequest, RecommendationResult

T = TypeVar("T")


def recommendation_cache_key(request: RecommendationRequest) -> str:
    owner = Owner(user_id=request.user_id, session_key=request.session_key)
    category = hashlib.sha1((request.category or "").encode()).hexdigest()[:10] if request.category else "-"
    context = request.product_id or "-"
    language = get_language() or "-"  # reasons are written in the language active while ranking
    # What the blocks above on the page show changes what this one may repeat.
    avoid = (
        hashlib.sha1(",".join(map(str, sorted(request.avoid))).encode()).hexdigest()[:10]
        if request.avoid
        else "-"
    )
    return (
        f"rec:{owner.key}:{request.block}:{context}:{category}:{request.k}:{int(request.explain)}:{language}"
        f":{avoid}"
    )


def _request_checked(request: RecommendationRequest) -> RecommendationRequest:
    if request.block not in BLOCKS:
        raise ValueError(f"unknown block {request.block!r}; expected one of {BLOCKS}")
    k = max(0, min(int(request.k), int(stylerec_settings.MAX_K)))
    return request if k == request.k else replace(request, k=k)


@dataclass
class _CacheLookup:
    """One cache round trip: what is cached for a request, and the stamp a cached entry must carry
    to be served (the customer's version token and the serving profile's key)."""

    found: dict[str, Any]
    result_key: str
    stamp: tuple[Any, Any]
    profile: Any

    def fresh(self, key: str) -> Any:
        entry = self.found.get(key)
        return entry[2] if entry is not None and (entry[0], entry[1]) == self.stamp else None


def _cache_lookup(request: RecommendationRequest, *extra_keys: str) -> _CacheLookup:
    owner = Owner(user_id=request.user_id, session_key=request.session_key)
    version_key = recommendation_version_key(owner_key=owner.key)
    result_key = recommendation_cache_key(request)
    # The popularity scale rides along: a block served from a pool then needs no other cache read.
    found = cache_get_many([version_key, result_key, ACTIVE_PROFILE_KEY, POPULARITY_MAX_KEY, *extra_keys])
    active = profile_active(cached=found.get(ACTIVE_PROFILE_KEY))
    profile = profile_for_request(user_id=request.user_id, session_key=request.session_key, active=active)
    return _CacheLookup(found, result_key, (found.get(version_key), profile_cache_key(profile)), profile)


def _result_from(request: RecommendationRequest, lookup: _CacheLookup) -> RecommendationResult:
    from stylerec.ranking.engine import recommend  # the engine pulls in numpy-heavy modules

    cached = lookup.fresh(lookup.result_key)
    if cached is not None:
        return replace(cached, cached=True)
    result = recommend(
        request, profile=lookup.profile, popularity_max_cached=lookup.found.get(POPULARITY_MAX_KEY)
    )
    cache_set(lookup.result_key, (*lookup.stamp, result))
    return result


def recommendations_for(request: RecommendationRequest) -> RecommendationResult:
    """Recommendations for a block, from the cache when the customer, context, block, k and the
    serving profile are unchanged. One cache round trip on a hit; any cache failure means the
    result is computed (and served) uncached."""
    from stylerec.ranking.engine import recommend

    request = _request_checked(request)
    if request.profile_id:  # admin preview of a chosen profile: always fresh
        return recommend(request)
    return _result_from(request, _cache_lookup(request))


def recommendations_rendered(
    request: RecommendationRequest, *, rendition: str, render: Callable[[RecommendationResult], T]
) -> tuple[T, bool]:
    """``(render(recommendations_for(request)), served from the cache)``, the rendering cached
    beside the result under the same stamp: a repeat costs the one cache round trip and no
    rendering (the API's serializers cost more than the cached read). ``rendition`` names the
    rendering and whatever it depends on beyond the request (e.g. the host in absolute URLs).
    What the result's products show may be as old as the result itself (``CACHE_TIMEOUT``)."""
    from stylerec.ranking.engine import recommend

    request = _request_checked(request)
    if request.profile_id:
        return render(recommend(request)), False
    rendered_key = f"{recommendation_cache_key(request)}:{hashlib.sha1(rendition.encode()).hexdigest()[:12]}"
    lookup = _cache_lookup(request, rendered_key)
    rendered = lookup.fresh(rendered_key)
    if rendered is not None:
        return rendered, True
    result = _result_from(request, lookup)
    rendered = render(result)
    cache_set(rendered_key, (*lookup.stamp, rendered))
    return rendered, result.cached


def customer_style_weights(*, user_id: int | None = None, session_key: str = "") -> dict[str, float]:
    """{style slug: weight in [-1, 1]} as the ranker sees it (explicit choices win over inferred)."""
    from stylerec.models import StylePreference

    owner = Owner(user_id=user_id, session_key=session_key)
    if not owner.known:
        return {}
    rows = StylePreference.objects.filter(owner.q(), style__is_active=True).values_list(
        "style__slug", "weight", "source"
    )
    return style_weights_merge(list(rows))
