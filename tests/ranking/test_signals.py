"""Each signal, isolated by a profile that weighs only that signal."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from stylerec.ml.dims import IMAGE_DIM
from stylerec.models import StylePreference, get_product_model
from stylerec.services.events import interaction_record
from tests.factories import (
    make_established,
    make_order,
    make_product,
    make_style,
    make_user,
    unit_vector,
)

from .conftest import ids, recommend

pytestmark = pytest.mark.django_db


def _contribution(result, product, signal):
    return next(item.contributions[signal] for item in result.items if item.product.pk == product.pk)


def test_history_ranks_products_near_what_the_customer_bought(active_profile):
    active_profile(only={"history": 1.0})
    user = make_user()
    bought = make_product(direction=0)
    near = make_product(direction={0: 1.0, 1: 0.3})
    far = make_product(direction=5)
    make_order(bought.pk, user=user)
    result = recommend(user_id=user.pk, explain=True)
    assert ids(result)[:2] == [near.pk, far.pk]
    assert _contribution(result, near, "history") == pytest.approx(1 / math.sqrt(1.09), abs=1e-4)


def test_context_ranks_products_near_the_viewed_one(active_profile):
    active_profile(only={"context": 1.0})
    viewed = make_product(direction=2)
    near = make_product(direction={2: 1.0, 3: 0.5})
    far = make_product(direction=7)
    result = recommend(product_id=viewed.pk, explain=True)
    assert ids(result)[:2] == [near.pk, far.pk]
    assert viewed.pk not in ids(result)
    assert _contribution(result, far, "context") == pytest.approx(0.0, abs=1e-6)


def test_style_match_uses_the_customers_style_weights(active_profile):
    active_profile(only={"style": 1.0})
    retro = make_style("retro")
    user = make_user()
    StylePreference.objects.create(user=user, style=retro, weight=1.0)
    retro_product = make_product(direction=1, style_scores={"retro": 0.9})
    other = make_product(direction=1, style_scores={"minimalist": 0.9})
    result = recommend(block="trending", user_id=user.pk, explain=True)
    assert ids(result)[:2] == [retro_product.pk, other.pk]
    assert _contribution(result, retro_product, "style") == pytest.approx(0.9)


def test_visual_similarity_compares_image_vectors(active_profile):
    active_profile(only={"visual": 1.0})
    viewed = make_product(direction=4)
    # Same text vector for both candidates: only the images differ.
    looks_alike = make_product(direction=9, image_embedding=unit_vector(IMAGE_DIM, {4: 1.0, 10: 0.2}))
    looks_different = make_product(direction=9, image_embedding=unit_vector(IMAGE_DIM, 11))
    result = recommend(block="similar", product_id=viewed.pk, explain=True)
    assert ids(result)[:2] == [looks_alike.pk, looks_different.pk]
    assert _contribution(result, looks_alike, "visual") > 0.9


def test_sentiment_prefers_well_reviewed_products(active_profile):
    active_profile(only={"sentiment": 0.5})
    loved = make_product(direction=1, sentiment_score=0.9, review_count=10, rating_average=4.6)
    disliked = make_product(direction=1, sentiment_score=-0.5, review_count=10, rating_average=2.0)
    unreviewed = make_product(direction=1)
    result = recommend(block="trending", explain=True)
    assert ids(result) == [loved.pk, unreviewed.pk, disliked.pk]
    assert _contribution(result, loved, "sentiment") == pytest.approx(0.45)


def test_collaborative_follows_co_views(active_profile):
    active_profile(only={"collaborative": 1.0})
    seed, often, once = make_product(direction=1), make_product(direction=2), make_product(direction=3)
    for other in (often, often, once):
        peer = make_user()
        make_established(peer)  # full trust: a new account's co-views weigh little (stylerec.trust)
        interaction_record(kind="view", user=peer, product_id=seed.pk)
        interaction_record(kind="view", user=peer, product_id=other.pk)
    customer = make_user()
    interaction_record(kind="view", user=customer, product_id=seed.pk)
    result = recommend(user_id=customer.pk, explain=True)
    assert ids(result)[:2] == [often.pk, once.pk]
    # cos-normalised: often was co-viewed by 2 of seed's 3 viewers and has 2 viewers itself
    assert _contribution(result, often, "collaborative") == pytest.approx(2 / math.sqrt(4 * 2), abs=1e-6)


def test_popularity_is_log_scaled_against_the_catalog_maximum(active_profile):
    active_profile(only={"popularity": 1.0})
    hot = make_product(direction=1, popularity=99.0)
    warm = make_product(direction=1, popularity=9.0)
    result = recommend(block="for_you", explain=True)  # no block emphasis: the bare weight applies
    assert ids(result) == [hot.pk, warm.pk]
    assert _contribution(result, warm, "popularity") == pytest.approx(math.log(10) / math.log(100))


def test_freshness_halves_every_half_life(active_profile):
    active_profile(only={"freshness": 1.0}, freshness_half_life_days=30)
    new = make_product(direction=1)
    old = make_product(direction=1)
    get_product_model().objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    result = recommend(block="trending", explain=True)
    assert ids(result) == [new.pk, old.pk]
    assert _contribution(result, old, "freshness") == pytest.approx(0.5, abs=1e-3)
