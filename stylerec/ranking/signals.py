"""The signal matrix of a candidate pool: one row per product, one column per ``SIGNALS`` entry
(ranges and meanings are documented in ``scoring``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from stylerec.db import product_table, rows_fetch
from stylerec.ml.dims import TEXT_DIM
from stylerec.ranking.collaborative import Neighbours
from stylerec.ranking.context import CustomerContext
from stylerec.ranking.scoring import SIGNAL_INDEX
from stylerec.ranking.types import SIGNALS


@dataclass
class CandidatePool:
    """What scoring and explanations need about each candidate, in one array per column."""

    ids: np.ndarray
    titles: list[str]
    categories: list[str]
    style_scores: list[dict[str, float]]
    sentiment: np.ndarray  # nan without reviews
    rating_average: np.ndarray
    review_count: np.ndarray
    popularity: np.ndarray
    age_days: np.ndarray
    text: np.ndarray  # n × TEXT_DIM unit vectors, zero rows when missing
    visual_history: np.ndarray  # cosine to the customer's image vector, nan when unknown
    visual_context: np.ndarray  # cosine to the viewed product's image, nan when unknown
    collab_seed: list[tuple[int, str] | None] = field(default_factory=list)  # (seed id, relation)
    sequence_seed: list[int | None] = field(default_factory=list)  # the product this one often follows

    def __len__(self) -> int:
        return len(self.ids)


def pool_select(*, where: str, visual_history: str, visual_context: str, style_keys: str) -> str:
    """The one column list of a candidate pool read (``pool_from_rows`` reads it): the product's
    own columns, its text vector, its style scores of the styles ``style_keys`` (an SQL text[]
    expression) and the two image cosines (SQL expressions, computed in PostgreSQL so 1280-d
    vectors never travel). The product table is not aliased, so ``where`` may be a WHERE clause
    Django compiled (``candidates.filters_where``).

    Only the styles scoring weighs are read: decoding every candidate's whole ``style_scores``
    object was a tenth of a pooled block's time."""
    table, pk = product_table()
    style_scores = (
        f"(SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each({table}.style_scores) e "
        f"WHERE e.key = ANY({style_keys}))"
    )
    return (
        f"SELECT {table}.{pk}, title, category, {style_scores}, sentiment_score, rating_average, "
        "review_count, popularity, extract(epoch FROM now() - created_at)::float8 / 86400.0, "
        f"text_embedding, {visual_history}, {visual_context} FROM {table} WHERE {where}"
    )


def image_cosine_sql(reference: str) -> str:
    """The cosine of a product's image vector and ``reference`` (an SQL vector expression)."""
    table, _ = product_table()
    return f"1 - ({table}.image_embedding <=> {reference})"


def pool_load(*, product_ids: list[int], ctx: CustomerContext, styles: Iterable[str]) -> CandidatePool:
    """One query for the whole pool, with the products' scores of ``styles``."""
    table, pk = product_table()
    params: list[object] = [sorted(styles)]
    visual = []
    for ref in (ctx.image_vector, ctx.viewed.image if ctx.viewed else None):
        if ref is None:
            visual.append("NULL::float8")
        else:
            params.append(ref)
            visual.append(image_cosine_sql("%s"))
    sql = pool_select(
        where=f"{table}.{pk} = ANY(%s)",
        visual_history=visual[0],
        visual_context=visual[1],
        style_keys="%s::text[]",
    )
    return pool_from_rows(rows_fetch(sql, [*params, product_ids]), order=product_ids)


def pool_from_rows(rows: list[tuple], *, order: list[int]) -> CandidatePool:
    """The pool of rows read with ``pool_select``, in the order of ``order`` (the generation's:
    ties stay stable); ids not in ``order`` are dropped."""
    position = {pid: i for i, pid in enumerate(order)}
    rows = sorted((row for row in rows if row[0] in position), key=lambda row: position[row[0]])
    n = len(rows)
    text = np.zeros((n, TEXT_DIM), dtype=np.float32)
    present = [i for i, row in enumerate(rows) if row[9] is not None]
    if present:
        stacked = np.stack([rows[i][9] for i in present])
        norms = np.linalg.norm(stacked, axis=1, keepdims=True)
        text[present] = np.divide(stacked, norms, out=np.zeros_like(stacked), where=norms > 0)

    def column(index: int) -> np.ndarray:
        return np.array(
            [np.nan if row[index] is None else float(row[index]) for row in rows], dtype=np.float64
        )

    return CandidatePool(
        ids=np.array([row[0] for row in rows], dtype=np.int64),
        titles=[row[1] for row in rows],
        categories=[row[2] for row in rows],
        style_scores=[row[3] or {} for row in rows],
        sentiment=column(4),
        rating_average=column(5),
        review_count=np.array([row[6] or 0 for row in rows], dtype=np.float64),
        popularity=np.nan_to_num(column(7)),
        age_days=np.nan_to_num(column(8)),
        text=text,
        visual_history=column(10),
        visual_context=column(11),
        collab_seed=[None] * n,
        sequence_seed=[None] * n,
    )


