"""The ranker: candidates → signals → ``scoring.fuse`` → rules → MMR → reasons.

``recommend`` is uncached; ``stylerec.selectors.recommendations_for`` adds the cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stylerec.customers import Owner
from stylerec.models import RankingProfile, Style, get_product_model
from stylerec.ranking.candidates import (
    CandidateFilter,
    candidates_by_style,
    candidates_nearest,
    candidates_same_category,
    candidates_trending,
    hnsw_search,
    product_queryset,
)
from stylerec.ranking.collaborative import (
    POPULARITY_MAX_KEY,
    RELATIONS,
    Neighbours,
    neighbours_lookup,
    popularity_max,
)
from stylerec.ranking.context import CustomerContext, context_load
from stylerec.ranking.diversity import mmr_select
from stylerec.ranking.explain import reasons_for
from stylerec.ranking.latent import latent_lookup, latent_signals
from stylerec.ranking.profiles import profile_for_request
from stylerec.ranking.rules import Rules, boosts_for, rules_parse
from stylerec.ranking.scoring import fuse, profile_for_block
from stylerec.ranking.signals import collaborative_scores, pool_load, signal_matrix
from stylerec.ranking.types import (
    BLOCKS,
    SIGNALS,
    RecommendationRequest,
    RecommendationResult,
    RecommendedItem,
)

MAX_STYLE_SEARCHES = 3  # preferred styles searched by vector per request
# A block repeats at most this share of its k from the blocks above it on the page (request.avoid).
REPEAT_SHARE = 0.25


@dataclass
class Generation:
    """A block's candidates and how to read them."""

    ids: list[int] = field(default_factory=list)
    fallback: str | None = None
    styles: dict[str, float] = field(default_factory=dict)  # weights behind the style signal
    styles_from_viewed: bool = False
    relations: tuple[str, ...] = tuple(RELATIONS)

    def add(self, ids: list[int]) -> None:
        seen = set(self.ids)
        self.ids.extend(pid for pid in ids if pid not in seen and not seen.add(pid))  # type: ignore[func-returns-value]


def profile_resolve(request: RecommendationRequest) -> RankingProfile:
    """The forced profile (admin preview), else the active one or its A/B challenger."""
    if request.profile_id:
        forced = RankingProfile.objects.filter(pk=request.profile_id).first()
        if forced is not None:
            return forced
    return profile_for_request(user_id=request.user_id, session_key=request.session_key)


def collab_seeds(ctx: CustomerContext) -> dict[int, float]:
    seeds = {seed.id: seed.weight for seed in ctx.seeds}
    if ctx.viewed is not None:
        seeds[ctx.viewed.id] = 1.0
    return seeds


def collab_candidates(*, seeds: dict[int, float], neighbours: Neighbours, limit: int) -> list[int]:
    scored: dict[int, float] = {}
    for seed, weight in seeds.items():
        for other, score in neighbours.get(seed, []):
            scored[other] = max(scored.get(other, 0.0), weight * score)
    return [pid for pid, _ in sorted(scored.items(), key=lambda item: -item[1])][:limit]


def ids_passing(*, ids: list[int], filters: CandidateFilter) -> list[int]:
    """``ids`` that pass the hard filters, in the given order."""
    if not ids:
        return []
    kept = set(product_queryset(filters).filter(pk__in=ids).values_list("pk", flat=True))
    return [pid for pid in ids if pid in kept]


def _styles_with_vectors(ctx: CustomerContext) -> list:
    tastes = [t for t in ctx.styles.values() if t.weight > 0 and t.text is not None]
    return sorted(tastes, key=lambda t: -t.weight)[:MAX_STYLE_SEARCHES]


