"""Who a customer is, and what each kind of interaction says about them.

One module for both facts so that every layer (events, profiles, ranking, collaborative signals,
A/B counts, the API's event schema, the receivers) reads them from the same place: a new kind of
interaction is one line in ``KIND_RULES``, a new way to identify a customer one change to ``Owner``.

An anonymous customer is known by a *pseudonym* of their session (``session_customer_key``), never
by the session key itself: a session key is a credential (whoever sends it as the session cookie is
signed in as its owner), so no stylerec table, log line, cache key or admin page ever holds one.
A signed-in customer is known by their user alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeGuard

from django.db import models
from django.db.models import Q
from django.utils.crypto import salted_hmac


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
    # Purchases come only from the store's order hook (services.orders.order_record), never from
    # a page or API event: a client can post anything (see SERVER_ONLY_KINDS).
    InteractionKind.PURCHASE: KindRule(4.0, True, False, True),
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
# Kinds that only server code records: the page and API event endpoints answer 400 with this message.
SERVER_ONLY_KINDS = frozenset({str(InteractionKind.PURCHASE)})
SERVER_ONLY_MESSAGE = (
    "Purchases are not recorded from client events: the store records them when an order is placed "
    "(stylerec.services.orders.order_record)."
)
AB_KINDS = tuple(str(kind) for kind, rule in KIND_RULES.items() if rule.ab_counted)

RECENCY_HALF_LIFE_DAYS = 30.0
MAX_RECENT_INTERACTIONS = 200  # a profile reads the customer's latest interactions, not all


def recency_weight(
    *, created_at: datetime, now: datetime, half_life_days: float = RECENCY_HALF_LIFE_DAYS
) -> float:
    """An interaction's weight halves every ``half_life_days``: tastes drift."""
    age_days = max((now - created_at).total_seconds() / 86400.0, 0.0)
    return math.pow(0.5, age_days / half_life_days)


# --- pseudonymous anonymous customers -------------------------------------------------------

PSEUDONYM_PREFIX = "p"
PSEUDONYM_LENGTH = 40  # the session_key columns' size: "p" + 39 hex digits (156 bits of the HMAC)
_PSEUDONYM_SALT = "stylerec.customers.session_pseudonym"
# Where a session keeps its pseudonym, so that it survives the new session key Django issues at
# sign-in (``cycle_key``): what a visitor did before signing in stays "the current session's".
SESSION_FIELD = "_stylerec_customer"


def session_pseudonym(session_key: str) -> str:
    """The pseudonym of a session key: a keyed hash (HMAC-SHA256 with a key derived from
    ``SECRET_KEY``), so it cannot be turned back into the key, guessed without the secret, or sent
    as a cookie to sign in. "" for no key."""
    if not session_key:
        return ""
    digest = salted_hmac(_PSEUDONYM_SALT, session_key, algorithm="sha256").hexdigest()
    return PSEUDONYM_PREFIX + digest[: PSEUDONYM_LENGTH - len(PSEUDONYM_PREFIX)]


def is_pseudonym(value: Any) -> TypeGuard[str]:
    """Whether ``value`` has the shape of a pseudonym (never that of a Django session key)."""
    return (
        isinstance(value, str)
        and len(value) == PSEUDONYM_LENGTH
        and value.startswith(PSEUDONYM_PREFIX)
        and all(c in "0123456789abcdef" for c in value[len(PSEUDONYM_PREFIX) :])
    )


def session_customer_key(session: Any, *, create: bool = False) -> str:
    """The pseudonymous key of the anonymous visitor behind ``session`` ("" when there is no
    session yet and ``create`` is False: reads must not create sessions).

    Made from the session key the first time and kept in the session, so that it stays the same
    when Django gives the session a new key at sign-in."""
    if session is None:
        return ""
    stored = session.get(SESSION_FIELD)
    if is_pseudonym(stored):
        return stored
    if create and not session.session_key:
        session.save()
    key = session_pseudonym(session.session_key or "")
    if key:
        session[SESSION_FIELD] = key
    return key


def session_pre_sign_in_key(session: Any) -> str:
    """The pseudonym a signed-in customer's session had while they were anonymous ("" if none):
    what they did in this session before signing in is theirs to export and erase."""
    stored = session.get(SESSION_FIELD) if session is not None else None
    return stored if is_pseudonym(stored) else ""


def session_customer_key_retire(session: Any) -> None:
    """After erasure: the session forgets its pseudonym and gets a new key, so what this browser
    does next cannot be linked to what was erased."""
    if session is None:
        return
    session.pop(SESSION_FIELD, None)
    if session.session_key:
        session.cycle_key()


@dataclass(frozen=True)
class Owner:
    """A customer: a signed-in user, else an anonymous session, by its pseudonym
    (``session_customer_key``; the field keeps the columns' name ``session_key``)."""

    user_id: int | None = None
    session_key: str = ""

    @classmethod
    def of(cls, user: Any = None, session_key: str = "") -> Owner:
        """The customer behind a request's ``user`` (authenticated or not) and anonymous key (what
        ``stylerec.views.customer_of`` returns); a signed-in user is identified by the user alone."""
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