def pool_concat(first: CandidatePool, second: CandidatePool) -> CandidatePool:
    """``first`` followed by ``second`` (pinned products a stored pool lacks)."""
    joined: dict[str, object] = {}
    for item in fields(CandidatePool):
        a, b = getattr(first, item.name), getattr(second, item.name)
        joined[item.name] = np.concatenate([a, b]) if isinstance(a, np.ndarray) else [*a, *b]
    return CandidatePool(**joined)  # type: ignore[arg-type]


def style_match(
    *, style_scores: list[dict[str, float]], styles: dict[str, float]
) -> tuple[np.ndarray, list[str | None]]:
    """Σ_s w_s · score_s / Σ_s |w_s| per product, in [-1, 1], and the style that helped most."""
    n = len(style_scores)
    if not styles:
        return np.zeros(n), [None] * n
    total = sum(abs(w) for w in styles.values())
    values = np.zeros(n)
    best: list[str | None] = [None] * n
    for i, scores in enumerate(style_scores):
        parts = {slug: w * float(scores.get(slug, 0.0) or 0.0) for slug, w in styles.items()}
        values[i] = sum(parts.values()) / total
        slug, part = max(parts.items(), key=lambda item: item[1])
        best[i] = slug if part > 0 else None
    return np.clip(values, -1.0, 1.0), best


def collaborative_scores(
    *, pool: CandidatePool, seeds: dict[int, float], neighbours: dict[str, Neighbours]
) -> np.ndarray:
    """max over seeds i of weight_i · C(i, j); records the seed and relation behind each score
    in ``pool.collab_seed`` for the explanation. Co-purchase beats co-view on ties."""
    best: dict[int, tuple[float, int, str]] = {}
    for relation in ("co_view", "co_purchase"):
        for seed, weight in seeds.items():
            for other, score in neighbours.get(relation, {}).get(seed, []):
                value = weight * score
                if value >= best.get(other, (0.0, 0, ""))[0] and value > 0:
                    best[other] = (value, seed, relation)
    values = np.zeros(len(pool))
    for i, pid in enumerate(pool.ids.tolist()):
        if pid in best:
            values[i] = best[pid][0]
            pool.collab_seed[i] = (best[pid][1], best[pid][2])
    return np.clip(values, 0.0, 1.0)


def signal_matrix(
    *,
    pool: CandidatePool,
    ctx: CustomerContext,
    styles: dict[str, float],
    collaborative: np.ndarray,
    popularity_max: float,
    freshness_half_life_days: float,
    factor: np.ndarray | None = None,
    sequence: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str | None]]:
    """The n × len(SIGNALS) matrix and, per product, the style slug behind its style signal.
    ``factor`` and ``sequence`` come from ``ranking.latent`` (None: 0, the signal is off)."""
    n = len(pool)
    matrix = np.zeros((n, len(SIGNALS)))
    if ctx.text_vector is not None:
        matrix[:, SIGNAL_INDEX["history"]] = pool.text @ ctx.text_vector
    if ctx.viewed is not None and ctx.viewed.text is not None:
        matrix[:, SIGNAL_INDEX["context"]] = pool.text @ ctx.viewed.text
    style_values, style_best = style_match(style_scores=pool.style_scores, styles=styles)
    matrix[:, SIGNAL_INDEX["style"]] = style_values
    # Visual: the mean of the image cosines we can compute (customer taste, viewed product).
    visual = np.stack([pool.visual_history, pool.visual_context])
    known = ~np.isnan(visual)
    count = known.sum(axis=0)
    matrix[:, SIGNAL_INDEX["visual"]] = np.where(
        count > 0, np.nansum(visual, axis=0) / np.maximum(count, 1), 0.0
    )
    matrix[:, SIGNAL_INDEX["sentiment"]] = np.clip(np.nan_to_num(pool.sentiment), -1.0, 1.0)
    matrix[:, SIGNAL_INDEX["collaborative"]] = collaborative
    scale = math.log1p(max(popularity_max, float(pool.popularity.max(initial=0.0)), 0.0))
    if scale > 0:
        matrix[:, SIGNAL_INDEX["popularity"]] = np.log1p(np.maximum(pool.popularity, 0.0)) / scale
    half_life = max(float(freshness_half_life_days), 1e-6)
    matrix[:, SIGNAL_INDEX["freshness"]] = np.power(0.5, pool.age_days / half_life)
    if factor is not None:
        matrix[:, SIGNAL_INDEX["factor"]] = factor
    if sequence is not None:
        matrix[:, SIGNAL_INDEX["sequence"]] = sequence
    return np.clip(matrix, -1.0, 1.0), style_best
