"""The ranker: candidates → signals → ``scoring.fuse`` → rules → MMR → reasons.

``recommend`` is uncached; ``stylerec.selectors.recommendations_for`` adds the cache."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from stylerec.cache import cache_get
from stylerec.conf import stylerec_settings
from stylerec.customers import Owner
from stylerec.db import read_alias, reading_from
from stylerec.models import RankingProfile, Style
from stylerec.ranking.candidates import (
    CandidateFilter,
    NearestSearch,
    candidates_by_style,
    candidates_nearest_many,
    candidates_same_category,
    candidates_trending,
    hnsw_search,
    ids_passing,
    products_shown,
)
from stylerec.ranking.collaborative import (
    POPULARITY_MAX_KEY,
    RELATIONS,
    Neighbours,
    neighbours_lookup,
    popularity_max,
)
from stylerec.ranking.context import CustomerContext, context_load, context_load_with
from stylerec.ranking.diversity import mmr_select
from stylerec.ranking.explain import aspect_note_for, reasons_for
from stylerec.ranking.latent import latent_lookup, latent_signals
from stylerec.ranking.pools import (
    POOL_BLOCKS,
    POOL_MIN_PER_K,
    StoredPool,
    pool_inputs,
    pool_queries,
    pool_wanted,
    stored_from_rows,
    stored_pool_of,
    stored_signals_apply,
)
from stylerec.ranking.profiles import profile_cache_key, profile_for_request
from stylerec.ranking.rules import Rules, boosts_for, rules_parse
from stylerec.ranking.scoring import fuse, profile_for_block
from stylerec.ranking.signals import (
    CandidatePool,
    collaborative_scores,
    pool_concat,
    pool_from_rows,
    pool_load,
    signal_matrix,
)
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


def _styles_with_vectors(ctx: CustomerContext) -> list:
    tastes = [t for t in ctx.styles.values() if t.weight > 0 and t.text is not None]
    return sorted(tastes, key=lambda t: -t.weight)[:MAX_STYLE_SEARCHES]


def generate_for_you(
    *, ctx: CustomerContext, filters: CandidateFilter, pool: int, lookup: dict[str, Neighbours]
) -> Generation:
    gen = Generation(styles={slug: t.weight for slug, t in ctx.styles.items()})
    searches = [
        NearestSearch(ctx.text_vector, "text_embedding", pool),
        NearestSearch(ctx.image_vector, "image_embedding", pool // 2),
        NearestSearch(ctx.viewed.text if ctx.viewed is not None else None, "text_embedding", pool // 2),
        *(NearestSearch(taste.text, "text_embedding", pool // 4) for taste in _styles_with_vectors(ctx)),
    ]
    with hnsw_search():
        gen.add(candidates_nearest_many(searches=searches, filters=filters))
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
    searches = [
        NearestSearch(viewed.text, "text_embedding", pool),
        NearestSearch(viewed.image, "image_embedding", pool // 2),
    ]
    with hnsw_search():
        gen.add(candidates_nearest_many(searches=searches, filters=filters))
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
    searches = [NearestSearch(taste.text, "text_embedding", pool // 4) for taste in _styles_with_vectors(ctx)]
    with hnsw_search():
        gen.add(candidates_nearest_many(searches=searches, filters=filters))
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
    request: RecommendationRequest,
    *,
    profile: RankingProfile | None = None,
    popularity_max_cached: float | None = None,
) -> RecommendationResult:
    """Rank without the cache. Never raises for missing artifacts: absent vectors, styles or
    interactions only switch signals off or move the block to its fallback. Reads go to
    ``STYLEREC["READ_DATABASE_ALIAS"]`` (a replica) when set."""
    if request.block not in GENERATORS:
        raise ValueError(f"unknown block {request.block!r}; expected one of {BLOCKS}")
    profile = profile or profile_resolve(request)
    with reading_from(stylerec_settings.READ_DATABASE_ALIAS):
        return _recommend(request, profile, popularity_max_cached)


def _recommend(
    request: RecommendationRequest, profile: RankingProfile, popularity_max_cached: float | None
) -> RecommendationResult:
    k = max(int(request.k), 0)
    owner = Owner(user_id=request.user_id, session_key=request.session_key)
    rules = rules_parse(profile.rules)
    known_now = set(rules.blocked_products) | ({request.product_id} if request.product_id else set())
    filters = CandidateFilter(
        in_stock_only=profile.in_stock_only,
        category=request.category or None,
        exclude_ids=frozenset(known_now),
        blocked_categories=rules.blocked_categories,
    )
    pooled = request.block in POOL_BLOCKS and owner.known and k > 0
    # The customer's pool and its live products travel in the context's round trip.
    ctx, pool_rows = context_load_with(
        owner=owner,
        product_id=request.product_id,
        also=pool_queries(owner=owner, block=request.block, filters=filters, viewed_id=request.product_id)
        if pooled
        else [],
    )
    exclude = known_now | ctx.bought
    if request.block in EXCLUDES_RECENT:
        exclude.update(seed.id for seed in ctx.seeds)
    filters = replace(filters, exclude_ids=frozenset(exclude))
    avoid = frozenset(request.avoid) - exclude
    if pooled:
        served = _recommend_from_pool(
            request=request,
            profile=profile,
            ctx=ctx,
            rules=rules,
            filters=filters,
            rows=pool_rows,
            k=k,
            avoid=avoid,
            popularity_max_cached=popularity_max_cached,
        )
        if served is not None:
            return served
    # The pool grows by what may be held back as a repeat, so that k still holds without them.
    pool_size = max(int(profile.candidate_pool), 4 * k, 20) + len(avoid)
    # Both neighbour relations of every seed in one cache round trip, shared by generation and
    # scoring. A block with a pool reads only what is cached: its pool build (asked for above, or
    # done, if the pool was only too thin for the filters) computes the missing lists.
    lookup, extra = neighbours_lookup(
        product_ids=collab_seeds(ctx), extra_keys=[POPULARITY_MAX_KEY], compute_missing=not pooled
    )
    gen = GENERATORS[request.block](ctx=ctx, filters=filters, pool=pool_size, lookup=lookup)
    if len([pid for pid in gen.ids if pid not in avoid]) < k and request.block not in NO_FALLBACK:
        before = len(gen.ids)
        gen.add(candidates_trending(filters=filters, limit=pool_size))
        if len(gen.ids) > before:
            gen.fallback = gen.fallback or "trending"
    pins = ids_passing(ids=[p for p in rules.pins if p not in exclude], filters=filters) if k else []
    ids = pins + [pid for pid in gen.ids if pid not in set(pins)]
    items: list[RecommendedItem] = []
    if ids and k:
        pool = pool_load(product_ids=ids, ctx=ctx, styles=gen.styles)
        collaborative, factor, sequence = learned_signals(
            pool=pool, ctx=ctx, block=request.block, relations=gen.relations, lookup=lookup, profile=profile
        )
        items = _rank(
            request=request,
            profile=profile,
            ctx=ctx,
            pool=pool,
            signals=(collaborative, factor, sequence),
            styles=gen.styles,
            styles_from_viewed=gen.styles_from_viewed,
            rules=rules,
            pins=pins,
            k=k,
            popularity_max_cached=extra[POPULARITY_MAX_KEY],
            avoid=avoid,
        )
    return _result(request=request, profile=profile, items=items, fallback=gen.fallback)


def _recommend_from_pool(
    *,
    request: RecommendationRequest,
    profile: RankingProfile,
    ctx: CustomerContext,
    rules: Rules,
    filters: CandidateFilter,
    rows: list[list[tuple]],
    k: int,
    avoid: frozenset[int],
    popularity_max_cached: float | None,
) -> RecommendationResult | None:
    """The block from the customer's stored pool; None (the direct path serves) when there is no
    pool or too few of its products pass the filters. A missing or old pool is asked for."""
    stored = stored_from_rows(rows[0])
    if (stored is None or not stored.is_current()) and ctx.is_personal:
        pool_wanted.send(sender=StoredPool, owner=ctx.owner)
    if stored is None:
        return None
    live = [row for row in rows[1] if row[0] not in filters.exclude_ids]
    if len(live) < POOL_MIN_PER_K * k + len(avoid):
        return None
    pool = pool_from_rows(live, order=stored.ids.tolist())
    stored_columns = stored_signals_apply(pool=pool, stored=stored)
    collaborative, factor, sequence = stored_columns
    pins = [p for p in rules.pins if p not in filters.exclude_ids]
    missing = ids_passing(ids=[p for p in pins if p not in set(pool.ids.tolist())], filters=filters)
    if missing:  # pinned products the pool lacks: read as the direct path would, no stored signals
        extra = pool_load(product_ids=missing, ctx=ctx, styles=ctx.styles)
        pool = pool_concat(pool, extra)
        zeros = np.zeros(len(extra))
        collaborative, factor, sequence = (np.concatenate([column, zeros]) for column in stored_columns)
    present = set(pool.ids.tolist())
    items = _rank(
        request=request,
        profile=profile,
        ctx=ctx,
        pool=pool,
        signals=(collaborative, factor, sequence),
        styles={slug: t.weight for slug, t in ctx.styles.items()},
        styles_from_viewed=False,
        rules=rules,
        pins=[p for p in pins if p in present],
        k=k,
        popularity_max_cached=popularity_max_cached
        if popularity_max_cached is not None
        else cache_get(POPULARITY_MAX_KEY),
        avoid=avoid,
    )
    return _result(request=request, profile=profile, items=items, from_pool=True)


def _result(
    *,
    request: RecommendationRequest,
    profile: RankingProfile,
    items: list[RecommendedItem],
    fallback: str | None = None,
    from_pool: bool = False,
) -> RecommendationResult:
    return RecommendationResult(
        block=request.block,
        items=items,
        profile_id=profile.pk,
        profile_version=profile.version if profile.pk else None,
        fallback=fallback,
        from_pool=from_pool,
    )


def learned_signals(
    *,
    pool: CandidatePool,
    ctx: CustomerContext,
    block: str,
    relations: tuple[str, ...],
    lookup: dict[str, Neighbours],
    profile: RankingProfile | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(collaborative, factor, sequence) of ``pool`` for the customer; their sources go on
    ``pool``. Factor and sequence are read only when ``profile`` weighs them (a request's profile
    without them costs no cache round trip); ``profile=None`` (a pool build) always reads them."""
    seeds = collab_seeds(ctx)
    if block == "bought_together" and ctx.viewed is not None:
        seeds = {ctx.viewed.id: 1.0}
    neighbours = {relation: lookup.get(relation, {}) for relation in relations}
    collaborative = collaborative_scores(pool=pool, seeds=seeds, neighbours=neighbours)
    factor = sequence = None
    weighed = profile is None or float(profile.w_factor or 0.0) or float(profile.w_sequence or 0.0)
    if ctx.recent and weighed:
        customer = [(seed.id, seed.weight) for seed in ctx.recent]
        inputs = latent_lookup(
            product_ids=[*pool.ids.tolist(), *(pid for pid, _ in customer)],
            recent=[pid for pid, _ in customer],
        )
        factor, sequence, pool.sequence_seed = latent_signals(
            inputs=inputs, pool_ids=pool.ids.tolist(), customer=customer
        )
    return collaborative, factor, sequence


