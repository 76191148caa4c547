"""Writes: purchases, from the store's order hook. The only way a purchase gets into stylerec.

A client can post any event it likes, so a purchase is never taken from one (the page and API
event endpoints answer 400 for ``kind=purchase``). The store calls ``order_record`` from its own
server-side code once an order is placed (paid, confirmed: whatever the store counts as a sale):

    from stylerec.services.orders import order_record

    order_record(user=order.customer, product_ids=[line.product_id for line in order.lines],
                 order_id=str(order.pk))

What only an order gives:

* purchases weigh most in the customer's profile, in popularity and in "bought together";
* a review is a **verified purchase** only when its author has an order with the product
  (``services.reviews.purchase_verified``);
* each distinct order raises the customer's trust (``stylerec.trust``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from stylerec.customers import InteractionKind
from stylerec.models import Interaction, RankingProfile, get_product_model
from stylerec.services.events import customer_refresh_schedule, profile_refresh_handled

MAX_ORDER_ID = 64  # Interaction.order_id's size


def order_record(
    *,
    product_ids: Iterable[int],
    order_id: str,
    user: Any = None,
    session_key: str = "",
    block: str = "",
    profile_id: int | None = None,
) -> list[Interaction]:
    """Record the order ``order_id`` of the customer (``user`` when signed in, else the anonymous
    customer's key from ``stylerec.views.customer_of``): one purchase per distinct product.

    Idempotent: an order already recorded is not recorded again (an order hook may fire twice);
    its purchases are returned. ``block`` and ``profile_id`` attribute the sale to the
    recommendation block and ranking profile that showed the product (A/B dashboard).
    Raises ``ValueError`` for an empty or too long ``order_id``, no products, an unknown product
    or an order without a customer."""
    order_id = str(order_id or "").strip()
    if not order_id or len(order_id) > MAX_ORDER_ID:
        raise ValueError(f"order_id must be 1 to {MAX_ORDER_ID} characters")
    ids = list(dict.fromkeys(int(pk) for pk in product_ids))
    if not ids:
        raise ValueError("an order needs at least one product")
    found = set(get_product_model().objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := [pk for pk in ids if pk not in found]:
        raise ValueError(f"no product {', '.join(map(str, missing))}")
    user_id = int(user.pk) if user is not None and getattr(user, "is_authenticated", False) else None
    session_key = "" if user_id else (session_key or "")
    if not user_id and not session_key:
        raise ValueError("an order needs a customer: a signed-in user or an anonymous customer key")
    if profile_id is not None and not RankingProfile.objects.filter(pk=profile_id).exists():
        profile_id = None  # a deleted profile must not lose the sale
    with transaction.atomic():
        with connection.cursor() as cursor:  # two deliveries of one order at once: one records it
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["stylerec.order:" + order_id])
        existing = list(Interaction.objects.filter(kind=InteractionKind.PURCHASE, order_id=order_id))
        if existing:
            return existing
        now = timezone.now()
        with profile_refresh_handled():  # refreshed once below, not per purchase by the receiver
            purchases = [
                Interaction.objects.create(
                    kind=InteractionKind.PURCHASE,
                    user_id=user_id,
                    session_key=session_key,
                    product_id=pk,
                    block=(block or "")[:40],
                    profile_id=profile_id,
                    order_id=order_id,
                    created_at=now,
                )
                for pk in ids
            ]
        get_product_model().objects.filter(pk__in=ids).update(sales_count=F("sales_count") + 1)
    customer_refresh_schedule(user_id=user_id, session_key=session_key)
    return purchases
