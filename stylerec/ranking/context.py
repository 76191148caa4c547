"""Who is asking and what we know about them: the customer (user or anonymous session), their
profile vectors, styles, recent interactions and purchases, and the product being viewed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import models
from django.utils import timezone

from stylerec.customers import INTERACTION_WEIGHTS, MAX_RECENT_INTERACTIONS, Owner, recency_weight
from stylerec.db import product_table, rows_fetch, rows_fetch_many, unit
from stylerec.models import CustomerProfile, Interaction, Style, StylePreference

MAX_SEEDS = 20  # recent products used as "because you liked" and collaborative seeds


@dataclass
class SeedProduct:
    id: int
    title: str
    weight: float  # kind × recency, the strongest seed is 1
    text: np.ndarray | None
    # More than a look: clicked from a block, carted, bought, or viewed on two occasions. Only
    # these are named in "Because you liked ..." (a product seen once is "Because you viewed").
    liked: bool = True


@dataclass
class ViewedProduct:
    id: int
    title: str
    category: str
    text: np.ndarray | None
    image: np.ndarray | None
    style_scores: dict[str, float]


@dataclass
class StyleTaste:
    slug: str
    name: str
    weight: float  # [-1, 1]
    text: np.ndarray | None  # the style's text embedding, to find products near it


@dataclass
class CustomerContext:
    owner: Owner
    text_vector: np.ndarray | None = None
    image_vector: np.ndarray | None = None
    styles: dict[str, StyleTaste] = field(default_factory=dict)
    seeds: list[SeedProduct] = field(default_factory=list)
    bought: set[int] = field(default_factory=set)
    viewed: ViewedProduct | None = None
    # the products of the recent interactions, latest first, weight = strongest kind weight
    # (factor and sequence signals, ranking.latent)
    recent: list[SeedProduct] = field(default_factory=list)

    @property
    def is_personal(self) -> bool:
        """Whether anything personal is known (else blocks fall back to popularity)."""
        return bool(
            self.text_vector is not None or self.image_vector is not None or self.seeds or self.styles
        )


def style_weights_merge(rows: list[tuple[str, float, str]]) -> dict[str, float]:
    """One weight per style from (slug, weight, source) rows: what the customer chose explicitly
    wins; inferred sources are averaged."""
    explicit: dict[str, float] = {}
    inferred: dict[str, list[float]] = {}
    for slug, weight, source in rows:
        if source == StylePreference.Source.EXPLICIT:
            explicit[slug] = weight
        else:
            inferred.setdefault(slug, []).append(weight)
    merged = {slug: sum(ws) / len(ws) for slug, ws in inferred.items()}
    merged.update(explicit)
    return {slug: max(-1.0, min(1.0, w)) for slug, w in merged.items() if w}


def _table(model: type[models.Model]) -> str:
    return model._meta.db_table


def context_load(*, owner: Owner, product_id: int | None) -> CustomerContext:
    """Everything the ranker knows about the customer and the viewed product, in one round trip."""
    return context_load_with(owner=owner, product_id=product_id, also=[])[0]


def context_load_with(
    *, owner: Owner, product_id: int | None, also: list[tuple[str, list[object]]]
) -> tuple[CustomerContext, list[list[tuple]]]:
    """``context_load``, with the queries ``also`` sent in the same round trip; their rows come
    second."""
    extra = list(also)
    queries: list[tuple[str, list[object]]] = []
    ctx = CustomerContext(owner=owner)
    table, pk = product_table()
    if product_id:
        queries.append(_viewed_query(product_id))
    if owner.known:
        owner_sql, owner_params = owner.sql()
        preferences_sql, preferences_params = _preferences_from(owner)
        recent_owner_sql, _ = owner.sql("i")
        queries += [
            (
                f"SELECT text_vector, image_vector FROM {_table(CustomerProfile)} WHERE {owner_sql} LIMIT 1",
                owner_params,
            ),
            (
                f"SELECT s.slug, s.name, p.weight, p.source, s.text_embedding {preferences_sql}",
                preferences_params,
            ),
            (
                # Recent positive interactions; each product's title and vector come once, with
                # its latest interaction.
                f"SELECT r.product_id, r.kind, r.created_at, "
                f"CASE WHEN r.n = 1 THEN p.title END, CASE WHEN r.n = 1 THEN p.text_embedding END "
                f"FROM (SELECT i.product_id, i.kind, i.created_at, row_number() OVER "
                f"(PARTITION BY i.product_id ORDER BY i.created_at DESC) AS n FROM ("
                f"SELECT product_id, kind, created_at FROM {_table(Interaction)} i WHERE {recent_owner_sql} "
                "AND i.product_id IS NOT NULL AND i.kind = ANY(%s) ORDER BY i.created_at DESC LIMIT %s) i) r "
                f"JOIN {table} p ON p.{pk} = r.product_id ORDER BY r.created_at DESC",
                [*owner_params, list(INTERACTION_WEIGHTS), MAX_RECENT_INTERACTIONS],
            ),
        ]
    everything = rows_fetch_many(queries + extra) if queries or extra else []
    results, extra_rows = everything[: len(queries)], everything[len(queries) :]
    if product_id:
        ctx.viewed = _viewed_from(results.pop(0))
    if not owner.known:
        return ctx, extra_rows
    profile_rows, pref_rows, recent = results
    if profile_rows:
        ctx.text_vector, ctx.image_vector = unit(profile_rows[0][0]), unit(profile_rows[0][1])
    weights = style_weights_merge([(slug, weight, source) for slug, _, weight, source, _ in pref_rows])
    for slug, name, _, _, text in pref_rows:
        if slug in weights:
            ctx.styles[slug] = StyleTaste(slug=slug, name=name, weight=weights[slug], text=unit(text))
    now = timezone.now()
    seed_weight: dict[int, float] = {}
    found: dict[int, tuple[str, np.ndarray | None]] = {}
    for pid, kind, created_at, title, text in recent:
        weight = INTERACTION_WEIGHTS[kind] * recency_weight(created_at=created_at, now=now)
        seed_weight[pid] = max(seed_weight.get(pid, 0.0), weight)
        if title is not None:
            found[pid] = (title, unit(text))
        if kind == Interaction.Kind.PURCHASE:
            ctx.bought.add(pid)
    if len(recent) >= MAX_RECENT_INTERACTIONS:  # purchases older than the recent window still count
        ctx.bought.update(
            pid
            for (pid,) in rows_fetch(
                f"SELECT DISTINCT product_id FROM {_table(Interaction)} WHERE {owner_sql} "
                "AND kind = 'purchase' AND product_id IS NOT NULL",
                owner_params,
            )
        )
    kind_weight: dict[int, float] = {}
    views: dict[int, int] = {}
    for pid, kind, _, _, _ in recent:  # latest first
        kind_weight[pid] = max(kind_weight.get(pid, 0.0), INTERACTION_WEIGHTS[kind])
        if kind == Interaction.Kind.VIEW:
            views[pid] = views.get(pid, 0) + 1
    liked = {
        pid
        for pid, weight in kind_weight.items()
        if weight > INTERACTION_WEIGHTS["view"] or views.get(pid, 0) > 1
    }
    ctx.recent = [
        SeedProduct(id=pid, title=found[pid][0], weight=weight, text=None)
        for pid, weight in kind_weight.items()
        if pid in found
    ]
    top = sorted(seed_weight.items(), key=lambda item: -item[1])[:MAX_SEEDS]
    if top:
        strongest = top[0][1]
        ctx.seeds = [
            SeedProduct(
                id=pid, title=found[pid][0], weight=weight / strongest, text=found[pid][1], liked=pid in liked
            )
            for pid, weight in top
            if pid in found
        ]
    return ctx, extra_rows


def _preferences_from(owner: Owner) -> tuple[str, list[object]]:
    """FROM and WHERE of the customer's preferences (``p``) for active styles (``s``)."""
    owner_sql, params = owner.sql("p")
    return (
        f"FROM {_table(StylePreference)} p JOIN {_table(Style)} s ON s.id = p.style_id "
        f"WHERE s.is_active AND {owner_sql}",
        params,
    )


def preferred_slugs_sql(owner: Owner) -> tuple[str, list[object]]:
    """An SQL text[] of the slugs the customer has a preference for (what ``ctx.styles`` is made
    of), for statements sent before the context is known (``ranking.pools``)."""
    sql, params = _preferences_from(owner)
    return f"ARRAY(SELECT s.slug {sql})", params


def _viewed_query(product_id: int) -> tuple[str, list[object]]:
    table, pk = product_table()
    return (
        f"SELECT {pk}, title, category, text_embedding, image_embedding, style_scores "
        f"FROM {table} WHERE {pk} = %s",
        [product_id],
    )


def _viewed_from(rows: list[tuple]) -> ViewedProduct | None:
    if not rows:
        return None
    pid, title, category, text, image, style_scores = rows[0]
    return ViewedProduct(
        id=pid,
        title=title,
        category=category,
        text=unit(text),
        image=unit(image),
        style_scores=style_scores or {},
    )
