"""Hard rules, merchandising rules and diversity."""

import pytest

from tests.factories import make_order, make_product, make_user

from .conftest import ids, recommend

pytestmark = pytest.mark.django_db


def test_out_of_stock_products_are_not_recommended_unless_the_profile_allows(active_profile):
    profile = active_profile(only={"context": 1.0})
    viewed = make_product(direction=1)
    sold_out = make_product(direction=1, stock=0)
    in_stock = make_product(direction=2)
    assert ids(recommend(product_id=viewed.pk)) == [in_stock.pk]
    profile.in_stock_only = False
    profile.save()
    assert ids(recommend(product_id=viewed.pk)) == [sold_out.pk, in_stock.pk]


def test_the_viewed_product_and_past_purchases_are_excluded(active_profile):
    active_profile(only={"history": 1.0})
    user = make_user()
    bought = make_product(direction=1)
    viewed = make_product(direction=1)
    other = make_product(direction=2)
    make_order(bought.pk, user=user)
    assert ids(recommend(user_id=user.pk, product_id=viewed.pk)) == [other.pk]


def test_category_filter(active_profile):
    active_profile(only={"popularity": 1.0})
    make_product(direction=1, category="Shirt", popularity=50)
    bag = make_product(direction=1, category="Bag", popularity=1)
    result = recommend(block="trending", category="Bag")
    assert ids(result) == [bag.pk]


def test_boost_pin_and_block_rules(active_profile):
    first = make_product(direction=1, popularity=30)
    second = make_product(direction=1, popularity=20)
    third = make_product(direction=1, popularity=10)
    sandal = make_product(direction=1, popularity=40, category="Sandal")
    active_profile(
        only={"popularity": 1.0},
        rules={"boost": {f"product:{third.pk}": 5.0}, "pin": [second.pk], "block": ["category:Sandal"]},
    )
    result = recommend(block="trending")
    assert ids(result) == [second.pk, third.pk, first.pk]
    assert sandal.pk not in ids(result)
    assert result.items[0].reasons[0].code == "featured"


def test_at_most_n_per_category_while_other_categories_can_fill(active_profile):
    active_profile(only={"popularity": 1.0}, max_per_category=1)
    shirts = [make_product(direction=1, popularity=50 - i) for i in range(3)]
    bag = make_product(direction=1, category="Bag", popularity=5)
    shoe = make_product(direction=1, category="Shoe", popularity=4)
    result = recommend(block="trending", k=3)
    assert ids(result) == [shirts[0].pk, bag.pk, shoe.pk]
    # the cap is soft: when only capped categories remain, the block is still filled
    assert len(recommend(block="trending", k=5).items) == 5


def test_mmr_trades_relevance_for_diversity(active_profile):
    profile = active_profile(only={"popularity": 1.0})
    top = make_product(direction=1, popularity=100)
    twin = make_product(direction={1: 1.0, 2: 0.05}, popularity=90)
    different = make_product(direction=3, popularity=80)
    assert ids(recommend(block="trending", k=2)) == [top.pk, twin.pk]
    profile.mmr_lambda = 0.3
    profile.save()
    assert ids(recommend(block="trending", k=2)) == [top.pk, different.pk]
