"""A review's "verified purchase" is decided in one place (services.reviews), whichever page or
endpoint posts it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from stylerec.models import Interaction, Review
from tests.factories import make_order, make_product, make_user

pytestmark = pytest.mark.django_db


def post_in_shop(user, product) -> None:
    client = Client()
    client.force_login(user)
    response = client.post(reverse("shop:review_create", args=[product.pk]), {"rating": 4, "text": "Nice"})
    assert response.status_code == 302


def post_to_api(user, product) -> None:
    client = APIClient()
    client.force_authenticate(user)
    url = f"/api/stylerec/products/{product.pk}/reviews/"
    response = client.post(url, {"rating": 4, "text": "Nice"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["verified_purchase"] == Review.objects.get().verified_purchase


PATHS = pytest.mark.parametrize("post", [post_in_shop, post_to_api], ids=["shop", "api"])


@PATHS
@pytest.mark.parametrize("bought", [True, False], ids=["bought", "not-bought"])
def test_a_review_is_verified_when_its_author_bought_the_product(post, bought):
    product, other = make_product(), make_product()
    user = make_user()
    make_order(other.pk, user=user)
    if bought:
        make_order(product.pk, user=user)
    Interaction.objects.create(user=user, product=product, kind="cart", created_at=timezone.now())
    post(user, product)
    review = Review.objects.get()
    assert (review.user, review.product, review.rating, review.text) == (user, product, 4, "Nice")
    assert review.verified_purchase is bought


@PATHS
def test_the_verified_purchase_rule_lives_in_the_review_service(post, monkeypatch):
    from stylerec.services import reviews

    asked = []

    def everyone_bought_everything(*, user, product) -> bool:
        asked.append((user.pk, product.pk))
        return True

    monkeypatch.setattr(reviews, "purchase_verified", everyone_bought_everything)
    product, user = make_product(), make_user()
    post(user, product)
    assert Review.objects.get().verified_purchase is True
    assert asked == [(user.pk, product.pk)]