def pool_compute(*, owner: Owner, block: str, profile: RankingProfile) -> StoredPool:
    """The customer's pool for ``block``, as a worker stores it: the block's generation without
    the request's filters (stock, category and the viewed product apply when it is served), at the
    profile's ``candidate_pool`` depth, and the stored signals. Reads the primary."""
    ctx = context_load(owner=owner, product_id=None)
    rules = rules_parse(profile.rules)
    exclude = set(rules.blocked_products) | ctx.bought
    if block in EXCLUDES_RECENT:
        exclude.update(seed.id for seed in ctx.seeds)
    filters = CandidateFilter(
        in_stock_only=False, exclude_ids=frozenset(exclude), blocked_categories=rules.blocked_categories
    )
    lookup, _ = neighbours_lookup(product_ids=collab_seeds(ctx), recompute=True)
    gen = GENERATORS[block](
        ctx=ctx, filters=filters, pool=max(int(profile.candidate_pool), 20), lookup=lookup
    )
    pool = pool_load(product_ids=gen.ids, ctx=ctx, styles=())  # the style signal is not stored
    collaborative, factor, sequence = learned_signals(
        pool=pool, ctx=ctx, block=block, relations=gen.relations, lookup=lookup, profile=None
    )
    zeros = np.zeros(len(pool))
    return stored_pool_of(
        pool=pool,
        collaborative=collaborative,
        factor=zeros if factor is None else factor,
        sequence=zeros if sequence is None else sequence,
        inputs=pool_inputs(profile_key=profile_cache_key(profile)),
    )


