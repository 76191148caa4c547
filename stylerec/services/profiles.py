"""Writes: a customer's taste, kept up to date from what they do and write.

``customer_profile_refresh`` rebuilds one customer's (user or anonymous session) profile vectors
and their inferred style preferences. Explicit choices are never touched here."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from stylerec.customers import INTERACTION_WEIGHTS, MAX_RECENT_INTERACTIONS, Owner, recency_weight
from stylerec.db import product_table, rows_fetch
from stylerec.models import CustomerProfile, Interaction, Review, Style, StylePreference
from stylerec.services.pools import candidate_pools_build

REVIEW_WEIGHT = 3.0  # a review says about as much as adding to cart, signed by its sentiment
SENTIMENT_GAIN = 1.5  # weight × (1 + 1.5·s): a negative review (s = -1) turns a purchase into a push away
MIN_INFERRED_WEIGHT = 0.05
MAX_SEARCHES = 100


def review_sentiment(*, sentiment_score: float | None, rating: int) -> float:
    """The review's sentiment in [-1, 1]; the star rating stands in until the model has run."""
    if sentiment_score is not None:
        return max(-1.0, min(1.0, float(sentiment_score)))
    return (rating - 3) / 2.0


def interaction_weights(*, owner: Owner) -> dict[int, float]:
    """product id -> signed weight: kind × recency over recent interactions, scaled by the
    sentiment of the customer's own review of that product; reviewed-only products count too."""
    now = timezone.now()
    weights: dict[int, float] = defaultdict(float)
    events = (
        Interaction.objects.filter(owner.q(), product__isnull=False, kind__in=list(INTERACTION_WEIGHTS))
        .order_by("-created_at")
        .values_list("product_id", "kind", "created_at")[:MAX_RECENT_INTERACTIONS]
    )
    for pid, kind, created_at in events:
        weights[pid] += INTERACTION_WEIGHTS[kind] * recency_weight(created_at=created_at, now=now)
    if owner.user_id:
        reviews = Review.objects.filter(user_id=owner.user_id).values_list(
            "product_id", "sentiment_score", "rating", "created_at"
        )
        for pid, score, rating, created_at in reviews:
            sentiment = review_sentiment(sentiment_score=score, rating=rating)
            if pid in weights:
                weights[pid] *= 1.0 + SENTIMENT_GAIN * sentiment
            else:
                weights[pid] = REVIEW_WEIGHT * sentiment * recency_weight(created_at=created_at, now=now)
    return {pid: w for pid, w in weights.items() if w}


def _weighted_unit_sum(vectors: Iterable[tuple[float, Any]]) -> list[float] | None:
    total = None
    for weight, vector in vectors:
        if vector is None:
            continue
        vec = np.asarray(vector, dtype=np.float64)
        norm = np.linalg.norm(vec)
        if norm == 0:
            continue
        total = weight * vec / norm if total is None else total + weight * vec / norm
    if total is None or np.linalg.norm(total) < 1e-9:
        return None
    return (total / np.linalg.norm(total)).astype(np.float32).tolist()


def _style_matchers(styles: list[Style]) -> dict[str, list[re.Pattern[str]]]:
    """Per style slug, patterns for its name, slug and keywords (whole words for Latin script,
    substrings for CJK, where words are not space-separated)."""
    matchers: dict[str, list[re.Pattern[str]]] = {}
    for style in styles:
        words = {style.name, style.name_zh, style.slug.replace("-", " "), *style.keyword_list}
        patterns = []
        for word in filter(None, (w.strip().lower() for w in words)):
            patterns.append(re.compile(rf"\b{re.escape(word)}\b" if word.isascii() else re.escape(word)))
        matchers[style.slug] = patterns
    return matchers


def _matches(text: str, patterns: list[re.Pattern[str]]) -> bool:
    lowered = text.lower()
    return any(p.search(lowered) for p in patterns)


def inferred_styles_from_behaviour(
    *, weights: dict[int, float], style_scores: dict[int, dict]
) -> dict[str, float]:
    total = sum(abs(w) for w in weights.values())
    if not total:
        return {}
    acc: dict[str, float] = defaultdict(float)
    for pid, weight in weights.items():
        for slug, score in (style_scores.get(pid) or {}).items():
            acc[slug] += weight * float(score or 0.0)
    return {slug: value / total for slug, value in acc.items()}


def inferred_styles_from_reviews(
    *, owner: Owner, matchers: dict[str, list[re.Pattern[str]]]
) -> dict[str, float]:
    """Mean polarity of the style preferences extracted from the customer's reviews."""
    if not owner.user_id:
        return {}
    found: dict[str, list[float]] = defaultdict(list)
    for preferences in Review.objects.filter(user_id=owner.user_id).values_list("preferences", flat=True):
        for pref in preferences or []:
            if not isinstance(pref, dict):
                continue
            key = str(pref.get("key", ""))
            polarity = pref.get("polarity", 1.0)
            if isinstance(polarity, str):
                polarity = {"positive": 1.0, "negative": -1.0}.get(polarity.lower(), 0.0)
            for slug, patterns in matchers.items():
                if key == slug or _matches(key, patterns):
                    found[slug].append(float(polarity))
    return {slug: sum(values) / len(values) for slug, values in found.items()}


