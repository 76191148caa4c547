"""stylerec's own ranker, offline: the signal matrix of ``SIGNALS`` built from one stage's
history only, assembled by the serving code (``ranking.signals.signal_matrix``), scored by
``ranking.scoring.fuse`` and re-ranked by ``ranking.diversity.mmr_select`` and the profile's
boosts (``ranking.rules``), exactly as a request is.

What serving reads from the database is made here from the history arrays instead:

* the customer's text (and image) profile vector — the strength × recency weighted mean of the
  content vectors of the items in their history;
* the viewed product (``context``) — the most recent item of the history;
* the customer's styles — the top ``MAX_USER_STYLES`` styles of their history (genres for
  MovieLens), the largest scaled to 1;
* collaborative seeds — the ``MAX_SEEDS`` strongest history items; the signal is
  max over seeds of weight × cosine co-occurrence, over each seed's ``MAX_NEIGHBOURS``
  neighbours (``ranking.collaborative``'s definition), from the history matrix;
* popularity — serving's function (``ranking.collaborative.popularity_scores``): the events
  logged up to the customer's moment (other users' later events are in the log too and must not
  count), each × its kind weight, halved per ``POPULARITY_HALF_LIFE_DAYS``, within
  ``POPULARITY_WINDOW_DAYS``; every customer counts with full trust (MovieLens has no new accounts);
* sentiment — the stored review sentiment, or for rated data a Bayesian average of the history
  ratings; freshness — the item's age at the customer's moment.

One deliberate difference: serving weighs a customer's past items by a 30-day time half-life;
here recency is by position (``RECENCY_HALF_LIFE_ITEMS``), because MovieLens users rate dozens of
films in one sitting, where every item is equally recent by the clock (see README.md, "Offline evaluation"
for the measured gap).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from stylerec.customers import INTERACTION_WEIGHTS, MAX_RECENT_INTERACTIONS, Owner
from stylerec.lab.evaluation.datasets import EvalDataset
from stylerec.lab.evaluation.protocol import InteractionLog
from stylerec.ranking.collaborative import MAX_NEIGHBOURS, POPULARITY_WINDOW_DAYS, popularity_scores
from stylerec.ranking.context import MAX_SEEDS, CustomerContext, ViewedProduct
from stylerec.ranking.diversity import mmr_select
from stylerec.ranking.latent import LatentInputs, factor_gram, factors_fit, latent_signals, transitions_build
from stylerec.ranking.rules import boosts_for, rules_parse
from stylerec.ranking.scoring import fuse
from stylerec.ranking.signals import CandidatePool, signal_matrix, style_match
from stylerec.ranking.types import SIGNALS

MAX_USER_STYLES = 5
STYLE = SIGNALS.index("style")
RERANK_DEPTH = 20  # the deepest cut-off reported; below it the order is by score
RECENCY_HALF_LIFE_ITEMS = 3.0
SENTIMENT_PRIOR_COUNT = 10.0  # ratings a film needs before its own mean outweighs the global one
DAY = 86_400.0


@dataclass
class UserHistory:
    """The per-user view of one stage's history that every signal is built from."""

    matrix: sp.csr_matrix  # users × items, binary
    weights: sp.csr_matrix  # users × items, strength × recency weight
    last_item: np.ndarray  # per user, -1 without history
    last_time: np.ndarray  # per user, seconds; nan without history


def history_summarise(*, log: InteractionLog, n_users: int, n_items: int) -> UserHistory:
    order = np.lexsort((np.arange(len(log)), log.timestamps, log.users))
    log = log.take(order)
    # Rank from the end within each user (0 = most recent) for the recency weight.
    is_last = np.r_[log.users[1:] != log.users[:-1], True] if len(log) else np.array([], bool)
    last_rows = np.flatnonzero(is_last)
    counts = np.diff(np.r_[-1, last_rows])
    from_end = np.repeat(last_rows, counts) - np.arange(len(log))
    strength = log.strengths / max(float(log.strengths.max(initial=1.0)), 1e-9)
    weight = strength * 0.5 ** (from_end / RECENCY_HALF_LIFE_ITEMS)
    shape = (n_users, n_items)
    weights = sp.csr_matrix((weight, (log.users, log.items)), shape=shape)
    last_item = np.full(n_users, -1, dtype=np.int64)
    last_time = np.full(n_users, np.nan)
    last_item[log.users[last_rows]] = log.items[last_rows]
    last_time[log.users[last_rows]] = log.timestamps[last_rows]
    return UserHistory(
        matrix=log.matrix(n_users=n_users, n_items=n_items),
        weights=weights,
        last_item=last_item,
        last_time=last_time,
    )


