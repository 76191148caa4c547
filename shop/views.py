"""The demo store's pages. Thin: reads go through stylerec selectors / the ORM, writes through
stylerec services, exactly as a host store would use stylerec."""

from __future__ import annotations

import logging
import uuid

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from shop.forms import ReviewForm, SearchForm, SignUpForm
from shop.labels import GENERATED_REVIEW_TITLE
from stylerec.customers import Owner
from stylerec.models import Interaction, Style, StylePreference, get_product_model
from stylerec.ranking.types import BLOCKS
from stylerec.search import products_search
from stylerec.throttling import throttle_view
from stylerec.views import customer_of, interaction_record_from

logger = logging.getLogger(__name__)
PAGE_SIZE = 24


def _record(request: HttpRequest, **event) -> None:
    """Record a customer event; a failing part (e.g. the cache) never breaks the page. Who the
    customer is comes from ``stylerec.views.customer_of`` (never the raw session key)."""
    try:
        interaction_record_from(request, **event)
    except Exception:  # pragma: no cover - logged for staff, invisible to customers
        logger.exception("could not record %s", event.get("kind"))


def catalog(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    products = get_product_model().objects.filter(is_active=True).order_by("-sales_count", "id")
    query = category = corrected = ""
    if form.is_valid():
        query, category = form.cleaned_data["q"].strip(), form.cleaned_data["category"].strip()
    if category:
        products = products.filter(category=category)
    if query:
        found = products_search(query, queryset=products)  # every word, any order, ranked
        products, corrected = found.products, found.corrected
        if request.GET.get("page") in (None, "1"):
            _record(request, kind=Interaction.Kind.SEARCH, query=query[:500])
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "query": query, "category": category, "corrected": corrected}
    return render(request, "shop/catalog.html", context)


# The demo catalog titles the reviews it wrote itself so; the page shows them with a badge.
REVIEW_LABELS = {"generated_review_title": GENERATED_REVIEW_TITLE}


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # The page shows no vectors: leave them unread (parsing two of them costs more than the query).
    product = get_object_or_404(
        get_product_model().objects.defer("text_embedding", "image_embedding"), pk=pk, is_active=True
    )
    _record(request, kind=Interaction.Kind.VIEW, product_id=product.pk)
    reviews = product.stylerec_reviews.select_related("user").order_by("-created_at")[:20]
    return render(
        request,
        "shop/product_detail.html",
        {"product": product, "reviews": reviews, "review_form": ReviewForm(), **REVIEW_LABELS},
    )


@login_required
@require_POST
@throttle_view("stylerec.reviews")  # the same limit, and the same count, as the review API
def review_create(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(get_product_model(), pk=pk, is_active=True)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        recent = product.stylerec_reviews.select_related("user").order_by("-created_at")[:20]
        context = {"product": product, "reviews": recent, "review_form": form, **REVIEW_LABELS}
        return render(request, "shop/product_detail.html", context, status=400)
    from stylerec.services import reviews

    reviews.review_create(
        product=product,
        user=request.user,
        rating=form.cleaned_data["rating"],
        text=form.cleaned_data["text"],
        title=form.cleaned_data.get("title", ""),
    )
    messages.success(request, "Thanks! Your review is posted.")
    return redirect("shop:product", pk=product.pk)


def styles(request: HttpRequest) -> HttpResponse:
    """Pick and weight preferred styles (signed in or anonymous: stored per session)."""
    owner = Owner.of(*customer_of(request, create_session=True))
    active_styles = list(Style.objects.filter(is_active=True))
    if request.method == "POST":
        from stylerec.services.preferences import style_preferences_set

        weights = {}
        for style in active_styles:
            raw = request.POST.get(f"style_{style.slug}", "0")
            try:
                weights[style.slug] = max(0.0, min(1.0, float(raw)))
            except ValueError:
                weights[style.slug] = 0.0
        style_preferences_set(owner=owner, weights=weights)
        messages.success(request, "Your styles are saved: recommendations now follow them.")
        return redirect("shop:styles")
    current = {
        p.style.slug: p.weight
        for p in StylePreference.objects.filter(
            owner.q(), source=StylePreference.Source.EXPLICIT
        ).select_related("style")
    }
    rows = [(style, current.get(style.slug, 0.0)) for style in active_styles]
    return render(request, "shop/styles.html", {"rows": rows})


@require_POST
def buy_now(request: HttpRequest, pk: int) -> HttpResponse:
    """The "Buy now" button: the demo's whole checkout (no payment). A store calls stylerec's order
    hook from its own order code in the same way, server-side, once an order is placed; a page
    or API event can never record a purchase."""
    from stylerec.services.orders import order_record

    product = get_object_or_404(get_product_model(), pk=pk, is_active=True)
    user, customer_key = customer_of(request, create_session=True)
    block, profile = request.POST.get("block", ""), request.POST.get("profile_id", "")
    order_record(  # attributed to the block that showed the product (A/B dashboard)
        user=user,
        session_key=customer_key,
        product_ids=[product.pk],
        order_id=f"demo-{uuid.uuid4().hex}",
        block=block if block in BLOCKS else "",
        profile_id=int(profile) if profile.isdigit() and len(profile) < 18 else None,
    )
    messages.success(request, "Thanks for your order! (This is a demo: nothing is charged or shipped.)")
    return redirect("shop:product", pk=product.pk)


@throttle_view("stylerec.signup")  # per address; behind proxies set REST_FRAMEWORK["NUM_PROXIES"]
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("shop:styles")
    return render(request, "registration/signup.html", {"form": form})
