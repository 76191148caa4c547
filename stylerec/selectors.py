"""Reads: recommendations and what the ranker knows about a customer.

``recommendations_for`` is the one entry point of serving (template tags, API, admin preview)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

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
    # The popularity scale rides along: a block served from a pool then needs no other cache read.
    found = cache_get_many([version_key, result_key, ACTIVE_PROFILE_KEY, POPULARITY_MAX_KEY])
    active = profile_active(cached=found.get(ACTIVE_PROFILE_KEY))
    profile = profile_for_request(user_id=request.user_id, session_key=request.session_key, active=active)
    profile_key = profile_cache_key(profile)
    version = found.get(version_key)
    entry = found.get(result_key)
    if entry is not None and entry[0] == version and entry[1] == profile_key:
        return replace(entry[2], cached=True)
    result = recommend(request, profile=profile, popularity_max_cached=found.get(POPULARITY_MAX_KEY))
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


# --------------------------------------------------------------------------- review aspects
ASPECT_SUMMARY_MIN_REVIEWS = 3  # fewer reviews saying the same thing is an anecdote, not a summary
_SIZING_WORDS = {"small": "runs small", "large": "runs large", "true": "true to size"}


def product_aspect_summary(*, product_id: int, min_reviews: int = ASPECT_SUMMARY_MIN_REVIEWS) -> list[dict]:
    """What the product's reviews say about its aspects, most-said first: ``{"aspect", "verdict",
    "reviews", "polarity"}`` such as ``("fit", "runs small", 12, -1)`` or ``("quality", "positive",
    5, 1)``. Read from ``Review.preferences`` (the sizing direction from its ``sizing`` mentions,
    every other aspect's from the side most reviews take); each review counts once per aspect, and
    only what at least ``min_reviews`` reviews say is reported."""
    from collections import Counter

    from stylerec.models import Review

    votes: Counter[tuple[str, str, int]] = Counter()
    for preferences in Review.objects.filter(product_id=product_id).values_list("preferences", flat=True):
        said: set[tuple[str, str, int]] = set()
        for pref in preferences or []:
            kind, key, polarity = pref.get("kind"), pref.get("key"), int(pref.get("polarity", 0))
            if kind == "sizing" and key in _SIZING_WORDS:
                said.add(("fit", _SIZING_WORDS[key], polarity))
            elif kind == "aspect" and key != "size" and polarity:  # "size" is told by its direction
                said.add((key, "positive" if polarity > 0 else "negative", polarity))
        votes.update(said)
    best: dict[str, tuple[str, str, int]] = {}
    for item, count in votes.items():
        if item[0] not in best or count > votes[best[item[0]]]:
            best[item[0]] = item
    rows = [
        {
            "aspect": aspect,
            "verdict": verdict,
            "reviews": votes[(aspect, verdict, polarity)],
            "polarity": polarity,
        }
        for aspect, verdict, polarity in best.values()
        if votes[(aspect, verdict, polarity)] >= min_reviews
    ]
    return sorted(rows, key=lambda row: (-row["reviews"], row["aspect"]))