def item_cooccurrence(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Item × item cosine of the binary user columns, diagonal removed."""
    binary = matrix.astype(np.float32)
    counts = np.asarray(binary.sum(axis=0)).ravel()
    inv = 1.0 / np.sqrt(np.where(counts == 0, 1.0, counts))
    co = (binary.T @ binary).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    return sp.diags(inv) @ co @ sp.diags(inv)


def item_sentiment_from_ratings(*, log: InteractionLog, n_items: int) -> np.ndarray:
    """Bayesian average of 1-5 ratings, shrunk to the global mean, mapped to [-1, 1]."""
    sums = np.bincount(log.items, weights=log.strengths, minlength=n_items)
    counts = np.bincount(log.items, minlength=n_items)
    prior = float(log.strengths.mean()) if len(log) else 3.0
    mean = (sums + SENTIMENT_PRIOR_COUNT * prior) / (counts + SENTIMENT_PRIOR_COUNT)
    return ((mean - 3.0) / 2.0).astype(np.float32)


def trending_counts(
    *, log: InteractionLog, n_items: int, at: np.ndarray, kind_weights: np.ndarray | None = None
) -> np.ndarray:
    """Per moment in ``at`` and item: serving's popularity (``ranking.collaborative.
    popularity_scores``, the same function) over the events of ``log`` logged up to that moment,
    each × its kind weight (``kind_weights``, one per event; None: 1 each)."""
    out = np.zeros((len(at), n_items))
    if not len(log):
        return out
    weights = np.ones(len(log)) if kind_weights is None else np.asarray(kind_weights, dtype=np.float64)
    order = np.argsort(log.timestamps, kind="stable")
    stamps, items, weights = log.timestamps[order], log.items[order], weights[order]
    moments, inverse = np.unique(np.asarray(at, dtype=np.float64), return_inverse=True)
    for m, moment in enumerate(moments):
        lo = np.searchsorted(stamps, moment - POPULARITY_WINDOW_DAYS * DAY, side="right")
        hi = np.searchsorted(stamps, moment, side="right")
        out[inverse == m] = popularity_scores(
            items=items[lo:hi],
            kind_weights=weights[lo:hi],
            age_days=(moment - stamps[lo:hi]) / DAY,
            n_items=n_items,
        )
    return out


def _kind_weights(dataset: EvalDataset, log: InteractionLog) -> np.ndarray:
    """Each event's kind weight (``INTERACTION_WEIGHTS``): the dataset's one kind, else the
    strength (the store loaders' strengths are the kind weights)."""
    if dataset.event_kind is not None:
        return np.full(len(log), INTERACTION_WEIGHTS[dataset.event_kind])
    return log.strengths.astype(np.float64)


def _taste_vectors(weights: sp.csr_matrix, item_vectors: np.ndarray) -> np.ndarray:
    """Each user's weighted mean item vector, unit length (zero rows without history)."""
    profile = np.asarray(weights @ item_vectors, dtype=np.float32)
    norms = np.linalg.norm(profile, axis=1, keepdims=True)
    return profile / np.where(norms == 0, 1.0, norms)


def _neighbour_matrix(matrix: sp.csr_matrix) -> np.ndarray:
    """Dense item × item cosine co-occurrence keeping each item's MAX_NEIGHBOURS best."""
    dense = np.minimum(item_cooccurrence(matrix).toarray().astype(np.float32), 1.0)
    if dense.shape[1] > MAX_NEIGHBOURS:
        cut = np.partition(dense, -MAX_NEIGHBOURS, axis=1)[:, -MAX_NEIGHBOURS][:, None]
        # ties at the cut may keep a few more than MAX_NEIGHBOURS; they score the same
        dense = np.where(dense >= cut, dense, 0.0)
    return dense


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def signals_build(
    *,
    dataset: EvalDataset,
    history: InteractionLog,
    users: np.ndarray,
    half_life_days: float,
) -> np.ndarray:
    """Signal tensor (len(users), n_items, len(SIGNALS)) built from ``history`` alone, one
    customer at a time through serving's ``signal_matrix``."""
    n_items = dataset.n_items
    hist = history_summarise(log=history, n_users=dataset.n_users, n_items=n_items)
    weights = hist.weights[users].tocsr()
    text = _unit_rows(dataset.item_content)
    taste_text = _taste_vectors(weights, text)
    visual = _unit_rows(dataset.item_visual) if dataset.item_visual is not None else None
    taste_visual = _taste_vectors(weights, visual) if visual is not None else None
    style_share = np.asarray(weights @ dataset.item_styles, dtype=np.float64)
    neighbours = _neighbour_matrix(hist.matrix)
    now = hist.last_time[users]
    now = np.where(np.isnan(now), np.nanmax(hist.last_time), now)
    trend = trending_counts(
        log=history, n_items=n_items, at=now, kind_weights=_kind_weights(dataset, history)
    )
    sentiment = (
        dataset.item_sentiment
        if dataset.item_sentiment is not None
        else item_sentiment_from_ratings(log=history, n_items=n_items)
    )
    created = dataset.item_created if dataset.item_created is not None else np.full(n_items, np.nan)
    item_styles = [
        {name: float(w) for name, w in zip(dataset.style_names, row, strict=False) if w}
        for row in dataset.item_styles
    ]
    # style_match loops in Python over items; items share few distinct style mixes (216 genre
    # combinations for 1682 films), so it runs on those and is spread back.
    style_rows, style_inverse = np.unique(dataset.item_styles, axis=0, return_inverse=True)
    style_mixes = [
        {name: float(w) for name, w in zip(dataset.style_names, row, strict=False) if w} for row in style_rows
    ]
    base_pool = CandidatePool(
        ids=np.arange(n_items),
        titles=dataset.item_titles,
        categories=dataset.item_categories,
        style_scores=item_styles,
        sentiment=np.asarray(sentiment, dtype=np.float64),
        rating_average=np.full(n_items, np.nan),
        review_count=np.zeros(n_items),
        popularity=np.zeros(n_items),
        age_days=np.zeros(n_items),
        text=text,
        visual_history=np.full(n_items, np.nan),
        visual_context=np.full(n_items, np.nan),
    )
    latent, customers = _latent_inputs(dataset=dataset, history=history, users=users)
    all_items = list(range(n_items))
    out = np.zeros((len(users), n_items, len(SIGNALS)), dtype=np.float32)
    for row in range(len(users)):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        items, item_weights = weights.indices[start:end], weights.data[start:end]
        last = int(hist.last_item[users[row]])
        ctx = CustomerContext(owner=Owner(), text_vector=taste_text[row] if len(items) else None)
        if last >= 0:
            ctx.viewed = ViewedProduct(
                id=last,
                title=dataset.item_titles[last],
                category=dataset.item_categories[last],
                text=text[last],
                image=visual[last] if visual is not None else None,
                style_scores=item_styles[last],
            )
        age_days = np.nan_to_num(np.maximum(now[row] - created, 0.0) / DAY)
        pool = replace(base_pool, popularity=trend[row], age_days=age_days)
        if visual is not None and taste_visual is not None and len(items):
            pool.visual_history = visual @ taste_visual[row]
        if visual is not None and last >= 0:
            pool.visual_context = visual @ visual[last]
        collaborative = np.zeros(n_items)
        if len(items):
            seeds = np.argsort(-item_weights, kind="stable")[:MAX_SEEDS]
            seed_weight = item_weights[seeds] / item_weights[seeds].max()
            collaborative = (seed_weight[:, None] * neighbours[items[seeds]]).max(axis=0)
        factor, sequence, _ = latent_signals(inputs=latent, pool_ids=all_items, customer=customers[row])
        matrix, _ = signal_matrix(
            pool=pool,
            ctx=ctx,
            styles={},  # filled below, from the distinct style mixes
            collaborative=np.clip(collaborative, 0.0, 1.0),
            popularity_max=float(trend[row].max(initial=0.0)),
            freshness_half_life_days=half_life_days,
            factor=factor,
            sequence=sequence,
        )
        styles = _top_styles(style_share[row], dataset.style_names)
        matrix[:, STYLE] = style_match(style_scores=style_mixes, styles=styles)[0][style_inverse.ravel()]
        out[row] = matrix
    return out


def _latent_inputs(
    *, dataset: EvalDataset, history: InteractionLog, users: np.ndarray
) -> tuple[LatentInputs, list[list[tuple[int, float]]]]:
    """The factor and sequence inputs serving caches (``ranking.latent.latent_refresh``), fitted
    on ``history`` alone, and per user their products latest first with kind weights (serving's
    ``ctx.recent``: the latest ``MAX_RECENT_INTERACTIONS``)."""
    order = np.lexsort((np.arange(len(history)), history.timestamps, history.users))
    log = history.take(order)
    kind = _kind_weights(dataset, log)
    matrix = sp.csr_matrix((kind, (log.users, log.items)), shape=(dataset.n_users, dataset.n_items))
    item_factors = factors_fit(matrix)
    inputs = LatentInputs(
        gram=factor_gram(item_factors),
        item_factors=dict(enumerate(item_factors)),
        transitions=transitions_build(owners=log.users, items=log.items),
    )
    starts = np.searchsorted(log.users, users, side="left")
    ends = np.searchsorted(log.users, users, side="right")
    customers = [
        list(zip(log.items[start:end][::-1].tolist(), kind[start:end][::-1].tolist(), strict=True))[
            :MAX_RECENT_INTERACTIONS
        ]
        for start, end in zip(starts, ends, strict=True)
    ]
    return inputs, customers


def _top_styles(share: np.ndarray, names: list[str]) -> dict[str, float]:
    """The customer's strongest styles, the largest scaled to 1 (behaviour-inferred weights)."""
    if not len(share) or share.max(initial=0.0) <= 0:
        return {}
    top = np.argsort(-share, kind="stable")[:MAX_USER_STYLES]
    return {names[i]: float(share[i] / share[top[0]]) for i in top if share[i] > 0}


def profile_half_life(*, dataset: EvalDataset, profile) -> float:
    return float(dataset.freshness_half_life_days or profile.freshness_half_life_days or 30.0)


def stylerec_rank(
    *, signals: np.ndarray, profile, dataset: EvalDataset, exclude: sp.csr_matrix
) -> list[np.ndarray]:
    """Full-catalog rankings under ``profile``: fuse + boosts, the history removed, then MMR
    with the category cap over the best ``candidate_pool`` items (serving's pool size), the
    rest in score order. ``exclude`` rows match ``signals`` rows."""
    rules = rules_parse(getattr(profile, "rules", {}) or {})
    ids = np.asarray(dataset.item_ids or range(dataset.n_items))  # rules name the data's own ids
    boosts = boosts_for(rules=rules, ids=ids, categories=dataset.item_categories)
    blocked = np.flatnonzero(
        np.isin(ids, list(rules.blocked_products))
        | np.isin(np.asarray(dataset.item_categories, dtype=object), list(rules.blocked_categories))
    )
    text = _unit_rows(dataset.item_content)
    pool_size = max(int(profile.candidate_pool), 20)
    rankings = []
    for row in range(len(signals)):
        scores = fuse(signals[row], profile)[0] + boosts
        seen = exclude.indices[exclude.indptr[row] : exclude.indptr[row + 1]]
        order = np.argsort(-scores, kind="stable")
        order = order[~np.isin(order, np.concatenate([seen, blocked]))]
        if dataset.item_in_stock is not None and profile.in_stock_only:
            order = order[dataset.item_in_stock[order]]
        pool = order[:pool_size]
        if float(profile.mmr_lambda) < 1.0 or int(profile.max_per_category):
            picked = mmr_select(
                scores=scores[pool],
                vectors=text[pool],
                categories=[dataset.item_categories[i] for i in pool],
                k=RERANK_DEPTH,
                mmr_lambda=profile.mmr_lambda,
                max_per_category=int(profile.max_per_category),
            )
            head = pool[picked]
            order = np.concatenate([head, order[~np.isin(order, head)]])
        rankings.append(order)
    return rankings
