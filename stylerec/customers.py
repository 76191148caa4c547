"""Who a customer is, and what each kind of interaction says about them.

One module for both facts so that every layer (events, profiles, ranking, collaborative signals,
A/B counts, the API's event schema, the receivers) reads them from the same place: a new kind of
interaction is one line in ``KIND_RULES``, a new way to identify a customer one change to ``Owner``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import models
from django.db.models import Q


class InteractionKind(models.TextChoices):
    IMPRESSION = "impression", "Impression"
    VIEW = "view", "View"
    CLICK = "click", "Click"
    CART = "cart", "Add to cart"
    PURCHASE = "purchase", "Purchase"
    SEARCH = "search", "Search"


class KindRule(NamedTuple):
    taste_weight: float  # how much the product says about taste (0: names no liked product)
    changes_profile: bool  # recording it refreshes the customer's profile
    page_postable: bool  # a page's click/cart/buy link may record it (views.event_record)
    ab_counted: bool  # a column of the A/B dashboard


KIND_RULES: dict[str, KindRule] = {
    # Impressions are shown, not chosen: they say nothing about taste and are by far the most
    # frequent, so recording them must not throw away the customer's cached recommendations.
    InteractionKind.IMPRESSION: KindRule(0.0, False, False, True),
    InteractionKind.VIEW: KindRule(1.0, True, False, False),
    InteractionKind.CLICK: KindRule(2.0, True, True, True),
    InteractionKind.CART: KindRule(3.0, True, True, True),
    InteractionKind.PURCHASE: KindRule(4.0, True, True, True),
    # A search names no product; its words feed the inferred styles.
    InteractionKind.SEARCH: KindRule(0.0, True, False, False),
}

# product-naming kinds -> weight (purchase 4 > cart 3 > click 2 > view 1): profile vectors, inferred
# behaviour styles, collaborative seeds and popularity all read this one table.
INTERACTION_WEIGHTS: dict[str, float] = {
    str(kind): rule.taste_weight for kind, rule in KIND_RULES.items() if rule.taste_weight > 0
}
PROFILE_KINDS = frozenset(str(kind) for kind, rule in KIND_RULES.items() if rule.changes_profile)
PAGE_POSTABLE_KINDS = tuple(str(kind) for kind, rule in KIND_RULES.items() if rule.page_postable)
AB_KINDS = tuple(str(kind) for kind, rule in KIND_RULES.items() if rule.ab_counted)

RECENCY_HALF_LIFE_DAYS = 30.0
MAX_RECENT_INTERACTIONS = 200  # a profile reads the customer's latest interactions, not all


def recency_weight(
    *, created_at: datetime, now: datetime, half_life_days: float = RECENCY_HALF_LIFE_DAYS
) -> float:
    """An interaction's weight halves every ``half_life_days``: tastes drift."""
    age_days = max((now - created_at).total_seconds() / 86400.0, 0.0)
    return math.pow(0.5, age_days / half_life_days)


@dataclass(frozen=True)
class Owner:
    """A customer: a signed-in user, else an anonymous session."""

    user_id: int | None = None
    session_key: str = ""

    @classmethod
    def of(cls, user: Any = None, session_key: str = "") -> Owner:
        """The customer behind a request's ``user`` (authenticated or not) and session key; a
        signed-in user is identified by the user alone."""
        if user is not None and getattr(user, "is_authenticated", False):
            return cls(user_id=int(user.pk))
        return cls(session_key=session_key or "")

    @property
    def known(self) -> bool:
        return bool(self.user_id or self.session_key)

    @property
    def key(self) -> str:
        if self.user_id:
            return f"u{self.user_id}"
        return f"s{self.session_key}" if self.session_key else "anon"

    def sql(self, alias: str = "") -> tuple[str, list[object]]:
        """A WHERE fragment and its parameters selecting this owner's rows."""
        a = f"{alias}." if alias else ""
        if self.user_id:
            return f"{a}user_id = %s", [self.user_id]
        return f"{a}user_id IS NULL AND {a}session_key = %s", [self.session_key]

    def q(self, prefix: str = "") -> Q:
        """Rows of this owner in models with ``user`` + ``session_key`` columns."""
        if self.user_id:
            return Q(**{f"{prefix}user_id": self.user_id})
        return Q(**{f"{prefix}user__isnull": True, f"{prefix}session_key": self.session_key})

    def fields(self) -> dict[str, Any]:
        """Keyword arguments that create or look up this owner's rows."""
        if self.user_id:
            return {"user_id": self.user_id}
        return {"user_id": None, "session_key": self.session_key}
