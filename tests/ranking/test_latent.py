"""The factor (matrix factorisation) and sequence (next item) signals: their maths, that serving
reads what the periodic refresh stored, and their reasons."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.sparse as sp
from django.utils import timezone

from stylerec.models import Interaction
from stylerec.ranking import latent
from stylerec.ranking.collaborative import collaborative_refresh
from stylerec.ranking.scoring import SIGNAL_INDEX
from stylerec.ranking.types import SIGNALS
from tests.factories import make_established, make_product, make_user

from .conftest import recommend

pytestmark = pytest.mark.django_db


def test_both_signals_are_ranking_signals_with_profile_weights():
    from stylerec.models import RankingProfile

    assert {"factor", "sequence"} <= set(SIGNALS)
    profile = RankingProfile()
    assert profile.w_factor == 0.0 and profile.w_sequence == 0.0  # stores rank as before


def test_transitions_are_directed_and_scored_from_the_latest_items_with_decay():
    # three customers went 1 -> 2, one went 2 -> 3; a repeated item is no step
    owners = [0, 0, 0, 1, 1, 2, 2, 3, 3]
    items = [1, 1, 2, 1, 2, 1, 2, 2, 3]
    transitions = latent.transitions_build(owners=owners, items=items)
    assert dict(transitions[1]) == pytest.approx({2: 3 / (3 + latent.SEQUENCE_PRIOR)})
    assert dict(transitions[2]) == pytest.approx({3: 1 / (1 + latent.SEQUENCE_PRIOR)})
    assert 1 not in dict(transitions.get(2, []))  # directed: nobody went 2 -> 1
    values, sources = latent.sequence_scores(candidate_ids=[1, 2, 3], recent=[1], transitions=transitions)
    assert values[0] == 0.0 and values[1] > 0 and values[2] == 0.0 and sources[1] == 1
    # the latest item weighs most: after [2, 1] item 3 (next after 2) beats item 2 (next after 1)?
    latest_2, _ = latent.sequence_scores(candidate_ids=[2, 3], recent=[2, 1], transitions=transitions)
    latest_1, _ = latent.sequence_scores(candidate_ids=[2, 3], recent=[1, 2], transitions=transitions)
    assert latest_2[1] > latest_1[1] and latest_1[0] > latest_2[0]


def test_fold_in_is_the_als_user_step():
    """A customer's vector folded in from the item factors is what implicit's ALS computes for
    that user from the same item factors."""
    from implicit.cpu.als import AlternatingLeastSquares

    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((30, 40)) < 0.2).astype(np.float32) * 4.0)
    item_factors = latent.factors_fit(matrix, threads=1)
    model = AlternatingLeastSquares(
        factors=latent.FACTORS, regularization=latent.FACTOR_REGULARIZATION, alpha=latent.FACTOR_ALPHA
    )
    model.item_factors = item_factors
    model.user_factors = np.zeros((30, latent.FACTORS), dtype=np.float32)
    row = matrix[3]
    expected = model.recalculate_user(3, row)
    got = latent.factor_user_vector(
        item_factors=item_factors[row.indices], kind_weights=row.data, gram=latent.factor_gram(item_factors)
    )
    assert np.allclose(got, np.ravel(expected), atol=1e-3)
    scores = latent.factor_scores(user_vector=got, item_factors=item_factors)
    assert scores.max() <= 1.0 and scores[row.indices].mean() > np.delete(scores, row.indices).mean()


@pytest.fixture
def sequences():
    """Twelve established customers who bought ``first`` then ``then``; ``other`` is bought alone."""
    first, then, other = (
        make_product(direction=d, title=t) for d, t in ((1, "Boots"), (2, "Laces"), (3, "Hat"))
    )
    now = timezone.now()
    for n in range(12):
        buyer = make_user()
        make_established(buyer)
        Interaction.objects.bulk_create(
            [
                Interaction(
                    user=buyer, product_id=first.pk, kind="purchase", created_at=now - dt.timedelta(hours=2)
                ),
                Interaction(
                    user=buyer, product_id=then.pk, kind="purchase", created_at=now - dt.timedelta(hours=1)
                ),
            ]
        )
        if n % 3 == 0:
            Interaction.objects.create(user=buyer, product_id=other.pk, kind="view", created_at=now)
    return first, then, other


def test_refresh_caches_what_serving_reads_and_the_reasons_name_it(sequences, active_profile):
    first, then, other = sequences
    counts = collaborative_refresh()
    assert counts["factor_products"] == 3 and counts["sequence_products"] >= 1
    inputs = latent.latent_lookup(product_ids=[first.pk, then.pk, other.pk], recent=[first.pk])
    assert inputs.gram is not None and set(inputs.item_factors) == {first.pk, then.pk, other.pk}
    assert inputs.transitions[first.pk][0][0] == then.pk

    customer = make_user()
    Interaction.objects.create(user=customer, product_id=first.pk, kind="view", created_at=timezone.now())
    active_profile(only={"sequence": 1.0})
    result = recommend(block="for_you", user_id=customer.pk, k=2, explain=True)
    top = result.items[0]
    assert top.product.pk == then.pk
    assert top.contributions["sequence"] > 0
    assert top.reasons[0].code == "next" and top.reasons[0].text == "Often bought next after Boots"


def test_factor_signal_is_served_with_its_reason(sequences, active_profile):
    first, then, other = sequences
    collaborative_refresh()
    customer = make_user()
    Interaction.objects.create(user=customer, product_id=first.pk, kind="purchase", created_at=timezone.now())
    active_profile(only={"factor": 1.0})
    result = recommend(block="for_you", user_id=customer.pk, k=2, explain=True)
    assert result.items and result.items[0].product.pk == then.pk
    assert result.items[0].contributions["factor"] > 0
    assert result.items[0].reasons[0].text == "Customers with your taste bought this"


def test_signal_matrix_has_the_columns():
    from stylerec.customers import Owner
    from stylerec.ranking.context import CustomerContext
    from stylerec.ranking.signals import CandidatePool, signal_matrix

    n = 3
    pool = CandidatePool(
        ids=np.arange(n), titles=["a", "b", "c"], categories=["x"] * n, style_scores=[{}] * n,
        sentiment=np.zeros(n), rating_average=np.full(n, np.nan), review_count=np.zeros(n),
        popularity=np.zeros(n), age_days=np.zeros(n), text=np.zeros((n, 4)),
        visual_history=np.full(n, np.nan), visual_context=np.full(n, np.nan),
    )  # fmt: skip
    matrix, _ = signal_matrix(
        pool=pool, ctx=CustomerContext(owner=Owner()), styles={}, collaborative=np.zeros(n),
        popularity_max=0.0, freshness_half_life_days=30.0,
        factor=np.array([0.5, -0.2, 2.0]), sequence=np.array([0.0, 0.3, 0.1]),
    )  # fmt: skip
    assert matrix[:, SIGNAL_INDEX["factor"]].tolist() == [0.5, -0.2, 1.0]
    assert matrix[:, SIGNAL_INDEX["sequence"]].tolist() == [0.0, 0.3, 0.1]
