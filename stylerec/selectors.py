"""Reads: recommendations and what the ranker knows about a customer.

``recommendations_for`` is the one entry point of serving (template tags, API, admin preview)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from django.utils.translation import get_language

from stylerec.cache import cache_get_many, cache_set, recommendation_version_key
from stylerec.conf import stylerec_settings
from stylerec.customers import Owner
from stylerec.ranking.context import style_weights_merge
from stylerec.ranking.profiles import (
    ACTIVE_PROFILE_KEY,
    profile_active,
    profile_cache_key,
    profile_for_request,
)
from stylerec.ranking.types import BLOCKS, RecommendationRequest, RecommendationResult


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


def recommendations_for(request: RecommendationRequest) -> RecommendationResult:
    """Recommendations for a block, from the cache when the customer, context, block, k and the
    serving profile are unchanged. One cache round trip on a hit; any cache failure means the
    result is computed (and served) uncached."""
    from stylerec.ranking.engine import recommend  # the engine pulls in numpy-heavy modules

    if request.block not in BLOCKS:
        raise ValueError(f"unknown block {request.block!r}; expected one of {BLOCKS}")
    k = max(0, min(int(request.k), int(stylerec_settings.MAX_K)))
    if k != request.k:
        request = replace(request, k=k)
    if request.profile_id:  # admin preview of a chosen profile: always fresh
        return recommend(request)
    owner = Owner(user_id=request.user_id, session_key=request.session_key)
    version_key = recommendation_version_key(owner_key=owner.key)
    result_key = recommendation_cache_key(request)
    found = cache_get_many([version_key, result_key, ACTIVE_PROFILE_KEY])
    active = profile_active(cached=found.get(ACTIVE_PROFILE_KEY))
    profile = profile_for_request(user_id=request.user_id, session_key=request.session_key, active=active)
    profile_key = profile_cache_key(profile)
    version = found.get(version_key)
    entry = found.get(result_key)
    if entry is not None and entry[0] == version and entry[1] == profile_key:
        return replace(entry[2], cached=True)
    result = recommend(request, profile=profile)
    cache_set(result_key, (version, profile_key, result))
    return result


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
