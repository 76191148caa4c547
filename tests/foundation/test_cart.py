"""The demo store's mini cart: "Add to cart" gives feedback (a flash message, the header badge),
records the cart event with its block, and the cart's order goes through the order hook."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from stylerec.models import Interaction, RankingProfile
from tests.factories import make_product

pytestmark = pytest.mark.django_db


def _badge(html: str) -> int:
    return int(re.search(r'class="cart-badge" data-cart-count="(\d+)">(\d+)<', html).group(2))


def test_add_to_cart_shows_a_message_and_counts_in_the_header_badge(client):
    shirt = make_product(title="Navy shirt", price="20.00")
    dress = make_product(title="Floral dress", price="35.50")
    profile = RankingProfile.objects.create(name="p", is_active=True)
    assert _badge(client.get(reverse("shop:catalog")).content.decode()) == 0
    page = client.get(reverse("shop:product", args=[shirt.pk]))
    assert f'action="{reverse("shop:cart_add", args=[shirt.pk])}"' in page.content.decode()

    landing = f"{reverse('shop:product', args=[shirt.pk])}?block=similar&p={profile.pk}"
    response = client.post(
        reverse("shop:cart_add", args=[shirt.pk]),
        {"block": "similar", "profile_id": str(profile.pk), "next": landing},
        follow=True,
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == landing  # back where the customer was
    assert "Added to cart: Navy shirt" in html and 'role="status"' in html
    assert _badge(html) == 1
    event = Interaction.objects.get(kind="cart")  # the event is still recorded, attributed
    assert (event.product_id, event.block, event.profile_id) == (shirt.pk, "similar", profile.pk)

    client.post(reverse("shop:cart_add", args=[shirt.pk]))
    html = client.post(reverse("shop:cart_add", args=[dress.pk]), follow=True).content.decode()
    assert _badge(html) == 3
    cart = client.get(reverse("shop:cart")).content.decode()
    assert "Navy shirt" in cart and "Floral dress" in cart and "75.50" in cart  # 2 x 20 + 35.50


def test_the_cart_order_goes_through_the_order_hook_and_empties_the_cart(client):
    shirt, dress = make_product(title="Navy shirt"), make_product(title="Floral dress")
    profile = RankingProfile.objects.create(name="p", is_active=True)
    client.post(
        reverse("shop:cart_add", args=[shirt.pk]), {"block": "for_you", "profile_id": str(profile.pk)}
    )
    client.post(reverse("shop:cart_add", args=[dress.pk]))
    html = client.post(reverse("shop:checkout"), follow=True).content.decode()
    assert "Thanks for your order!" in html and _badge(html) == 0
    purchases = {p.product_id: p for p in Interaction.objects.filter(kind="purchase")}
    assert set(purchases) == {shirt.pk, dress.pk}
    assert (purchases[shirt.pk].block, purchases[shirt.pk].profile_id) == ("for_you", profile.pk)
    assert purchases[dress.pk].block == ""
    assert all(p.order_id.startswith("demo-") for p in purchases.values())
    # an empty cart places nothing
    html = client.post(reverse("shop:checkout"), follow=True).content.decode()
    assert "Your cart is empty" in html and Interaction.objects.filter(kind="purchase").count() == 2


def test_remove_from_cart_and_unknown_products(client):
    shirt = make_product(title="Navy shirt")
    client.post(reverse("shop:cart_add", args=[shirt.pk]))
    html = client.post(reverse("shop:cart_remove", args=[shirt.pk]), follow=True).content.decode()
    assert "Removed from cart." in html and _badge(html) == 0
    assert client.post(reverse("shop:cart_add", args=[999999])).status_code == 404
    assert client.get(reverse("shop:cart_add", args=[shirt.pk])).status_code == 405
