"""Reasons are true and, when the items' signals differ, not all the same: each item's first
reason comes from the signal that added most to its score."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

from stylerec.models import get_product_model
from stylerec.ranking.explain import POPULAR_MIN, aspect_note_for
from stylerec.ranking.types import AspectNote
from tests.factories import make_product

from .conftest import recommend

pytestmark = pytest.mark.django_db

CATEGORIES = ("Shirt", "Dress", "Bag", "Shoe")


@pytest.fixture
def store():
    """Twelve products in four categories: popularity falling with the index, every other one two
    months old, every third one reviewed."""
    products = []
    for i in range(12):
        reviewed = i % 3 == 0
        product = make_product(
            direction=i % 5,
            title=f"Item {i}",
            category=CATEGORIES[i % 4],
            popularity=float(40 - 3 * i),
            rating_average=4.0 + i / 10 if reviewed else None,
            review_count=5 + i if reviewed else 0,
            sentiment_score=0.6 if reviewed else None,
        )
        if i % 2:
            get_product_model().objects.filter(pk=product.pk).update(
                created_at=timezone.now() - dt.timedelta(days=60)
            )
        products.append(product)
    return products


def test_an_anonymous_visitors_eight_items_have_varied_and_true_reasons(active_profile, store):
    active_profile()  # the default weights
    result = recommend(block="for_you", k=8, explain=True)
    assert len(result.items) == 8
    leads = [item.reasons[0] for item in result.items]
    assert len({reason.text for reason in leads}) >= 3, [r.text for r in leads]
    by_pk = {p.pk: p for p in get_product_model().objects.all()}
    for item, lead in zip(result.items, leads, strict=True):
        product = by_pk[item.product.pk]
        top_signal = max(item.contributions, key=item.contributions.get)
        if lead.text.startswith("Trending in "):
            category = lead.text.removeprefix("Trending in ")
            rivals = [p for p in by_pk.values() if p.category == category and p.pk != product.pk]
            assert product.category == category and all(product.popularity > p.popularity for p in rivals)
            assert top_signal == "popularity"
        elif lead.text == "Popular this week":
            assert top_signal == "popularity"
        elif lead.text == "New in":
            assert timezone.now() - product.created_at < dt.timedelta(days=14)
        elif "★ from" in lead.text:
            assert lead.text == f"{product.rating_average:.1f}★ from {product.review_count} reviews"
        else:
            assert lead.text == f"From our {product.category} collection", lead.text
    texts = [r.text for r in leads]
    assert {"Trending in Shirt", "Trending in Bag", "Popular this week", "New in"} <= set(texts), texts


def test_popular_this_week_needs_a_product_near_the_catalog_top(active_profile, store):
    active_profile(only={"popularity": 1.0})
    result = recommend(block="trending", k=12, explain=True)
    top = max(p.popularity for p in store)
    for item in result.items:
        texts = [r.text for r in item.reasons]
        if "Popular this week" in texts:
            assert item.contributions["popularity"] >= POPULAR_MIN
    assert [r.text for r in result.items[0].reasons] == ["Trending in Shirt"]  # the top product
    assert result.items[0].product.popularity == top


def _fit(verdict: str, reviews: int) -> dict:
    return {
        "aspect": "fit",
        "verdict": verdict,
        "reviews": reviews,
        "polarity": 1 if verdict == "true to size" else -1,
    }


def test_an_item_is_warned_of_its_fit_only_when_it_runs_small_or_large():
    quality = {"aspect": "quality", "verdict": "positive", "reviews": 20, "polarity": 1}
    note = aspect_note_for(
        aspect_summary=[quality, _fit("runs large", 12)]
    )  # the summary's order is by count
    assert note == AspectNote("fit", "runs large", 12, "Fit: runs large (12 reviews)")
    assert aspect_note_for(aspect_summary=[_fit("runs small", 3)]).text == "Fit: runs small (3 reviews)"
    assert aspect_note_for(aspect_summary=[quality, _fit("true to size", 9)]) is None  # nothing to warn of
    assert aspect_note_for(aspect_summary=[quality]) is None and aspect_note_for(aspect_summary=[]) is None
    with translation.override("zh-hans"):
        assert aspect_note_for(aspect_summary=[_fit("runs large", 12)]).text == "尺码偏大（12 条评价）"
