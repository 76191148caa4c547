"""``stylerec_attack_sim`` on a small store: the shilling attack of issue #13 (fake accounts sign up
over HTTP, push an obscure product along with popular ones, "buy" it with client events and
review it 5★) reaches no ordinary customer's blocks, and the command cleans up after itself."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from stylerec.lab.attack import ACCOUNT_PREFIX
from stylerec.models import Interaction, Review, StylePreference
from stylerec.services.aggregates import products_sentiment_aggregate
from stylerec.services.profiles import customer_profile_refresh
from tests.factories import make_product, make_style, make_user

pytestmark = pytest.mark.django_db

CATEGORIES = ("Dress", "Shirt", "Bag")
STYLES = ("retro", "minimalist", "bohemian")


@pytest.fixture
def small_store():
    """30 products (3 categories × 10, three styles) and 4 obscure ones, 20 established customers
    whose histories follow their taste (some buy, some review), the last one to two weeks."""
    rng = random.Random(13)
    styles = [make_style(slug) for slug in STYLES]
    products = []
    for i in range(30):
        family = i % 3
        products.append(
            make_product(
                direction={family: 1.0, 3 + i: 0.6},
                title=f"{CATEGORIES[family]} {i}",
                category=CATEGORIES[family],
                style_scores={STYLES[family]: 0.8, STYLES[(family + 1) % 3]: 0.1},
            )
        )
    for i in range(4):  # obscure: like the rest, but no style, and nobody has looked at them
        make_product(direction={i % 3: 1.0, 40 + i: 0.8}, title=f"Plain {i}", category=CATEGORIES[i % 3])
    now = timezone.now()
    events, reviews = [], []
    for n in range(20):
        user = make_user(f"customer{n:02d}")
        taste = n % 3
        if n % 2 == 0:
            StylePreference.objects.create(user=user, style=styles[taste], weight=1.0)
        # first seen 40-90 days ago: an established customer
        events.append(
            Interaction(user=user, kind="impression", created_at=now - timedelta(days=rng.uniform(40, 90)))
        )
        liked = [p for p in products if p.category == CATEGORIES[taste]]
        for product in rng.sample(liked, 5) + rng.sample(products, 2):
            at = now - timedelta(days=rng.uniform(0.5, 14))
            events.append(Interaction(user=user, product=product, kind="view", created_at=at))
            if product.category == CATEGORIES[taste] and rng.random() < 0.5:
                events.append(Interaction(user=user, product=product, kind="cart", created_at=at))
                events.append(
                    Interaction(
                        user=user,
                        product=product,
                        kind="purchase",
                        order_id=f"o-{n}-{product.pk}",
                        created_at=at,
                    )
                )
                if rng.random() < 0.5:
                    reviews.append(
                        Review(
                            product=product,
                            user=user,
                            rating=rng.choice([4, 5]),
                            text="Nice",
                            verified_purchase=True,
                            sentiment_score=rng.uniform(0.3, 0.8),
                        )
                    )
    Interaction.objects.bulk_create(events)
    Review.objects.bulk_create(reviews)
    products_sentiment_aggregate(product_ids=[p.pk for p in products])
    for user in get_user_model().objects.filter(username__startswith="customer"):
        customer_profile_refresh(user_id=user.pk)
    return products


def test_the_attack_reaches_no_ordinary_customer(small_store, tmp_path):
    output = tmp_path / "attack.json"
    call_command(
        "stylerec_attack_sim",
        accounts=15,
        target="auto",
        customers=20,
        spam_reviews=25,
        cleanup=True,
        output=output,
    )
    report = json.loads(output.read_text())
    assert report["customers_measured"] == 20 and report["accounts"] == 15
    assert report["goal_met"] and report["after_max_customer_ratio"] <= 0.02
    assert {row["block"] for row in report["blocks"]} == {
        "for_you",
        "in_your_style",
        "trending",
        "similar",
        "bought_together",
    }
    for row in report["blocks"]:  # the target was picked among products no block showed
        assert row["before_customer_ratio"] == 0.0
    # The attack really ran, through the HTTP paths:
    statuses = report["http_statuses"]
    pushed = 15 * (1 + len(report["popular_pages"]))
    assert statuses["signup 302"] == 15
    assert statuses["view (API event) 201"] == pushed and statuses["cart (form) 302"] == pushed
    assert statuses["purchase (API event) 400"] == pushed and statuses["purchase (form) 400"] == pushed
    assert statuses["review (API) 201"] == 15
    assert statuses["extra review (store form) 429"] > 0  # one account, one product, 25 reviews: throttled
    after = report["target_after"]
    assert after["sales_count"] == report["target_before"]["sales_count"]  # no purchase got in
    assert after["review_count"] == 15  # one voice per account
    assert after["popularity"] < report["catalog_max_popularity"]["after"] / 4
    # --cleanup removed the accounts and everything they did
    assert not get_user_model().objects.filter(username__startswith=ACCOUNT_PREFIX).exists()
    assert not Review.objects.filter(product_id=report["target"]).exists()
    assert report["cleanup"]["accounts"] == 15


def test_without_the_trust_weights_the_same_attack_works(small_store, tmp_path):
    """The control (``--without-trust``): with every customer fully trusted (what popularity,
    co-occurrence and the review aggregates did before), the same accounts put the target in most
    customers' blocks, even though their purchases are refused."""
    from stylerec import trust

    expr = trust.TRUST_EXPR
    output = tmp_path / "attack.json"
    call_command(
        "stylerec_attack_sim", accounts=15, customers=20, spam_reviews=0, without_trust=True, output=output
    )
    assert trust.TRUST_EXPR == expr  # the weights are back
    report = json.loads(output.read_text())
    assert not report["goal_met"] and not report["trust_weights"]
    after = {row["block"]: row["after_customer_ratio"] for row in report["blocks"]}
    assert after["trending"] > 0.5 and after["similar"] > 0.5
