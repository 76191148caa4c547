"""The blocks of one page say something new (few repeats between blocks) and only true things
(no "Because you liked <the product on the page>" for a first-time visitor)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from stylerec.ranking.types import RecommendationRequest
from stylerec.selectors import recommendations_for
from tests.factories import make_product

pytestmark = pytest.mark.django_db


def _blocks(html: str) -> dict[str, list[int]]:
    """Product ids per block, in order, from a rendered page."""
    out = {}
    for match in re.finditer(r'data-stylerec-block="(\w+)"(.*?)</section>', html, re.S):
        out[match.group(1)] = [int(pid) for pid in re.findall(r'data-product="(\d+)"', match.group(2))]
    return out


def _reasons(html: str) -> list[str]:
    return re.findall(r'class="stylerec-item__reason">([^<]*)<', html)


@pytest.fixture
def family(db):
    """30 products of one family (one direction with small variations), so that "You may like"
    (from what the visitor views) and "Similar items" (to the viewed product) want the same ones."""
    return [
        make_product(
            direction={0: 1.0, 10 + i: 0.25},
            title=f"Linen shirt {i}",
            category="Shirt",
            popularity=float(30 - i),
            sales_count=30 - i,
            rating_average=4.4,
            review_count=4,
        )
        for i in range(30)
    ]


def test_two_blocks_on_a_product_page_share_at_most_a_quarter(client, family):
    viewed = family[0]
    html = client.get(reverse("shop:product", args=[viewed.pk])).content.decode()
    blocks = _blocks(html)
    for_you, similar = blocks["for_you"], blocks["similar"]
    assert len(for_you) == 8 and len(similar) == 8  # k still holds
    assert len(set(for_you) & set(similar)) <= 2
    assert viewed.pk not in for_you + similar
    # Without the page's exclusions the two blocks would overlap far more: the rule does the work.
    from stylerec.customers import session_customer_key

    alone = recommendations_for(
        RecommendationRequest(
            block="similar", session_key=session_customer_key(client.session), product_id=viewed.pk, k=8
        )
    )
    assert len({item.product.pk for item in alone.items} & set(for_you)) > 2


def test_repeats_fill_a_block_only_when_nothing_else_is_left(family):
    few = family[:6]
    avoid = tuple(p.pk for p in few[1:5])
    result = recommendations_for(
        RecommendationRequest(block="similar", product_id=few[0].pk, k=8, avoid=avoid, category="Shirt")
    )
    shown = [item.product.pk for item in result.items]
    assert len(shown) == 8  # still full
    assert len(set(shown) & set(avoid)) <= 2  # 25 other shirts were there to take their place
    ranked = recommendations_for(
        RecommendationRequest(block="trending", k=3, avoid=tuple(p.pk for p in family))
    )
    assert len(ranked.items) == 3  # nothing but repeats left: the block is still filled


def test_a_first_time_visitor_is_never_told_because_you_liked_the_product_on_the_page(client, family):
    from tests.ranking.conftest import make_ranking_profile

    # History only: every reason comes from the signal that used to say "Because you liked X".
    make_ranking_profile(is_active=True, only={"history": 1.0})
    viewed = family[3]
    html = client.get(reverse("shop:product", args=[viewed.pk])).content.decode()
    reasons = _reasons(html)
    assert reasons
    assert not [r for r in reasons if r.startswith("Because you liked")]
    assert f"Similar to {viewed.title}" in reasons
    # A second product, viewed once: named as viewed, not as liked; the page's own product never.
    other = family[20]
    html = client.get(reverse("shop:product", args=[other.pk])).content.decode()
    reasons = _reasons(html)
    assert not [r for r in reasons if r.startswith("Because you liked")]
    assert f"Because you viewed {other.title}" not in reasons
    assert any(r == f"Because you viewed {viewed.title}" for r in reasons)
    # Looked at again, on another visit: now it is liked.
    client.get(reverse("shop:product", args=[viewed.pk]))
    html = client.get(reverse("shop:product", args=[other.pk])).content.decode()
    assert f"Because you liked {viewed.title}" in _reasons(html)