def generate_for_you(
    *, ctx: CustomerContext, filters: CandidateFilter, pool: int, lookup: dict[str, Neighbours]
) -> Generation:
    gen = Generation(styles={slug: t.weight for slug, t in ctx.styles.items()})
    with hnsw_search():
        gen.add(
            candidates_nearest(
                vector=ctx.text_vector, field_name="text_embedding", filters=filters, limit=pool
            )
        )
        gen.add(
            candidates_nearest(
                vector=ctx.image_vector, field_name="image_embedding", filters=filters, limit=pool // 2
            )
        )
        if ctx.viewed is not None:
            gen.add(
                candidates_nearest(
                    vector=ctx.viewed.text, field_name="text_embedding", filters=filters, limit=pool // 2
                )
            )
        for taste in _styles_with_vectors(ctx):
            gen.add(
                candidates_nearest(
                    vector=taste.text, field_name="text_embedding", filters=filters, limit=pool // 4
                )
            )
    seeds = collab_seeds(ctx)
    if seeds:
        gen.add(
            ids_passing(
                ids=collab_candidates(seeds=seeds, neighbours=lookup["co_view"], limit=pool // 2),
                filters=filters,
            )
        )
    if not gen.ids and ctx.styles:  # styles without vectors: search the style scores themselves
        gen.add(candidates_by_style(styles=gen.styles, filters=filters, limit=pool))
    return gen


def generate_similar(
    *, ctx: CustomerContext, filters: CandidateFilter, pool: int, lookup: dict[str, Neighbours]
) -> Generation:
    gen = Generation(styles={slug: t.weight for slug, t in ctx.styles.items()})
    viewed = ctx.viewed
    if viewed is None:
        return gen
    with hnsw_search():
        gen.add(
            candidates_nearest(vector=viewed.text, field_name="text_embedding", filters=filters, limit=pool)
        )
        gen.add(
            candidates_nearest(
                vector=viewed.image, field_name="image_embedding", filters=filters, limit=pool // 2
            )
        )
    gen.add(
        ids_passing(
            ids=collab_candidates(seeds={viewed.id: 1.0}, neighbours=lookup["co_view"], limit=pool // 4),
            filters=filters,
        )
    )
    if not gen.ids:  # the viewed product has no vectors yet: its category is the next best thing
        gen.add(candidates_same_category(category=viewed.category, filters=filters, limit=pool))
        gen.fallback = "category" if gen.ids else None
    return gen


def generate_in_your_style(
    *, ctx: CustomerContext, filters: CandidateFilter, pool: int, lookup: dict[str, Neighbours]
) -> Generation:
    gen = Generation(styles={slug: t.weight for slug, t in ctx.styles.items()})
    if not any(w > 0 for w in gen.styles.values()) and ctx.viewed is not None:
        top = sorted(ctx.viewed.style_scores.items(), key=lambda item: -float(item[1] or 0))[:3]
        gen.styles = {slug: float(w) for slug, w in top if float(w or 0) > 0}
        gen.styles_from_viewed = bool(gen.styles)
        gen.fallback = "viewed_product_styles" if gen.styles else None
    if not gen.styles:
        return gen
    gen.add(candidates_by_style(styles=gen.styles, filters=filters, limit=pool))
    with hnsw_search():
        for taste in _styles_with_vectors(ctx):
            gen.add(
                candidates_nearest(
                    vector=taste.text, field_name="text_embedding", filters=filters, limit=pool // 4
                )
            )
    return gen


def generate_bought_together(
    *, ctx: CustomerContext, filters: CandidateFilter, pool: int, lookup: dict[str, Neighbours]
) -> Generation:
    gen = Generation(styles={slug: t.weight for slug, t in ctx.styles.items()}, relations=("co_purchase",))
    seeds = {ctx.viewed.id: 1.0} if ctx.viewed is not None else collab_seeds(ctx)
    if seeds:
        gen.add(
            ids_passing(
                ids=collab_candidates(seeds=seeds, neighbours=lookup["co_purchase"], limit=pool),
                filters=filters,
            )
        )
    return gen


def generate_trending(
    *, ctx: CustomerContext, filters: CandidateFilter, pool: int, lookup: dict[str, Neighbours]
) -> Generation:
    gen = Generation(styles={slug: t.weight for slug, t in ctx.styles.items()})
    gen.add(candidates_trending(filters=filters, limit=pool))
    return gen


GENERATORS = {
    "for_you": generate_for_you,
    "similar": generate_similar,
    "in_your_style": generate_in_your_style,
    "bought_together": generate_bought_together,
    "trending": generate_trending,
}
assert set(GENERATORS) == set(BLOCKS)

# Personal blocks do not show back what the customer just looked at (a "recently viewed" list
# does that); context blocks and trending may.
EXCLUDES_RECENT = {"for_you", "in_your_style"}
NO_FALLBACK = {"bought_together", "trending"}  # may stay short; trending is already the fallback


def recommend(
    request: RecommendationRequest, *, profile: RankingProfile | None = None
) -> RecommendationResult:
    """Rank without the cache. Never raises for missing artifacts: absent vectors, styles or
    interactions only switch signals off or move the block to its fallback."""
    if request.block not in GENERATORS:
        raise ValueError(f"unknown block {request.block!r}; expected one of {BLOCKS}")
    profile = profile or profile_resolve(request)
    k = max(int(request.k), 0)
    ctx = context_load(
        owner=Owner(user_id=request.user_id, session_key=request.session_key), product_id=request.product_id
    )
    rules = rules_parse(profile.rules)
    exclude = set(rules.blocked_products) | ctx.bought
    if request.product_id:
        exclude.add(request.product_id)
    if request.block in EXCLUDES_RECENT:
        exclude.update(seed.id for seed in ctx.seeds)
    filters = CandidateFilter(
        in_stock_only=profile.in_stock_only,
        category=request.category or None,
        exclude_ids=frozenset(exclude),
        blocked_categories=rules.blocked_categories,
    )
    avoid = frozenset(request.avoid) - exclude
    # The pool grows by what may be held back as a repeat, so that k still holds without them.
    pool_size = max(int(profile.candidate_pool), 4 * k, 20) + len(avoid)
    # Both neighbour relations of every seed in one cache round trip, shared by generation and scoring.
    lookup, extra = neighbours_lookup(product_ids=collab_seeds(ctx), extra_keys=[POPULARITY_MAX_KEY])
    gen = GENERATORS[request.block](ctx=ctx, filters=filters, pool=pool_size, lookup=lookup)
    if len([pid for pid in gen.ids if pid not in avoid]) < k and request.block not in NO_FALLBACK:
        before = len(gen.ids)
        gen.add(candidates_trending(filters=filters, limit=pool_size))
        if len(gen.ids) > before:
            gen.fallback = gen.fallback or "trending"
    pins = ids_passing(ids=[p for p in rules.pins if p not in exclude], filters=filters) if k else []
    items = _rank(
        request=request,
        profile=profile,
        ctx=ctx,
        gen=gen,
        rules=rules,
        pins=pins,
        k=k,
        lookup=lookup,
        popularity_max_cached=extra[POPULARITY_MAX_KEY],
        avoid=avoid,
    )
    return RecommendationResult(
        block=request.block,
        items=items,
        profile_id=profile.pk,
        profile_version=profile.version if profile.pk else None,
        fallback=gen.fallback,
    )


def _rank(
    *,
    request: RecommendationRequest,
    profile: RankingProfile,
    ctx: CustomerContext,
    gen: Generation,
    rules: Rules,
    pins: list[int],
    k: int,
    lookup: dict[str, Neighbours],
    popularity_max_cached: float | None,
    avoid: frozenset[int] = frozenset(),
) -> list[RecommendedItem]:
    ids = pins + [pid for pid in gen.ids if pid not in set(pins)]
    if not ids or k == 0:
        return []
    pool = pool_load(product_ids=ids, ctx=ctx)
    seeds = collab_seeds(ctx)
    if request.block == "bought_together" and ctx.viewed is not None:
        seeds = {ctx.viewed.id: 1.0}
    neighbours = {relation: lookup.get(relation, {}) for relation in gen.relations}
    collaborative = collaborative_scores(pool=pool, seeds=seeds, neighbours=neighbours)
    factor = sequence = None
    if ctx.recent and (float(profile.w_factor or 0.0) or float(profile.w_sequence or 0.0)):
        # read only when a weight uses them: a profile without them costs no cache round trip
        customer = [(seed.id, seed.weight) for seed in ctx.recent]
        inputs = latent_lookup(
            product_ids=[*pool.ids.tolist(), *(pid for pid, _ in customer)],
            recent=[pid for pid, _ in customer],
        )
        factor, sequence, pool.sequence_seed = latent_signals(
            inputs=inputs, pool_ids=pool.ids.tolist(), customer=customer
        )
    matrix, style_best = signal_matrix(
        pool=pool,
        ctx=ctx,
        styles=gen.styles,
        collaborative=collaborative,
        popularity_max=popularity_max(cached=popularity_max_cached),
        freshness_half_life_days=profile.freshness_half_life_days,
        factor=factor,
        sequence=sequence,
    )
    fused, contributions = fuse(matrix, profile_for_block(profile, request.block))
    scores = fused + boosts_for(rules=rules, ids=pool.ids, categories=pool.categories)
    index_of = {int(pid): i for i, pid in enumerate(pool.ids)}
    pinned = [index_of[p] for p in pins if p in index_of]
    chosen = mmr_select(
        scores=scores,
        vectors=pool.text,
        categories=pool.categories,
        k=k,
        mmr_lambda=profile.mmr_lambda,
        # every product shares the category when the request filters by one, so no cap then
        max_per_category=0 if request.category else int(profile.max_per_category),
        preselected=pinned,
        repeats=np.array([int(pid) in avoid for pid in pool.ids], dtype=bool) if avoid else None,
        max_repeats=int(k * REPEAT_SHARE),
    )
    products = (
        get_product_model()
        .objects.defer("text_embedding", "image_embedding")
        .in_bulk([int(pool.ids[i]) for i in chosen])
    )
    style_names = {slug: taste.name for slug, taste in ctx.styles.items()}
    if gen.styles_from_viewed:
        style_names.update(dict(Style.objects.filter(slug__in=list(gen.styles)).values_list("slug", "name")))
    items = []
    for i in chosen:
        product = products.get(int(pool.ids[i]))
        if product is None:  # deleted between the queries
            continue
        items.append(
            RecommendedItem(
                product=product,
                score=float(scores[i]),
                reasons=reasons_for(
                    i=i,
                    signals=matrix[i],
                    contributions=contributions[i],
                    pool=pool,
                    ctx=ctx,
                    style_slug=style_best[i],
                    style_names=style_names,
                    styles_from_viewed=gen.styles_from_viewed,
                    pinned=i in pinned,
                ),
                contributions=(
                    {name: float(contributions[i, j]) for j, name in enumerate(SIGNALS)}
                    if request.explain
                    else {}
                ),
            )
        )
    return items
