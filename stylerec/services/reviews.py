"""Writes: customer reviews.

Every review a customer posts (the store's form, the API) is created here, so that what makes a
review a "verified purchase" is decided in one place."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from stylerec.customers import InteractionKind
from stylerec.models import Interaction, Review


def purchase_verified(*, user: Any, product: Any) -> bool:
    """Whether ``user`` has bought ``product`` in an order the store recorded
    (``services.orders.order_record``): what a verified review needs. Client events never make one."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return (
        Interaction.objects.filter(user=user, product=product, kind=InteractionKind.PURCHASE)
        .exclude(order_id="")
        .exists()
    )


def review_create(*, product: Any, user: Any, rating: int, text: str, title: str = "") -> Review:
    """Save a review of ``product`` by ``user`` (inputs already validated by the form or
    serializer). Its artifacts (sentiment, preferences, embedding) are queued by stylerec's
    ``post_save`` receiver once this transaction commits."""
    review = Review(
        product=product,
        user=user,
        rating=rating,
        title=title or "",
        text=text,
        verified_purchase=purchase_verified(user=user, product=product),
    )
    with transaction.atomic():
        review.save()
    return review
