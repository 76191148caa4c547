"""Test data builders, in one place. Vectors are built from seeds so tests can reason about
similarity: ``unit_vector(dim, hot=i)`` points along axis i; ``blend`` mixes directions."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model

from stylerec.ml.dims import IMAGE_DIM, TEXT_DIM
from stylerec.models import Review, Style, get_product_model

_counter = itertools.count(1)


def unit_vector(dim: int, hot: int | dict[int, float]) -> list[float]:
    vec = np.zeros(dim, dtype=np.float32)
    for axis, weight in ({hot: 1.0} if isinstance(hot, int) else hot).items():
        vec[axis] = weight
    return (vec / np.linalg.norm(vec)).tolist()


def make_product(*, direction: int | dict[int, float] | None = None, **fields: Any):
    n = next(_counter)
    defaults: dict[str, Any] = {
        "title": f"Product {n}",
        "description": "",
        "category": "Shirt",
        "price": Decimal("19.90"),
        "stock": 5,
    }
    defaults.update(fields)
    if direction is not None:
        defaults.setdefault("image_embedding", unit_vector(IMAGE_DIM, direction))
        defaults.setdefault("text_embedding", unit_vector(TEXT_DIM, direction))
    return get_product_model().objects.create(**defaults)


def make_user(username: str | None = None, **fields: Any):
    username = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(username=username, password="pass-word-123", **fields)


def make_style(slug: str, **fields: Any) -> Style:
    fields.setdefault("name", slug.replace("-", " ").title())
    return Style.objects.create(slug=slug, **fields)


def make_review(product, **fields: Any) -> Review:
    fields.setdefault("rating", 5)
    fields.setdefault("text", "Great quality, fits well.")
    return Review.objects.create(product=product, **fields)


def make_order(*product_ids: int, user: Any = None, session_key: str = "", **fields: Any) -> list:
    """Purchases through the store's order hook (the only way a purchase is recorded)."""
    from stylerec.services.orders import order_record

    return order_record(
        user=user,
        session_key=session_key,
        product_ids=product_ids,
        order_id=fields.pop("order_id", f"order-{next(_counter)}"),
        **fields,
    )


def make_established(user: Any = None, *, session_key: str = "", days: float = 90.0) -> None:
    """Make a customer look established (full trust, ``stylerec.trust``): their first recorded
    interaction is ``days`` old. The row names no product, so it moves no signal."""
    from datetime import timedelta

    from django.utils import timezone

    from stylerec.models import Interaction

    Interaction.objects.create(
        user=user,
        session_key="" if user is not None else session_key,
        kind="impression",
        created_at=timezone.now() - timedelta(days=days),
    )
