"""Review aggregates of a product, made hard to game.

* **One voice per customer**: only a customer's latest review of a product counts, so posting ten
  reviews moves nothing ten times. Reviews without an account count each (they cannot be told
  apart) but at the unverified weight.
* **Verified purchases weigh more** than other reviews (``VERIFIED_WEIGHT`` vs ``UNVERIFIED_WEIGHT``).
* **New accounts weigh less**: a signed-in author's review weighs × the author's trust
  (``stylerec.trust``: account age and verified orders), and reviews by new authors together
  weigh at most as much as the product's other reviews: forty reviews from accounts made today
  give a product no sentiment score of its own, and barely move one that has honest reviews.
* **Bayesian average** of review sentiment: the weighted mean is pulled toward the catalogue-wide
  mean sentiment by ``PRIOR_STRENGTH`` pseudo-reviews, so one glowing review on a new product does
  not outrank a hundred good ones; the pull fades as real reviews accumulate.

``rating_average`` is the plain weighted mean of the counted ratings (what a shopper expects to see
beside "from N reviews"), ``review_count`` the number of counted reviews. ``aspect_summary`` is what
the reviews say about fit, quality, ... (``aspect_summary_of``, the one copy of that rule), over the
same counted reviews and trust weights as the ratings, so that fake accounts cannot put a fit
warning on a rival's product; stored here so that a recommendation block can warn "Fit: runs small
(12 reviews)" and the product page show the summary without reading reviews.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Avg

from stylerec.cache import cache_get, cache_set
from stylerec.models import Review, get_product_model
from stylerec.trust import LOW_TRUST, users_trust

VERIFIED_WEIGHT = 1.0
UNVERIFIED_WEIGHT = 0.5
PRIOR_STRENGTH = 5.0  # pseudo-reviews at the catalogue mean
PRIOR_CACHE_SECONDS = 600
PRIOR_CACHE_KEY = "sentiment-prior"  # stylerec.cache adds its prefix: "stylerec:sentiment-prior"


def sentiment_prior() -> float:
    """The catalogue-wide mean review sentiment (0 when nothing is scored yet); cached, since it
    moves slowly and every aggregate reads it."""
    prior = cache_get(PRIOR_CACHE_KEY)  # with the cache down (Redis): a miss, read from the database
    if prior is None:
        prior = (
            Review.objects.filter(sentiment_score__isnull=False).aggregate(m=Avg("sentiment_score"))["m"]
            or 0.0
        )
        cache_set(PRIOR_CACHE_KEY, prior, timeout=PRIOR_CACHE_SECONDS)
    return float(prior)


def counted_reviews(*, product_id: int) -> list[Review]:
    """The reviews that count: each customer's latest, plus every review without an account."""
    rows = (
        Review.objects.filter(product_id=product_id)
        .only("user_id", "rating", "verified_purchase", "sentiment_score", "preferences", "created_at")
        .order_by("-created_at", "-pk")
    )
    seen: set[int] = set()
    counted = []
    for review in rows:
        if review.user_id is not None:
            if review.user_id in seen:
                continue
            seen.add(review.user_id)
        counted.append(review)
    return counted


def review_weights(reviews: list[Review]) -> list[float]:
    """Each counted review's weight: verified or not, × its author's trust (a review without an
    account, which only staff or an import can make, × 1); reviews by new authors (trust below
    ``LOW_TRUST``) together weigh at most as much as the others, and nothing on their own."""
    trust = users_trust(user_ids=[r.user_id for r in reviews if r.user_id is not None])
    weights, new = [], []
    for r in reviews:
        author = trust[r.user_id] if r.user_id is not None else 1.0
        weights.append((VERIFIED_WEIGHT if r.verified_purchase else UNVERIFIED_WEIGHT) * author)
        new.append(author < LOW_TRUST)
    new_total = sum(w for w, is_new in zip(weights, new, strict=True) if is_new)
    established = sum(weights) - new_total
    if new_total > established:
        scale = established / new_total
        weights = [w * scale if is_new else w for w, is_new in zip(weights, new, strict=True)]
    return weights


