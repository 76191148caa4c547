"""Candidate pools: kept by workers on every profile-changing event, read in the context's round
trip, filtered live, and ranked by the same code as the direct path, the preview and evaluation."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from django.db import connections
from django.utils import timezone

from stylerec.customers import Owner
from stylerec.db import rows_fetch_many
from stylerec.lab.evaluation.datasets import EvalDataset, InteractionLog
from stylerec.lab.evaluation.stylerec_model import stylerec_rank
from stylerec.models import CandidatePool, get_product_model
from stylerec.ranking.candidates import CandidateFilter
from stylerec.ranking.collaborative import (
    collaborative_refresh,
    cooccurrence_compute,
    neighbours_forget,
    popularity_max,
)
from stylerec.ranking.context import context_load
from stylerec.ranking.engine import recommend as engine_recommend
from stylerec.ranking.pools import POOL_BLOCKS, pool_queries, stored_from_rows, stored_signals_apply
from stylerec.ranking.signals import pool_from_rows, signal_matrix
from stylerec.ranking.types import RecommendationRequest
from stylerec.services.artifacts import reviews_follow_up
from stylerec.services.events import interaction_record
from stylerec.services.pools import candidate_pools_build, candidate_pools_sweep
from stylerec.services.preferences import style_preferences_set
from tests.factories import make_order, make_product, make_review, make_style, make_user
from tests.ranking.conftest import ids, recommend
from tests.ranking.test_latent import sequences  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

EVENTS = {
    "view": lambda user, product: interaction_record(kind="view", user=user, product_id=product.pk),
    "click": lambda user, product: interaction_record(kind="click", user=user, product_id=product.pk),
    "cart": lambda user, product: interaction_record(kind="cart", user=user, product_id=product.pk),
    "purchase": lambda user, product: make_order(product.pk, user=user),
    "search": lambda user, product: interaction_record(kind="search", user=user, query="retro coat"),
    # what the pipeline runs once a review's artifacts are computed (tasks.artifacts_compute); the
    # review itself is saved before, outside the captured commit (its models are not run here)
    "review": lambda user, product: reviews_follow_up(
        review_ids=list(product.stylerec_reviews.filter(user=user).values_list("pk", flat=True))
    ),
    "style choice": lambda user, product: style_preferences_set(
        owner=Owner(user_id=user.pk), weights={"retro": 1.0}
    ),
}


def _catalog(n: int = 12, **fields):
    return [make_product(direction={1: 1.0, 2 + i: 0.3 + 0.05 * i}, **fields) for i in range(n)]


@pytest.mark.parametrize("event", list(EVENTS))
def test_pools_are_rebuilt_on_each_event_kind(event, django_capture_on_commit_callbacks):
    make_style("retro")
    products = _catalog(4)
    user = make_user()
    long_ago = timezone.now() - timedelta(days=3)
    CandidatePool.objects.bulk_create(
        [CandidatePool(user=user, block=block, built_at=long_ago) for block in POOL_BLOCKS]
    )
    make_review(products[0], user=user)
    with django_capture_on_commit_callbacks(execute=True):
        EVENTS[event](user, products[0])
    built = dict(CandidatePool.objects.filter(user=user).values_list("block", "built_at"))
    assert set(built) == set(POOL_BLOCKS)
    assert all(when > long_ago for when in built.values()), event


def test_a_pool_serves_the_block_in_one_read_with_live_signals(active_profile):
    active_profile(only={"history": 1.0})
    products = _catalog(12)
    user = make_user()
    interaction_record(kind="view", user=user, product_id=products[0].pk)
    assert CandidatePool.objects.filter(user=user, block="for_you").exists()
    result = recommend(user_id=user.pk, k=4)
    assert result.from_pool and len(result.items) == 4
    assert products[0].pk not in ids(result)  # what they just viewed is left out, as on the direct path
    direct = engine_recommend(RecommendationRequest(user_id=user.pk, k=4, block="in_your_style"))
    assert not direct.from_pool  # no styles: the in-your-style pool is empty, the direct path serves


def test_a_filter_that_empties_the_pool_falls_back_and_still_returns_k(active_profile):
    active_profile(only={"history": 1.0}, candidate_pool=20)
    dresses = _catalog(24, category="Dress")
    bags = [make_product(direction={30 + i: 1.0}, category="Bag") for i in range(6)]
    user = make_user()
    interaction_record(kind="view", user=user, product_id=dresses[0].pk)
    stored = CandidatePool.objects.get(user=user, block="for_you").product_ids
    assert not {bag.pk for bag in bags} & set(stored)  # the pool holds only the nearest dresses
    result = recommend(user_id=user.pk, k=4, category="Bag")
    assert not result.from_pool
    assert len(result.items) == 4 and {item.product.category for item in result.items} == {"Bag"}


def test_a_deactivated_or_sold_out_product_is_never_served_from_a_stale_pool(active_profile):
    active_profile(only={"history": 1.0})
    products = _catalog(12)
    user = make_user()
    interaction_record(kind="view", user=user, product_id=products[0].pk)
    first = recommend(user_id=user.pk, k=3)
    assert first.from_pool
    gone, sold_out = ids(first)[:2]
    built_at = CandidatePool.objects.get(user=user, block="for_you").built_at
    # UPDATEs send no signal: nothing rebuilds the pool, which still names both
    get_product_model().objects.filter(pk=gone).update(is_active=False)
    get_product_model().objects.filter(pk=sold_out).update(stock=0)
    again = recommend(user_id=user.pk, k=4)
    assert CandidatePool.objects.get(user=user, block="for_you").built_at == built_at
    assert again.from_pool and len(again.items) == 4
    assert gone not in ids(again) and sold_out not in ids(again)


def test_served_order_equals_the_previews_and_the_evaluations(active_profile):
    profile = active_profile(
        w_history=1.0, w_popularity=0.3, w_freshness=0.1, w_sentiment=0.2, mmr_lambda=1.0
    )
    products = _catalog(14)
    for i, product in enumerate(products):
        get_product_model().objects.filter(pk=product.pk).update(
            popularity=float(i % 5), sentiment_score=0.1 * i
        )
    user = make_user()
    interaction_record(kind="view", user=user, product_id=products[0].pk)
    request = RecommendationRequest(user_id=user.pk, k=5)
    served = recommend(**dataclasses.asdict(request))
    assert served.from_pool
    # the admin preview: the same engine with the (unsaved) profile instance
    preview = engine_recommend(dataclasses.replace(request, explain=True), profile=profile)
    assert ids(preview) == ids(served)

    # evaluation: the same pool's signal matrix, ranked by the lab's stylerec_rank
    owner = Owner(user_id=user.pk)
    filters = CandidateFilter(exclude_ids=frozenset())
    rows = rows_fetch_many(pool_queries(owner=owner, block="for_you", filters=filters, viewed_id=None))
    ctx = context_load(owner=owner, product_id=None)
    stored = stored_from_rows(rows[0])
    live = [row for row in rows[1] if row[0] not in {seed.id for seed in ctx.seeds}]
    pool = pool_from_rows(live, order=stored.ids.tolist())
    collaborative, factor, sequence = stored_signals_apply(pool=pool, stored=stored)
    matrix, _ = signal_matrix(
        pool=pool,
        ctx=ctx,
        styles={},
        collaborative=collaborative,
        popularity_max=popularity_max(),
        freshness_half_life_days=profile.freshness_half_life_days,
        factor=factor,
        sequence=sequence,
    )
    n = len(pool)
    dataset = EvalDataset(
        name="pool",
        label="simulated",
        log=mock.Mock(spec=InteractionLog),
        n_users=1,
        n_items=n,
        item_titles=pool.titles,
        item_categories=pool.categories,
        item_content=pool.text,
        content_source="pool",
        item_styles=np.zeros((n, 0)),
        style_names=[],
        item_ids=pool.ids.tolist(),
    )
    ranking = stylerec_rank(
        signals=matrix[None], profile=profile, dataset=dataset, exclude=sp.csr_matrix((1, n))
    )
    assert [int(pool.ids[i]) for i in ranking[0][:5]] == ids(served)


def test_factor_and_sequence_are_stored_in_the_pool_and_explained(sequences, active_profile):  # noqa: F811
    first, then, other = sequences
    _catalog(8)
    collaborative_refresh()
    active_profile(only={"sequence": 1.0, "factor": 0.5})
    customer = make_user()
    interaction_record(kind="view", user=customer, product_id=first.pk)
    stored = stored_from_rows(
        rows_fetch_many(
            pool_queries(
                owner=Owner(user_id=customer.pk), block="for_you", filters=CandidateFilter(), viewed_id=None
            )
        )[0]
    )
    at = stored.ids.tolist().index(then.pk)
    assert stored.signals[at, 2] > 0 and stored.signals[at, 3] > 0  # factor, sequence
    result = recommend(user_id=customer.pk, k=3, explain=True)
    assert result.from_pool
    top = result.items[0]
    assert top.product.pk == then.pk
    assert top.contributions["sequence"] > 0 and top.contributions["factor"] > 0
    assert top.reasons[0].text == "Often bought next after Boots"


def test_a_missing_pool_is_built_at_once_in_eager_mode(active_profile):
    active_profile(only={"history": 1.0})
    products = _catalog(12)
    user = make_user()
    interaction_record(kind="view", user=user, product_id=products[0].pk)
    CandidatePool.objects.filter(user=user).delete()
    first = recommend(user_id=user.pk, k=3)
    assert not first.from_pool and len(first.items) == 3  # the direct path served meanwhile
    assert CandidatePool.objects.filter(user=user).count() == len(POOL_BLOCKS)
    assert recommend(user_id=user.pk, k=3).from_pool  # the build dropped the cached list


def test_a_block_waiting_for_its_pool_computes_no_neighbour_list_and_its_build_does(active_profile):
    """The direct path of a pooled block reads the neighbour lists that are cached; the pool build
    it asks for computes the rest. A product block (no pool) still computes its seed's list."""
    active_profile(only={"collaborative": 1.0})
    products = _catalog(6)
    user, other = make_user(), make_user()
    for product in products[:4]:
        interaction_record(kind="view", user=other, product_id=product.pk)
    interaction_record(kind="view", user=user, product_id=products[0].pk)
    CandidatePool.objects.filter(user=user).delete()
    neighbours_forget(product_ids=[p.pk for p in products])
    computed = mock.Mock(wraps=cooccurrence_compute)
    with (
        mock.patch("stylerec.ranking.collaborative.cooccurrence_compute", computed),
        mock.patch("stylerec.receivers.candidate_pools_request") as wanted,
    ):
        served = recommend(user_id=user.pk, k=3)
        assert not served.from_pool and not computed.called
        assert wanted.call_args.kwargs["owner"] == Owner(user_id=user.pk)
        candidate_pools_build(user_id=user.pk)  # what the worker then runs
        assert computed.called
        computed.reset_mock()
        neighbours_forget(product_ids=[p.pk for p in products])
        recommend(user_id=user.pk, k=3, block="similar", product_id=products[1].pk)
        assert computed.called


