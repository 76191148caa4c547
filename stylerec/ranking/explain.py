"""Plain-words reasons for a recommended product, strongest contribution first."""

from __future__ import annotations

import numpy as np

from stylerec.ranking.context import CustomerContext
from stylerec.ranking.scoring import SIGNAL_INDEX
from stylerec.ranking.signals import CandidatePool
from stylerec.ranking.types import SIGNALS, Reason

MAX_REASONS = 3
NEW_DAYS = 14.0  # "New in" below this age
TRENDING_MIN = 0.3  # popularity signal needed to say "Trending this week"


def _liked_title(*, ctx: CustomerContext, vector: np.ndarray) -> str | None:
    """The title of the customer's liked product nearest to ``vector``."""
    best, best_sim = None, -2.0
    for seed in ctx.seeds:
        if seed.text is not None:
            sim = float(seed.text @ vector)
            if sim > best_sim:
                best, best_sim = seed.title, sim
    return best


def _seed_title(*, ctx: CustomerContext, product_id: int) -> str | None:
    if ctx.viewed is not None and ctx.viewed.id == product_id:
        return ctx.viewed.title
    return next((seed.title for seed in ctx.seeds if seed.id == product_id), None)


def _signal_reason(
    *,
    signal: str,
    i: int,
    value: float,
    pool: CandidatePool,
    ctx: CustomerContext,
    style_slug: str | None,
    style_names: dict[str, str],
    styles_from_viewed: bool,
) -> Reason | None:
    if signal == "history":
        title = _liked_title(ctx=ctx, vector=pool.text[i])
        return Reason("liked", f"Because you liked {title}" if title else "Close to what you usually like")
    if signal == "context" and ctx.viewed is not None:
        return Reason("similar", f"Similar to {ctx.viewed.title}")
    if signal == "style" and style_slug:
        name = style_names.get(style_slug, style_slug.replace("-", " ").title())
        if styles_from_viewed and ctx.viewed is not None:
            return Reason("style", f"Same {name} style as {ctx.viewed.title}")
        return Reason("style", f"Matches your {name} style")
    if signal == "visual":
        if ctx.viewed is not None and not np.isnan(pool.visual_context[i]):
            return Reason("visual", f"Looks like {ctx.viewed.title}")
        return Reason("visual", "Looks like things you liked")
    if signal == "sentiment" and pool.review_count[i] > 0 and not np.isnan(pool.rating_average[i]):
        count = int(pool.review_count[i])
        return Reason(
            "rating", f"{pool.rating_average[i]:.1f}★ from {count} review{'s' if count != 1 else ''}"
        )
    if signal == "collaborative" and (collab_seed := pool.collab_seed[i]) is not None:
        seed_id, relation = collab_seed
        title = _seed_title(ctx=ctx, product_id=seed_id)
        if title:
            if relation == "co_purchase":
                return Reason("bought_together", f"Often bought together with {title}")
            return Reason("also_viewed", f"Customers who viewed {title} also viewed this")
    if signal == "popularity" and value >= TRENDING_MIN:
        return Reason("trending", "Trending this week")
    if signal == "freshness" and pool.age_days[i] <= NEW_DAYS:
        return Reason("new", "New in")
    return None


def reasons_for(
    *,
    i: int,
    signals: np.ndarray,
    contributions: np.ndarray,
    pool: CandidatePool,
    ctx: CustomerContext,
    style_slug: str | None,
    style_names: dict[str, str],
    styles_from_viewed: bool = False,
    pinned: bool = False,
) -> list[Reason]:
    """Up to ``MAX_REASONS`` reasons for pool item ``i``, from the signals that added most to its
    score; never empty."""
    reasons: list[Reason] = [Reason("featured", "Featured by the store")] if pinned else []
    order = np.argsort(-contributions, kind="stable")
    for j in order:
        if len(reasons) >= MAX_REASONS or contributions[j] <= 0:
            break
        reason = _signal_reason(
            signal=SIGNALS[j],
            i=i,
            value=float(signals[j]),
            pool=pool,
            ctx=ctx,
            style_slug=style_slug,
            style_names=style_names,
            styles_from_viewed=styles_from_viewed,
        )
        if reason is not None and reason not in reasons:
            reasons.append(reason)
    if not reasons:
        if signals[SIGNAL_INDEX["popularity"]] >= TRENDING_MIN:
            reasons.append(Reason("trending", "Trending this week"))
        else:
            reasons.append(Reason("catalog", f"From our {pool.categories[i]} collection"))
    return reasons