def _rank(
    *,
    request: RecommendationRequest,
    profile: RankingProfile,
    ctx: CustomerContext,
    pool: CandidatePool,
    signals: tuple[np.ndarray, np.ndarray | None, np.ndarray | None],
    styles: dict[str, float],
    styles_from_viewed: bool,
    rules: Rules,
    pins: list[int],
    k: int,
    popularity_max_cached: float | None,
    avoid: frozenset[int] = frozenset(),
) -> list[RecommendedItem]:
    """Signals → ``scoring.fuse`` → boosts → MMR → reasons: the same for a stored pool and a
    pool found by the direct path."""
    if not len(pool) or k == 0:
        return []
    collaborative, factor, sequence = signals
    matrix, style_best = signal_matrix(
        pool=pool,
        ctx=ctx,
        styles=styles,
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
        category_caps={} if request.category else rules.category_caps,
        preselected=pinned,
        repeats=np.array([int(pid) in avoid for pid in pool.ids], dtype=bool) if avoid else None,
        max_repeats=int(k * REPEAT_SHARE),
    )
    # The chosen products' rows, with their stored ``aspect_summary`` (read here, for k rows, rather
    # than in ``pool_select`` for every candidate: only the shown items carry a note).
    products = products_shown([int(pool.ids[i]) for i in chosen])
    style_names = {slug: taste.name for slug, taste in ctx.styles.items()}
    if styles_from_viewed:
        style_names.update(
            dict(Style.objects.using(read_alias()).filter(slug__in=list(styles)).values_list("slug", "name"))
        )
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
                    styles_from_viewed=styles_from_viewed,
                    pinned=i in pinned,
                ),
                contributions=(
                    {name: float(contributions[i, j]) for j, name in enumerate(SIGNALS)}
                    if request.explain
                    else {}
                ),
                aspect_note=aspect_note_for(aspect_summary=product.aspect_summary),
            )
        )
    return items