def test_the_sweep_ends_old_session_pools_and_rebuilds_stale_ones(active_profile):
    active_profile(only={"history": 1.0})
    products = _catalog(6)
    user = make_user()
    interaction_record(kind="view", user=user, product_id=products[0].pk)
    interaction_record(kind="view", session_key="p" + "a" * 39, product_id=products[1].pk)
    old = timezone.now() - timedelta(days=3)
    CandidatePool.objects.update(built_at=old)
    report = candidate_pools_sweep(limit=10)
    assert report["expired"] == len(POOL_BLOCKS)
    assert not CandidatePool.objects.filter(user__isnull=True).exists()
    assert report["rebuilds_sent"] == 1
    assert CandidatePool.objects.filter(user=user, built_at__gt=old).count() == len(POOL_BLOCKS)


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_serving_reads_from_the_read_alias_and_builds_on_the_primary(settings, active_profile):
    active_profile(only={"history": 1.0})
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "READ_DATABASE_ALIAS": "replica"}
    products = _catalog(12)
    user = make_user()
    interaction_record(kind="view", user=user, product_id=products[0].pk)
    recommend(user_id=user.pk, k=2)  # warms the cached active profile
    for alias in ("default", "replica"):
        connections[alias].close()
    used: list[str] = []
    for alias in ("default", "replica"):
        original = connections[alias].ensure_connection
        patcher = mock.patch.object(
            connections[alias],
            "ensure_connection",
            side_effect=lambda a=alias, o=original: (used.append(a), o())[1],
        )
        patcher.start()
    try:
        result = recommend(user_id=user.pk, k=4)
    finally:
        mock.patch.stopall()
    assert result.from_pool and len(result.items) == 4
    assert "replica" in used and "default" not in used
    # a build (asked for by an event) reads and writes the primary even while serving reads a replica
    assert candidate_pools_build(user_id=user.pk) == len(POOL_BLOCKS)


def test_an_unknown_read_alias_is_a_check_error(settings):
    from django.core.checks import run_checks

    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "READ_DATABASE_ALIAS": "nowhere"}
    assert [m.id for m in run_checks() if m.id == "stylerec.E019"] == ["stylerec.E019"]
    settings.STYLEREC = {**settings.STYLEREC, "READ_DATABASE_ALIAS": "replica"}
    assert not [m for m in run_checks() if m.id == "stylerec.E019"]
