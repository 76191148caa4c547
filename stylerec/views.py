"""Plain Django views that work without JavaScript, and the small request -> contract glue that
the template tags, these views and the REST API share.

Customers are identified by the signed-in user or, for anonymous visitors, by a pseudonym of the
session (never the session key itself, which signs a request in); never by a parameter, so nobody
can act as somebody else through these endpoints. ``customer_of`` is the one place that decides.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST

from stylerec.conf import stylerec_settings
from stylerec.customers import (
    PAGE_POSTABLE_KINDS,
    SERVER_ONLY_KINDS,
    SERVER_ONLY_MESSAGE,
    session_customer_key,
    session_pre_sign_in_key,
)
from stylerec.models import Interaction, RankingProfile, StylePreference, get_product_model
from stylerec.ranking.types import BLOCKS
from stylerec.throttling import throttle_view

logger = logging.getLogger(__name__)


# --- glue shared by tags, views and the API --------------------------------------------------


def customer_of(request: HttpRequest, *, create_session: bool = False) -> tuple[Any, str]:
    """(user or None, anonymous key) of the customer making ``request``: a signed-in customer is
    ``(user, "")`` (their events carry no session value at all), an anonymous visitor
    ``(None, pseudonym of the session)`` (``stylerec.customers.session_customer_key``).

    Reads never create a session (a crawler must not fill the session table); writes pass
    ``create_session`` so that an anonymous visitor's events have an owner."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user, ""
    return None, session_customer_key(getattr(request, "session", None), create=create_session)


def customer_keys_of(request: HttpRequest) -> tuple[Any, list[str]]:
    """(user or None, anonymous keys) of everything the customer making ``request`` may export or
    erase: an anonymous visitor's pseudonym; for a signed-in customer, the pseudonym their session
    had before they signed in, if any (the service adds those of earlier sign-ins)."""
    user, key = customer_of(request)
    if user is not None:
        key = session_pre_sign_in_key(getattr(request, "session", None))
    return user, [key] if key else []


def product_url_for(product: Any) -> str:
    """Where a product's own page lives: ``get_absolute_url()`` when the product model has one,
    else the URL named by ``STYLEREC["PRODUCT_URL_NAME"]`` (reversed with the primary key)."""
    if hasattr(product, "get_absolute_url"):
        return product.get_absolute_url()
    name = stylerec_settings.PRODUCT_URL_NAME
    if name:
        try:
            return reverse(name, args=[product.pk])
        except NoReverseMatch:
            logger.warning("STYLEREC['PRODUCT_URL_NAME']=%r does not reverse with a pk", name)
    return "/"


def click_url_for(*, block: str, product_id: int, position: int, profile_id: int | None) -> str:
    """The link of an item in a block: records the click, then opens the product."""
    url = reverse("stylerec:click", args=[block, product_id]) + f"?pos={position}"
    return url + (f"&p={profile_id}" if profile_id else "")


def top_style_of(*, user: Any = None, session_key: str = "") -> Any:
    """The style the customer likes most (explicit choices win ties), or None."""
    if user is not None:
        owner = {"user": user}
    elif session_key:
        owner = {"user": None, "session_key": session_key}
    else:
        return None
    preference = (
        StylePreference.objects.filter(weight__gt=0, style__is_active=True, **owner)
        .select_related("style")
        .order_by("-weight", "source")  # "explicit" sorts before the inferred sources
        .first()
    )
    return preference.style if preference else None


def interaction_record_from(request: HttpRequest, **event: Any) -> Any:
    """Record an event for the customer making ``request`` through the events service."""
    from stylerec.services.events import interaction_record

    user, session_key = customer_of(request, create_session=True)
    return interaction_record(user=user, session_key=session_key, **event)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or request.headers.get("referer") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# Sec-Fetch-Site values of a navigation from the store's own pages (a subdomain counts: "same-site").
SAME_SITE_FETCHES = frozenset({"same-origin", "same-site"})


def request_is_same_site(request: HttpRequest) -> bool:
    """Whether ``request`` comes from the store's own pages: ``Sec-Fetch-Site`` when the browser
    sends it (all current ones do); else the ``Origin`` or ``Referer`` host must be the request's
    host. Without any of them: no (a cross-site page can strip the Referer, not forge these)."""
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site:
        return fetch_site in SAME_SITE_FETCHES
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    if not source or source == "null":
        return False
    try:
        return urlsplit(source).netloc.lower() == request.get_host().lower()
    except (ValueError, DisallowedHost):  # a malformed header, or a host outside ALLOWED_HOSTS
        return False


