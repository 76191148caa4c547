"""Merchandising rules from ``RankingProfile.rules``:

``{"boost": {"product:12": 0.5, "category:Bag": 0.2}, "pin": [12],
"block": ["category:Sandal", "product:7"], "cap": {"category:Bag": 2}}``

* boost: added to the fused score of that product / every product of that category (within
  ``scoring.WEIGHT_BOUNDS``, like a weight);
* pin: these products go first, in the given order, when they pass the hard filters
  (in stock, category filter, not the viewed product, not already bought);
* block: never recommended. A bare number means a product id;
* cap: at most that many products of the category in one block (it overrides the profile's
  ``max_per_category`` for that category; soft like it, see ``diversity.mmr_select``).

The admin edits these through form fields (``stylerec.admin_forms``), never as raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stylerec.ranking.scoring import weight_bounded


@dataclass(frozen=True)
class Rules:
    boost_products: dict[int, float] = field(default_factory=dict)
    boost_categories: dict[str, float] = field(default_factory=dict)
    pins: tuple[int, ...] = ()
    blocked_products: frozenset[int] = frozenset()
    blocked_categories: frozenset[str] = frozenset()
    category_caps: dict[str, int] = field(default_factory=dict)


def _target(value: Any) -> tuple[str, str]:
    text = str(value).strip()
    kind, sep, rest = text.partition(":")
    if not sep:
        return "product", text
    return kind.strip().lower(), rest.strip()


def rules_parse(raw: Any) -> Rules:
    """Tolerant parsing: malformed entries are skipped rather than breaking serving."""
    raw = raw if isinstance(raw, dict) else {}
    boost_products: dict[int, float] = {}
    boost_categories: dict[str, float] = {}
    boosts = raw.get("boost") or {}
    for target, amount in boosts.items() if isinstance(boosts, dict) else []:
        kind, value = _target(target)
        try:
            if kind == "product":
                boost_products[int(value)] = weight_bounded(float(amount))
            elif kind == "category":
                boost_categories[value] = weight_bounded(float(amount))
        except (TypeError, ValueError):
            continue
    pins: list[int] = []
    for target in raw.get("pin") or []:
        kind, value = _target(target)
        if kind == "product" and value.isdigit() and int(value) not in pins:
            pins.append(int(value))
    blocked_products: set[int] = set()
    blocked_categories: set[str] = set()
    for target in raw.get("block") or []:
        kind, value = _target(target)
        if kind == "product" and value.isdigit():
            blocked_products.add(int(value))
        elif kind == "category" and value:
            blocked_categories.add(value)
    category_caps: dict[str, int] = {}
    caps = raw.get("cap") or {}
    for target, limit in caps.items() if isinstance(caps, dict) else []:
        kind, value = _target(f"category:{target}" if ":" not in str(target) else target)
        try:
            if kind == "category" and value and int(limit) >= 0:
                category_caps[value] = int(limit)
        except (TypeError, ValueError):
            continue
    return Rules(
        category_caps=category_caps,
        boost_products=boost_products,
        boost_categories=boost_categories,
        pins=tuple(p for p in pins if p not in blocked_products),
        blocked_products=frozenset(blocked_products),
        blocked_categories=frozenset(blocked_categories),
    )


def boosts_for(*, rules: Rules, ids: np.ndarray, categories: list[str]) -> np.ndarray:
    return np.array(
        [
            rules.boost_products.get(int(pid), 0.0) + rules.boost_categories.get(cat, 0.0)
            for pid, cat in zip(ids, categories, strict=True)
        ]
    )