def inferred_styles_from_searches(
    *, owner: Owner, matchers: dict[str, list[re.Pattern[str]]]
) -> dict[str, float]:
    """Each search naming a style adds to it, recent searches more: 0.4 for one, up to 1."""
    now = timezone.now()
    acc: dict[str, float] = defaultdict(float)
    searches = (
        Interaction.objects.filter(owner.q(), kind=Interaction.Kind.SEARCH)
        .exclude(query="")
        .order_by("-created_at")
        .values_list("query", "created_at")[:MAX_SEARCHES]
    )
    for query, created_at in searches:
        for slug, patterns in matchers.items():
            if _matches(query, patterns):
                acc[slug] += recency_weight(created_at=created_at, now=now)
    return {slug: min(1.0, 0.2 + 0.2 * value) for slug, value in acc.items() if value > 0}


def _preferences_replace(
    *, owner: Owner, source: str, weights: dict[str, float], styles: dict[str, Style]
) -> None:
    kept = {
        slug: max(-1.0, min(1.0, w))
        for slug, w in weights.items()
        if slug in styles and abs(w) >= MIN_INFERRED_WEIGHT
    }
    existing = StylePreference.objects.filter(owner.q(), source=source)
    existing.exclude(style__slug__in=list(kept)).delete()
    for slug, weight in kept.items():
        StylePreference.objects.update_or_create(
            **owner.fields(), style=styles[slug], source=source, defaults={"weight": weight}
        )


def customer_profile_refresh(*, user_id: int | None = None, session_key: str = "") -> CustomerProfile | None:
    """Rebuild the customer's text/image profile vectors and inferred style preferences.

    Vectors: the normalised sum of the unit vectors of the products they interacted with,
    weighted by kind (purchase 4 > cart 3 > click 2 > view 1), recency (half-life 30 days) and the
    sentiment of their own review of the product. Styles: from review preferences, style words in
    searches and the ``style_scores`` of what they interacted with (sources reviews / searches /
    behaviour)."""
    owner = Owner(user_id=user_id, session_key=session_key)
    if not owner.known:
        return None
    if owner.user_id and not get_user_model().objects.filter(pk=owner.user_id).exists():
        return None  # a refresh queued before the account was deleted: nothing to rebuild
    weights = interaction_weights(owner=owner)
    table, pk = product_table()
    rows = (
        rows_fetch(
            f"SELECT {pk}, text_embedding, image_embedding, style_scores FROM {table} WHERE {pk} = ANY(%s)",
            [list(weights)],
        )
        if weights
        else []
    )
    text_vector = _weighted_unit_sum((weights[pid], text) for pid, text, _, _ in rows)
    image_vector = _weighted_unit_sum((weights[pid], image) for pid, _, image, _ in rows)
    styles = {style.slug: style for style in Style.objects.filter(is_active=True)}
    matchers = _style_matchers(list(styles.values()))
    with transaction.atomic():
        if owner.user_id:
            profile, _ = CustomerProfile.objects.update_or_create(
                user_id=owner.user_id,
                defaults={
                    "text_vector": text_vector,
                    "image_vector": image_vector,
                    "interaction_count": len(weights),
                },
            )
        else:
            profile, _ = CustomerProfile.objects.update_or_create(
                user=None,
                session_key=owner.session_key,
                defaults={
                    "text_vector": text_vector,
                    "image_vector": image_vector,
                    "interaction_count": len(weights),
                },
            )
        _preferences_replace(
            owner=owner,
            source=StylePreference.Source.BEHAVIOUR,
            weights=inferred_styles_from_behaviour(
                weights=weights, style_scores={pid: scores for pid, _, _, scores in rows}
            ),
            styles=styles,
        )
        _preferences_replace(
            owner=owner,
            source=StylePreference.Source.REVIEWS,
            weights=inferred_styles_from_reviews(owner=owner, matchers=matchers),
            styles=styles,
        )
        _preferences_replace(
            owner=owner,
            source=StylePreference.Source.SEARCHES,
            weights=inferred_styles_from_searches(owner=owner, matchers=matchers),
            styles=styles,
        )
    # The candidate pools are made from this profile: rebuilt with it, in the same worker task.
    candidate_pools_build(user_id=owner.user_id, session_key=owner.session_key)
    return profile


def _customer(user_id: int | None, session_key: str) -> tuple[int | None, str]:
    return (user_id, "") if user_id else (None, session_key)


def customers_needing_refresh(*, force: bool = False) -> list[Owner]:
    """Customers with a history (interactions with products, reviews) or a profile whose profile
    is missing or older than the newest product vector, style score or review artifact: it was
    built from what was there before (after a first backfill: every profile). Everyone with
    ``force``. Signed-in customers first."""
    from django.db.models import Max

    from stylerec.models import ArtifactState, ArtifactStatus
    from stylerec.services.artifacts import PRODUCT_KINDS, REVIEW

    built = {
        _customer(user_id, session_key): updated_at
        for user_id, session_key, updated_at in CustomerProfile.objects.values_list(
            "user_id", "session_key", "updated_at"
        ).iterator()
    }
    customers = set(built)
    events = Interaction.objects.filter(product__isnull=False).order_by()
    history = events.values_list("user_id", "session_key")
    customers.update(_customer(user_id, key) for user_id, key in history.distinct().iterator())
    reviewers = Review.objects.filter(user__isnull=False).order_by().values_list("user_id", flat=True)
    customers.update((user_id, "") for user_id in reviewers.distinct().iterator())
    customers.discard((None, ""))
    if not force:
        newest = ArtifactState.objects.filter(
            kind__in=[*PRODUCT_KINDS, REVIEW], status=ArtifactStatus.READY
        ).aggregate(newest=Max("updated_at"))["newest"]
        customers = {c for c in customers if c not in built or (newest is not None and built[c] < newest)}
    ordered = sorted(customers, key=lambda c: (c[0] is None, c[0] or 0, c[1]))
    return [Owner(user_id=user_id, session_key=session_key) for user_id, session_key in ordered]