def _int_or_none(value: Any, *, minimum: int = 0) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= minimum else None


def _profile_id(value: Any) -> int | None:
    """A profile id from a link or form, kept only when that profile exists (links outlive
    profiles; a stale id must not break the foreign key)."""
    profile_id = _int_or_none(value, minimum=1)
    if profile_id is not None and not RankingProfile.objects.filter(pk=profile_id).exists():
        return None
    return profile_id


# --- views -----------------------------------------------------------------------------------


@require_GET
def click_redirect(request: HttpRequest, block: str, product_id: int) -> HttpResponse:
    """``/r/<block>/<product_id>/?p=<profile_id>&pos=<n>``: record the click, then go to the
    product's page. Links in blocks point here, so clicks are counted without JavaScript.

    Only a click from the store's own pages is recorded (``request_is_same_site``): a GET from
    another site (a link, an image, a prefetch) would otherwise write events, and shape the
    profile, of whoever is signed in. It still redirects to the product."""
    product = get_product_model().objects.filter(pk=product_id).first()
    if product is None:
        return HttpResponseRedirect("/")
    if block not in BLOCKS:
        return HttpResponseRedirect(product_url_for(product))
    profile_id = _profile_id(request.GET.get("p"))
    if request_is_same_site(request):
        try:
            interaction_record_from(
                request,
                kind=Interaction.Kind.CLICK,
                product_id=product.pk,
                block=block,
                profile_id=profile_id,
                position=_int_or_none(request.GET.get("pos"), minimum=1),
            )
        except Exception:  # the customer still gets the product page; staff see the log
            logger.exception("could not record a click on product %s", product_id)
    # The product page carries the block and profile on, so that its "Add to cart" / "Buy now"
    # forms can attribute the cart or purchase to the block (fields block, profile_id).
    target = product_url_for(product)
    query: dict[str, str | int] = {"block": block}
    if profile_id:
        query["p"] = profile_id
    attribution = urlencode(query)
    return HttpResponseRedirect(f"{target}{'&' if '?' in target else '?'}{attribution}")


@require_POST
@throttle_view("stylerec.events")
def event_create(request: HttpRequest) -> HttpResponse:
    """Form endpoint (``stylerec:event``) for "Add to cart" buttons and clicks: fields ``kind``,
    ``product_id``, ``block``, ``profile_id``, ``position``, ``next``. Redirects back to ``next``.
    Not for purchases: the store records those with its order hook (400 here)."""
    kind = request.POST.get("kind", "")
    product_id = _int_or_none(request.POST.get("product_id"), minimum=1)
    block = request.POST.get("block", "")
    if kind in SERVER_ONLY_KINDS:
        return HttpResponseBadRequest(SERVER_ONLY_MESSAGE)
    if kind not in PAGE_POSTABLE_KINDS:
        return HttpResponseBadRequest(f"kind must be one of {', '.join(PAGE_POSTABLE_KINDS)}")
    if product_id is None or not get_product_model().objects.filter(pk=product_id).exists():
        return HttpResponseBadRequest("product_id must be the id of an existing product")
    if block and block not in BLOCKS:
        return HttpResponseBadRequest(f"block must be empty or one of {', '.join(BLOCKS)}")
    interaction_record_from(
        request,
        kind=kind,
        product_id=product_id,
        block=block,
        profile_id=_profile_id(request.POST.get("profile_id")),
        position=_int_or_none(request.POST.get("position"), minimum=1),
    )
    return HttpResponseRedirect(_safe_next(request, fallback="/"))


@require_POST
@throttle_view("stylerec.events")
def impressions_create(request: HttpRequest) -> HttpResponse:
    """Beacon endpoint of ``stylerec.js``: a block was seen. Fields ``block``, ``profile_id`` and
    ``product_ids`` (comma-separated, in display order). Answers 204 so the page never waits."""
    block = request.POST.get("block", "")
    parsed = [_int_or_none(raw, minimum=1) for raw in request.POST.get("product_ids", "").split(",")]
    ids = [pid for pid in parsed if pid is not None][: stylerec_settings.MAX_K]
    if block not in BLOCKS or not ids:
        return HttpResponseBadRequest("block and product_ids are required")
    existing = set(get_product_model().objects.filter(pk__in=ids).values_list("pk", flat=True))
    profile_id = _profile_id(request.POST.get("profile_id"))
    for position, product_id in enumerate(ids, start=1):
        if product_id in existing:
            interaction_record_from(
                request,
                kind=Interaction.Kind.IMPRESSION,
                product_id=product_id,
                block=block,
                profile_id=profile_id,
                position=position,
            )
    return HttpResponse(status=204)
