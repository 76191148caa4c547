"""The demo store's mini cart: lines in the session, a badge in the header, a flash message.

"Add to cart" records a cart event (as before, with the block that showed the product) and puts
the product in the session's cart; the cart page places the order through stylerec's server-side
order hook (``stylerec.services.orders.order_record``), the only way a purchase is recorded, one
order per block the lines came from so the A/B dashboard credits each block. "Buy now" on the
product page stays the one-product checkout (``shop.views.buy_now``)."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from stylerec.models import Interaction, RankingProfile, get_product_model
from stylerec.ranking.types import BLOCKS
from stylerec.throttling import throttle_view
from stylerec.views import customer_of, interaction_record_from

logger = logging.getLogger(__name__)
SESSION_KEY = "shop_cart"
MAX_QUANTITY = 20
MAX_LINES = 50


def cart_lines(request: HttpRequest) -> dict[str, dict[str, Any]]:
    """The session's cart: {product id: {"qty", "block", "profile_id"}} (a copy)."""
    raw = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return dict(raw) if isinstance(raw, dict) else {}


def cart_count(request: HttpRequest) -> int:
    return sum(int(line.get("qty", 0)) for line in cart_lines(request).values())


def _save(request: HttpRequest, lines: dict[str, dict[str, Any]]) -> None:
    request.session[SESSION_KEY] = lines
    request.session.modified = True


def _profile_id(value: Any) -> int | None:
    raw = str(value or "")
    if not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw) if RankingProfile.objects.filter(pk=int(raw)).exists() else None


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@require_POST
@throttle_view("stylerec.events")  # the limit of stylerec's own event form
def cart_add(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(get_product_model(), pk=pk, is_active=True)
    block = request.POST.get("block", "")
    block = block if block in BLOCKS else ""
    profile_id = _profile_id(request.POST.get("profile_id"))
    lines = cart_lines(request)
    line = dict(lines.get(str(product.pk), {"qty": 0, "block": block, "profile_id": profile_id}))
    if str(product.pk) not in lines and len(lines) >= MAX_LINES:
        messages.error(request, "Your cart is full.")
        return redirect(_next(request, reverse("shop:cart")))
    line["qty"] = min(MAX_QUANTITY, int(line.get("qty", 0)) + 1)
    lines[str(product.pk)] = line
    _save(request, lines)
    try:
        interaction_record_from(
            request, kind=Interaction.Kind.CART, product_id=product.pk, block=block, profile_id=profile_id
        )
    except Exception:  # the cart works even when the event cannot be recorded; staff see the log
        logger.exception("could not record a cart event for product %s", product.pk)
    messages.success(request, f"Added to cart: {product.title}")
    return redirect(_next(request, reverse("shop:product", args=[product.pk])))


@require_POST
def cart_remove(request: HttpRequest, pk: int) -> HttpResponse:
    lines = cart_lines(request)
    if lines.pop(str(pk), None) is not None:
        _save(request, lines)
        messages.success(request, "Removed from cart.")
    return redirect("shop:cart")


def cart(request: HttpRequest) -> HttpResponse:
    lines = cart_lines(request)
    products = get_product_model().objects.filter(pk__in=[int(pk) for pk in lines], is_active=True).in_bulk()
    rows, total = [], Decimal("0")
    for pk, line in lines.items():
        product = products.get(int(pk))
        if product is None:  # deactivated or deleted since: not sold any more
            continue
        subtotal = (product.price or Decimal("0")) * int(line["qty"])
        total += subtotal
        rows.append({"product": product, "qty": int(line["qty"]), "subtotal": subtotal})
    return render(request, "shop/cart.html", {"rows": rows, "total": total})


@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    """Place the cart's order (no payment: a demo) through the server-side order hook."""
    from stylerec.services.orders import order_record

    lines = cart_lines(request)
    live = set(
        get_product_model()
        .objects.filter(pk__in=[int(pk) for pk in lines], is_active=True)
        .values_list("pk", flat=True)
    )
    groups: dict[tuple[str, int | None], list[int]] = {}
    for pk, line in lines.items():
        if int(pk) in live:
            groups.setdefault((line.get("block", ""), line.get("profile_id")), []).append(int(pk))
    if not groups:
        messages.error(request, "Your cart is empty.")
        return redirect("shop:cart")
    user, customer_key = customer_of(request, create_session=True)
    order = uuid.uuid4().hex
    for n, ((block, profile_id), product_ids) in enumerate(groups.items()):
        order_record(
            user=user,
            session_key=customer_key,
            product_ids=product_ids,
            order_id=f"demo-{order}-{n}",
            block=block,
            profile_id=_profile_id(profile_id),
        )
    _save(request, {})
    messages.success(request, "Thanks for your order! (This is a demo: nothing is charged or shipped.)")
    return redirect("shop:cart")
