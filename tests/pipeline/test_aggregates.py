"""Product review aggregates resist manipulation: Bayesian, verified purchases first, one voice each."""

from __future__ import annotations

import pytest

from stylerec.services.aggregates import PRIOR_STRENGTH, UNVERIFIED_WEIGHT, product_sentiment_aggregate
from tests.factories import make_established, make_product, make_review, make_user

pytestmark = pytest.mark.django_db


def test_bayesian_average_pulls_few_reviews_toward_the_prior():
    other = make_product()
    for _ in range(4):  # the catalogue's reviews average 0.0
        make_review(other, sentiment_score=-0.5, verified_purchase=True)
        make_review(other, sentiment_score=0.5, verified_purchase=True)
    new = make_product()
    make_review(new, sentiment_score=1.0, verified_purchase=True, rating=5)
    values = product_sentiment_aggregate(product_id=new.pk)
    prior = 1.0 / 9  # mean of all scored reviews, this one included
    assert values["sentiment_score"] == pytest.approx(
        (PRIOR_STRENGTH * prior + 1.0) / (PRIOR_STRENGTH + 1), abs=1e-4
    )
    assert values["sentiment_score"] < 0.3  # one glowing review is not a 1.0 product
    new.refresh_from_db()
    assert new.rating_average == 5.0 and new.review_count == 1


def test_one_voice_per_customer_and_verified_weigh_more():
    product = make_product()
    spammer, buyer = make_user(), make_user()
    for customer in (spammer, buyer):  # established: new accounts weigh less (tests/ranking/test_trust.py)
        make_established(customer)
    for _ in range(5):
        make_review(product, user=spammer, rating=1, sentiment_score=-1.0)
    latest = make_review(product, user=spammer, rating=2, sentiment_score=-0.2)
    make_review(product, user=buyer, rating=5, sentiment_score=0.9, verified_purchase=True)
    values = product_sentiment_aggregate(product_id=product.pk)
    assert values["review_count"] == 2
    w = UNVERIFIED_WEIGHT
    assert values["rating_average"] == pytest.approx((w * latest.rating + 1.0 * 5) / (w + 1.0), abs=1e-3)


def test_no_reviews_means_unknown_sentiment():
    product = make_product()
    assert product_sentiment_aggregate(product_id=product.pk) == {
        "sentiment_score": None,
        "rating_average": None,
        "review_count": 0,
        "aspect_summary": [],
    }