def product_sentiment_aggregate(*, product_id: int) -> dict[str, float | int | list[dict] | None]:
    """Recompute and store one product's ``sentiment_score``, ``rating_average``, ``review_count``
    and ``aspect_summary``."""
    reviews = counted_reviews(product_id=product_id)
    weights = review_weights(reviews)
    total = sum(weights)
    rating_average = (
        sum(w * r.rating for w, r in zip(weights, reviews, strict=True)) / total
        if total > 0
        else (sum(r.rating for r in reviews) / len(reviews) if reviews else None)  # what they say
    )
    scored = [
        (w, r.sentiment_score)
        for w, r in zip(weights, reviews, strict=True)
        if r.sentiment_score is not None and w > 0
    ]
    sentiment = None
    if scored:
        prior = sentiment_prior()
        total = sum(w for w, _ in scored)
        sentiment = (PRIOR_STRENGTH * prior + sum(w * s for w, s in scored)) / (PRIOR_STRENGTH + total)
    values = {
        "sentiment_score": None if sentiment is None else round(sentiment, 4),
        "rating_average": None if rating_average is None else round(rating_average, 3),
        "review_count": len(reviews),
        "aspect_summary": aspect_summary_of(reviews=reviews, weights=weights),
    }
    get_product_model().objects.filter(pk=product_id).update(**values)
    return values


def products_sentiment_aggregate(*, product_ids: Iterable[int]) -> int:
    count = 0
    for product_id in dict.fromkeys(product_ids):
        product_sentiment_aggregate(product_id=product_id)
        count += 1
    return count


ASPECT_SUMMARY_MIN_REVIEWS = 3  # fewer reviews saying the same thing is an anecdote, not a summary
_SIZING_WORDS = {"small": "runs small", "large": "runs large", "true": "true to size"}


def aspect_summary_of(
    *, reviews: list[Review], weights: list[float], min_reviews: int = ASPECT_SUMMARY_MIN_REVIEWS
) -> list[dict]:
    """What ``reviews`` (``counted_reviews``, weighed by ``review_weights``) say about their
    product's aspects, most-said first: ``{"aspect", "verdict", "reviews", "polarity"}`` such as
    ``("fit", "runs small", 12, -1)`` or ``("quality", "positive", 5, 1)``. Read from
    ``Review.preferences``: the sizing direction from its ``sizing`` mentions, every other aspect's
    from its polarity. Each review counts once per aspect and only when it weighs something (a
    brand-new account alone does not); an aspect's verdict is the side with the most weight, and
    only what at least ``min_reviews`` reviews say is reported."""
    from collections import Counter

    counts: Counter[tuple[str, str, int]] = Counter()
    weight_of: Counter[tuple[str, str, int]] = Counter()
    for review, weight in zip(reviews, weights, strict=True):
        if weight <= 0:
            continue
        said: set[tuple[str, str, int]] = set()
        for pref in review.preferences or []:
            kind, key, polarity = pref.get("kind"), pref.get("key"), int(pref.get("polarity", 0))
            if kind == "sizing" and key in _SIZING_WORDS:
                said.add(("fit", _SIZING_WORDS[key], polarity))
            elif kind == "aspect" and key != "size" and polarity:  # "size" is told by its direction
                said.add((key, "positive" if polarity > 0 else "negative", polarity))
        counts.update(said)
        weight_of.update({item: weight for item in said})
    best: dict[str, tuple[str, str, int]] = {}
    for item in counts:
        if item[0] not in best or (weight_of[item], counts[item]) > (
            weight_of[best[item[0]]],
            counts[best[item[0]]],
        ):
            best[item[0]] = item
    rows = [
        {"aspect": aspect, "verdict": verdict, "reviews": counts[item], "polarity": polarity}
        for item in best.values()
        for aspect, verdict, polarity in [item]
        if counts[item] >= min_reviews
    ]
    return sorted(rows, key=lambda row: (-row["reviews"], row["aspect"]))
