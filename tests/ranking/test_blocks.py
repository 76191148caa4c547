"""Block types, their fallbacks, cold start and explanations."""

import pytest

from stylerec.models import StylePreference
from stylerec.ranking.types import BLOCKS
from stylerec.services.events import interaction_record
from tests.factories import make_established, make_order, make_product, make_style, make_user

from .conftest import ids, recommend

pytestmark = pytest.mark.django_db


def _reasons(result, product):
    return [r.text for item in result.items if item.product.pk == product.pk for r in item.reasons]


def test_every_block_but_bought_together_is_filled_for_a_stranger():
    products = [make_product(direction=i) for i in range(4)]
    for block in BLOCKS:
        result = recommend(block=block, product_id=products[0].pk)
        if block == "bought_together":
            assert result.items == [] and result.fallback is None
        else:
            assert len(result.items) == 3, block
            assert all(item.reasons for item in result.items)


def test_new_customer_gets_popular_products_with_fallback_recorded():
    popular = make_product(direction=1, popularity=10)
    make_product(direction=2, popularity=1)
    result = recommend(user_id=make_user().pk)
    assert result.fallback == "trending"
    assert ids(result)[0] == popular.pk


def test_anonymous_session_gets_recommendations_from_what_it_viewed(active_profile):
    active_profile(only={"history": 1.0})
    viewed = make_product(direction=3, title="Retro Navy Pullover")
    near = make_product(direction={3: 1.0, 4: 0.2})
    elsewhere = make_product(direction=8, popularity=100)
    interaction_record(kind="view", session_key="anon-session", product_id=viewed.pk)
    result = recommend(session_key="anon-session")
    assert result.fallback is None
    assert ids(result)[0] == near.pk
    # One look is not a like: the reason says what the visitor did.
    assert "Because you viewed Retro Navy Pullover" in _reasons(result, near)
    # Back again after looking elsewhere (an immediate second view is a reload: not a new view).
    interaction_record(kind="view", session_key="anon-session", product_id=elsewhere.pk)
    interaction_record(kind="view", session_key="anon-session", product_id=viewed.pk)
    assert "Because you liked Retro Navy Pullover" in _reasons(recommend(session_key="anon-session"), near)


def test_anonymous_session_style_choice_drives_in_your_style():
    retro = make_style("retro", name="Retro")
    StylePreference.objects.create(session_key="s1", style=retro, weight=1.0)
    styled = make_product(direction=1, style_scores={"retro": 0.8})
    make_product(direction=1, style_scores={"boho": 0.9}, popularity=100)
    result = recommend(block="in_your_style", session_key="s1", k=1)
    assert ids(result) == [styled.pk] and result.fallback is None
    assert "Matches your Retro style" in _reasons(result, styled)


def test_in_your_style_without_preferences_uses_the_viewed_products_styles():
    make_style("minimalist", name="Minimalist")
    viewed = make_product(direction=1, title="Plain Tee", style_scores={"minimalist": 0.9})
    alike = make_product(direction=2, style_scores={"minimalist": 0.7})
    result = recommend(block="in_your_style", product_id=viewed.pk, k=1)
    assert result.fallback == "viewed_product_styles"
    assert ids(result) == [alike.pk]
    assert "Same Minimalist style as Plain Tee" in _reasons(result, alike)


def test_new_product_without_interactions_is_found_through_its_content_vector(active_profile):
    active_profile()
    user = make_user()
    liked = make_product(direction=5)
    brand_new = make_product(direction={5: 1.0, 6: 0.1})
    for _ in range(3):  # an unrelated best seller with lots of traffic
        make_order(make_product(direction=7).pk, user=make_user())
    interaction_record(kind="click", user=user, product_id=liked.pk)
    assert ids(recommend(user_id=user.pk))[0] == brand_new.pk


def test_similar_falls_back_to_the_category_when_the_viewed_product_has_no_vectors():
    viewed = make_product(category="Bag")
    same_category = make_product(category="Bag")
    make_product(category="Shirt", popularity=100)
    result = recommend(block="similar", product_id=viewed.pk, k=1)
    assert result.fallback == "category"
    assert ids(result) == [same_category.pk]


def test_similar_without_a_product_falls_back_to_trending():
    make_product(direction=1)
    result = recommend(block="similar")
    assert result.fallback == "trending" and len(result.items) == 1


def test_bought_together_comes_from_co_purchases():
    viewed = make_product(direction=1, title="Navy Blazer")
    partner = make_product(direction=9)
    viewed_only = make_product(direction=1)
    for _ in range(2):
        buyer = make_user()
        make_established(buyer)  # what only new accounts share is no pair (stylerec.trust)
        make_order(viewed.pk, user=buyer)
        make_order(partner.pk, user=buyer)
    browser = make_user()
    interaction_record(kind="view", user=browser, product_id=viewed.pk)
    interaction_record(kind="view", user=browser, product_id=viewed_only.pk)
    result = recommend(block="bought_together", product_id=viewed.pk)
    assert ids(result) == [partner.pk]
    assert "Often bought together with Navy Blazer" in _reasons(result, partner)


def test_reasons_speak_in_plain_words(active_profile):
    active_profile(only={"sentiment": 1.0, "popularity": 0.5, "freshness": 0.1})
    rated = make_product(
        direction=1, sentiment_score=0.8, rating_average=4.7, review_count=120, popularity=50
    )
    # "for_you" applies the profile's weights as they are (blocks such as "trending" lean on their own signal)
    result = recommend(block="for_you", explain=True)
    assert _reasons(result, rated) == ["4.7★ from 120 reviews", "Popular this week", "New in"]
    assert set(result.items[0].contributions) >= {"sentiment", "popularity", "freshness"}
    assert recommend(block="trending").items[0].contributions == {}


def test_unknown_block_is_rejected():
    with pytest.raises(ValueError):
        recommend(block="nope")
