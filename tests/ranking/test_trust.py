"""New and low-trust customers weigh less in what *other* customers see (stylerec.trust): a burst of
fresh accounts on one product lifts its popularity, co-occurrence and rating less than a few
established buyers lift an honest product."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from stylerec import trust
from stylerec.customers import Owner
from stylerec.models import Interaction, get_product_model
from stylerec.ranking.collaborative import cooccurrence_compute, popularity_refresh
from stylerec.services.aggregates import product_sentiment_aggregate
from stylerec.services.events import interaction_record
from tests.factories import make_established, make_order, make_product, make_review, make_user

pytestmark = pytest.mark.django_db


def _push(user, product_id: int) -> None:
    """A view, a click and an add-to-cart (saved in bulk: no profile refresh, the test is faster)."""
    now = timezone.now()
    Interaction.objects.bulk_create(
        Interaction(kind=kind, user=user, product_id=product_id, created_at=now)
        for kind in ("view", "click", "cart")
    )


def _popularity() -> dict[int, float]:
    popularity_refresh()
    return dict(get_product_model().objects.values_list("pk", "popularity"))


def _score(neighbours: list[tuple[int, float]], product_id: int) -> float:
    return dict(neighbours).get(product_id, 0.0)


@pytest.fixture
def burst_and_honest():
    """``popular`` (bought by established customers), ``honest`` bought along with it by three of
    them, ``target`` pushed along with it by twenty accounts made just now."""
    popular, honest, target = make_product(direction=1), make_product(direction=2), make_product(direction=3)
    for _ in range(3):
        buyer = make_user()
        make_established(buyer)
        make_order(popular.pk, honest.pk, user=buyer)
    for _ in range(5):
        fan = make_user()
        make_established(fan)
        _push(fan, popular.pk)
    for _ in range(20):
        sybil = make_user()
        _push(sybil, target.pk)
        _push(sybil, popular.pk)
    return popular, honest, target


def test_trust_grows_with_age_and_verified_orders():
    fresh, old, buyer = make_user(), make_user(), make_user()
    interaction_record(kind="view", user=fresh, product_id=make_product().pk)
    make_established(old, days=trust.TRUST_AGE_DAYS / 2)
    make_order(make_product().pk, make_product().pk, user=buyer)  # one order, two products
    make_order(make_product().pk, user=buyer)
    assert trust.users_trust(user_ids=[fresh.pk]) == {fresh.pk: pytest.approx(trust.TRUST_FLOOR, abs=1e-3)}
    assert trust.owner_trust(Owner(user_id=old.pk)) == pytest.approx(0.5 + trust.TRUST_FLOOR, abs=1e-3)
    assert trust.owner_trust(Owner(user_id=buyer.pk)) == pytest.approx(
        trust.TRUST_FLOOR + 2 * trust.ORDER_TRUST, abs=1e-3
    )
    make_established(fresh, days=10 * trust.TRUST_AGE_DAYS)
    assert trust.users_trust(user_ids=[fresh.pk])[fresh.pk] == 1.0  # capped
    assert trust.owner_trust(Owner(session_key="never-seen")) == trust.TRUST_FLOOR


def test_a_burst_of_new_accounts_lifts_popularity_less_than_a_few_trusted_buyers(burst_and_honest):
    popular, honest, target = burst_and_honest
    popularity = _popularity()
    # Raw, the burst is 20 × (1 + 2 + 3) = 120 against the honest product's 3 purchases (12).
    assert popularity[target.pk] < popularity[honest.pk]
    assert popularity[target.pk] == 0.0  # new accounts alone lift nothing
    assert popularity[popular.pk] > popularity[honest.pk]  # established customers still count fully


def test_a_burst_does_not_grow_with_the_number_of_accounts(burst_and_honest):
    popular, honest, target = burst_and_honest
    before = _popularity()[target.pk]
    for _ in range(30):
        _push(make_user(), target.pk)
    assert _popularity()[target.pk] == pytest.approx(before, abs=1e-6)


def test_a_burst_lifts_co_occurrence_less_than_a_few_trusted_buyers(burst_and_honest):
    popular, honest, target = burst_and_honest
    co_view = cooccurrence_compute(product_ids=[popular.pk, target.pk], relation="co_view")
    # Raw cosine: target 20 / sqrt(28 · 20) = 0.85 against honest 3 / sqrt(28 · 3) = 0.33.
    assert _score(co_view[popular.pk], target.pk) < _score(co_view[popular.pk], honest.pk)
    assert _score(co_view[popular.pk], target.pk) < 0.05
    # ... also seen from the target's side: a product known only to new accounts is close to nothing
    assert max((score for _, score in co_view[target.pk]), default=0.0) < 0.05
    co_purchase = cooccurrence_compute(product_ids=[popular.pk], relation="co_purchase")
    assert [pid for pid, _ in co_purchase[popular.pk]] == [honest.pk]


def test_established_customers_keep_the_plain_cosine():
    seed, other = make_product(direction=1), make_product(direction=2)
    for _ in range(2):
        peer = make_user()
        make_established(peer)
        _push(peer, seed.pk)
        _push(peer, other.pk)
    assert cooccurrence_compute(product_ids=[seed.pk], relation="co_view")[seed.pk] == [
        (other.pk, pytest.approx(1.0))
    ]


def test_reviews_from_new_accounts_barely_move_the_sentiment():
    product = make_product()
    anchor = make_product()  # the catalogue's reviews average 0.0
    for score in (-0.5, 0.5):
        make_review(anchor, sentiment_score=score, verified_purchase=True)
    trusted = make_user()
    make_established(trusted)
    make_review(product, user=trusted, rating=2, sentiment_score=-0.4)
    honest = product_sentiment_aggregate(product_id=product.pk)  # also caches the catalogue's prior
    for _ in range(40):
        make_review(product, user=make_user(), rating=5, sentiment_score=0.95)
    values = product_sentiment_aggregate(product_id=product.pk)
    # Raw, forty 0.95s would outvote the one -0.4 (sentiment ~0.7, rating ~4.9); weighted by
    # trust, together they weigh less than it.
    assert values["sentiment_score"] - honest["sentiment_score"] < 0.05
    assert values["rating_average"] < 3.5
    assert values["review_count"] == 41


def test_new_accounts_at_most_double_what_established_customers_gave(burst_and_honest):
    popular, honest, target = burst_and_honest
    before = _popularity()[honest.pk]
    for _ in range(30):
        _push(make_user(), honest.pk)
    after = _popularity()[honest.pk]
    assert before < after <= 2 * before


def test_reviews_from_new_accounts_alone_give_no_sentiment():
    product = make_product()
    for _ in range(40):
        make_review(product, user=make_user(), rating=5, sentiment_score=0.95)
    values = product_sentiment_aggregate(product_id=product.pk)
    assert values["sentiment_score"] is None  # ranks like a product nobody reviewed
    assert (values["rating_average"], values["review_count"]) == (5.0, 40)  # what they say, shown


def test_bursts_are_listed_for_staff(burst_and_honest):
    popular, honest, target = burst_and_honest
    bursts = {b.product_id: b for b in trust.bursts_find(hours=24, min_customers=10)}
    assert target.pk in bursts and honest.pk not in bursts
    assert bursts[target.pk].new_customers == 20 and bursts[target.pk].share == 1.0
    owners = trust.burst_owners(product_id=target.pk, hours=24)
    assert len(owners) == 20 and all(owner.user_id for owner in owners)
    # activity older than the window is no burst
    Interaction.objects.filter(product=target).update(created_at=timezone.now() - timedelta(days=5))
    assert target.pk not in {b.product_id for b in trust.bursts_find(hours=24, min_customers=10)}
