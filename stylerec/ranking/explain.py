"""Plain-words reasons for a recommended product, strongest contribution first.

The one place reasons are made. Each reason says what the signal that contributed most actually
found for that item, so the items of a block differ when their signals do: for a visitor the store
knows nothing about, "Trending in Dress" (the most popular candidate of its category), "Popular this
week", "New in", a rating, or "Similar to <viewed product>". Beside its reasons an item may carry one
note from its reviews ("Fit: runs small (12 reviews)", ``aspect_note_for``). Texts are translated
into the language active while ranking (stylerec/locale); the recommendation cache keys carry that
language.
"""

from __future__ import annotations

import numpy as np
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, ngettext_lazy

from stylerec.ranking.context import CustomerContext, SeedProduct
from stylerec.ranking.scoring import SIGNAL_INDEX
from stylerec.ranking.signals import CandidatePool
from stylerec.ranking.types import SIGNALS, AspectNote, Reason

MAX_REASONS = 3
NEW_DAYS = 14.0  # "New in" below this age
# The popularity signal is a log-scaled share of the catalog's top product (scoring.py).
TRENDING_MIN = 0.3  # needed to say "Trending in <category>" of its category's most popular candidate
POPULAR_MIN = 0.8  # needed to say "Popular this week" of any product
# The fit verdicts worth a warning, keyed by ``services.aggregates.aspect_summary_of``'s words.
FIT_WARNINGS = {
    "runs small": ngettext_lazy(
        "Fit: runs small (%(count)d review)", "Fit: runs small (%(count)d reviews)", "count"
    ),
    "runs large": ngettext_lazy(
        "Fit: runs large (%(count)d review)", "Fit: runs large (%(count)d reviews)", "count"
    ),
}


def _nearest_seed(*, ctx: CustomerContext, vector: np.ndarray) -> SeedProduct | None:
    """The customer's seed product nearest to ``vector``: among those they liked when there are
    any (``SeedProduct.liked``), else among those they only looked at. Never the product being
    viewed: "Because you liked <this very page>" says nothing, and is not true of a first look."""
    viewed_id = ctx.viewed.id if ctx.viewed is not None else None
    seeds = [seed for seed in ctx.seeds if seed.text is not None and seed.id != viewed_id]
    liked = [seed for seed in seeds if seed.liked]
    best, best_sim = None, -2.0
    for seed in liked or seeds:
        sim = float(seed.text @ vector)  # type: ignore[operator]
        if sim > best_sim:
            best, best_sim = seed, sim
    return best


def _seed_title(*, ctx: CustomerContext, product_id: int) -> str | None:
    if ctx.viewed is not None and ctx.viewed.id == product_id:
        return ctx.viewed.title
    return next((seed.title for seed in ctx.seeds if seed.id == product_id), None)


def _popularity_reason(*, i: int, value: float, pool: CandidatePool) -> Reason | None:
    """The popularity reason: "Trending in <category>" for the most popular candidate of a category
    that has several, "Popular this week" for a product near the catalog's top, else none (another
    signal speaks for the item)."""
    if value < TRENDING_MIN:
        return None
    category = pool.categories[i]
    rivals = [j for j, other in enumerate(pool.categories) if other == category and j != i]
    if category and rivals and all(pool.popularity[i] > pool.popularity[j] for j in rivals):
        return Reason("trending", _("Trending in %(category)s") % {"category": category})
    if value >= POPULAR_MIN:
        return Reason("trending", _("Popular this week"))
    return None


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
        seed = _nearest_seed(ctx=ctx, vector=pool.text[i])
        if seed is not None and seed.liked:
            return Reason("liked", _("Because you liked %(title)s") % {"title": seed.title})
        if seed is not None:
            return Reason("viewed", _("Because you viewed %(title)s") % {"title": seed.title})
        if ctx.viewed is not None:  # the history is this page's product: the item is close to it
            return Reason("similar", _("Similar to %(title)s") % {"title": ctx.viewed.title})
        return Reason("liked", _("Close to what you usually like"))
    if signal == "context" and ctx.viewed is not None:
        return Reason("similar", _("Similar to %(title)s") % {"title": ctx.viewed.title})
    if signal == "style" and style_slug:
        name = style_names.get(style_slug, style_slug.replace("-", " ").title())
        if styles_from_viewed and ctx.viewed is not None:
            return Reason(
                "style", _("Same %(style)s style as %(title)s") % {"style": name, "title": ctx.viewed.title}
            )
        return Reason("style", _("Matches your %(style)s style") % {"style": name})
    if signal == "visual":
        if ctx.viewed is not None and not np.isnan(pool.visual_context[i]):
            return Reason("visual", _("Looks like %(title)s") % {"title": ctx.viewed.title})
        return Reason("visual", _("Looks like things you liked"))
    if signal == "sentiment" and pool.review_count[i] > 0 and not np.isnan(pool.rating_average[i]):
        count = int(pool.review_count[i])
        text = ngettext(
            "%(rating).1f★ from %(count)d review", "%(rating).1f★ from %(count)d reviews", count
        ) % {"rating": pool.rating_average[i], "count": count}
        return Reason("rating", text)
    if signal == "collaborative" and (collab_seed := pool.collab_seed[i]) is not None:
        seed_id, relation = collab_seed
        title = _seed_title(ctx=ctx, product_id=seed_id)
        if title:
            if relation == "co_purchase":
                return Reason("bought_together", _("Often bought together with %(title)s") % {"title": title})
            return Reason(
                "also_viewed", _("Customers who viewed %(title)s also viewed this") % {"title": title}
            )
    if signal == "popularity":
        return _popularity_reason(i=i, value=value, pool=pool)
    if signal == "freshness" and pool.age_days[i] <= NEW_DAYS:
        return Reason("new", _("New in"))
    if signal == "factor":
        return Reason("taste", _("Customers with your taste bought this"))
    if signal == "sequence" and i < len(pool.sequence_seed) and (source := pool.sequence_seed[i]) is not None:
        title = next((seed.title for seed in ctx.recent if seed.id == source), None) or _seed_title(
            ctx=ctx, product_id=source
        )
        if title:
            return Reason("next", _("Often bought next after %(title)s") % {"title": title})
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
    reasons: list[Reason] = [Reason("featured", _("Featured by the store"))] if pinned else []
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
        popular = _popularity_reason(i=i, value=float(signals[SIGNAL_INDEX["popularity"]]), pool=pool)
        collection = Reason(
            "catalog", _("From our %(category)s collection") % {"category": pool.categories[i]}
        )
        reasons.append(popular or collection)
    return reasons


def aspect_note_for(*, aspect_summary: list[dict] | None) -> AspectNote | None:
    """The one note from its reviews an item carries: a fit warning when the product's stored
    summary (``AbstractProduct.aspect_summary``) says it runs small or large, since a shopper must
    know that before buying; else none. Nothing else on purpose, to keep it simple: "true to size"
    or praise ("quality: positive") adds little beside the reason line and the rating, and a card
    has room for one short line."""
    fit = next((row for row in aspect_summary or () if row.get("aspect") == "fit"), None)
    if fit is None or fit.get("verdict") not in FIT_WARNINGS:
        return None
    count = int(fit["reviews"])
    text = FIT_WARNINGS[fit["verdict"]] % {"count": count}
    return AspectNote(aspect="fit", verdict=fit["verdict"], reviews=count, text=text)
