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
