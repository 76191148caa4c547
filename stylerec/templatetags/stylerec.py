"""The "you may like" template tags.

    {% load stylerec %}
    {% recommendations "for_you" product=product k=8 %}
    {% recommendations "trending" k=8 category="Bag" title="Hot in bags" %}
    {% similar_items product k=4 %}            {# one convenience tag per block #}

A block is rendered with ``stylerec/blocks/<block>.html``, falling back to
``stylerec/blocks/base.html``: a host overrides one block, or all of them, by putting a template
of that name in its own templates folder. Prices go through ``{{ price|stylerec_price }}``
(``stylerec.formatting``); titles, reasons and buttons are translated (``stylerec/locale``).
A block renders nothing when it has nothing to show, and a failing part never breaks the page:
the error is logged, and only staff see a hint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django import template
from django.middleware.csrf import get_token
from django.template.loader import render_to_string, select_template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from stylerec.conf import stylerec_settings
from stylerec.formatting import price_display
from stylerec.ranking.types import BLOCKS, RecommendationRequest, RecommendationResult
from stylerec.views import click_url_for, customer_of, top_style_of

logger = logging.getLogger(__name__)
register = template.Library()

# Lazy: translated into the language active when the block renders (stylerec/locale/).
BLOCK_TITLES = {
    "for_you": _("You may like"),
    "similar": _("Similar items"),
    "in_your_style": _("In your style"),
    "bought_together": _("Often bought together"),
    "trending": _("Trending now"),
}
# Set on the request once the CSS/JS links are on the page, so several blocks load them once.
_ASSETS_FLAG = "_stylerec_assets_included"
# The products the blocks rendered so far on this page show (ids, in order): each next block gets
# them as soft exclusions (RecommendationRequest.avoid), so it says something new.
_SHOWN_ATTR = "_stylerec_shown_products"
_TOP_STYLE_ATTR = "_stylerec_top_style"  # the visitor's favourite style, read once per page


def block_request_for(
    http_request: Any,
    *,
    block: str,
    product: Any = None,
    k: Any = None,
    category: str | None = None,
    avoid: tuple[int, ...] = (),
) -> RecommendationRequest:
    """The ranking request for the customer making ``http_request`` (no user id is ever taken
    from the page: a block always shows the viewer's own recommendations)."""
    user, session_key = customer_of(http_request) if http_request is not None else (None, "")
    k = int(k) if k is not None else stylerec_settings.DEFAULT_K
    return RecommendationRequest(
        block=block,
        user_id=user.pk if user is not None else None,
        session_key=session_key if user is None else "",
        product_id=int(getattr(product, "pk", product)) if product not in (None, "") else None,
        k=max(1, min(k, stylerec_settings.MAX_K)),
        category=category or None,
        avoid=tuple(avoid),
    )


def _styled_url(product: Any, style: Any) -> str:
    """URL of the product drawn in ``style`` when ready; "" meanwhile (generation is queued)."""
    from stylerec.services.styled import styled_image_for

    styled = styled_image_for(product=product, style=style)
    return styled.image.url if styled is not None and styled.image else ""


@dataclass(frozen=True)
class BlockItems:
    """What a block shows of its result that depends on the result alone, kept beside the cached
    result (one cache round trip, no query, no URL reversing on a repeat): per item its click link,
    product link and photo, the photo left out when it is withheld (it failed the image check, or
    a new file is not checked yet: the item gets the placeholder)."""

    result: RecommendationResult
    links: tuple[dict[str, str], ...]


def block_items(result: RecommendationResult) -> BlockItems:
    from stylerec.services.artifacts import images_withheld
    from stylerec.views import product_url_for

    withheld = images_withheld([item.product for item in result.items])  # one query for the block
    links = []
    for position, item in enumerate(result.items, start=1):
        product = item.product
        links.append(
            {
                "url": click_url_for(
                    block=result.block, product_id=product.pk, position=position, profile_id=result.profile_id
                ),
                "product_url": product_url_for(product),
                "image_url": product.image.url if product.image and product.pk not in withheld else "",
            }
        )
    return BlockItems(result=result, links=tuple(links))


def block_context(*, http_request: Any, shown: BlockItems, title: str | None, style: Any) -> dict[str, Any]:
    """What a block template gets: the block, its items (with click links) and the style toggle."""
    result = shown.result
    items = []
    for position, (item, links) in enumerate(zip(result.items, shown.links, strict=True), start=1):
        product = item.product
        styled_url = ""
        if style is not None:
            try:
                styled_url = _styled_url(product, style)
            except Exception:  # a missing styled image must never hide the product
                logger.exception("styled image of product %s in %s failed", product.pk, style)
        items.append(
            {
                "product": product,
                "position": position,
                **links,
                "styled_url": styled_url,
                "reason": item.reasons[0].text if item.reasons else "",
                "reasons": item.reasons,
                "aspect_note": item.aspect_note,
                "score": item.score,
            }
        )
    return {
        "block": result.block,
        "title": title or BLOCK_TITLES.get(result.block, result.block),
        "items": items,
        "profile_id": result.profile_id,
        "fallback": result.fallback,
        "style": style,
        "has_styled": any(entry["styled_url"] for entry in items),
        "impressions_url": reverse("stylerec:impressions"),
        "csrf_token": get_token(http_request) if http_request is not None else "",
        "include_assets": _assets_needed(http_request),
    }


def _shown_on_page(http_request: Any) -> list[int]:
    """The products earlier blocks of this page show (kept on the request; a fresh list when there
    is no request)."""
    if http_request is None:
        return []
    shown = getattr(http_request, _SHOWN_ATTR, None)
    if shown is None:
        shown = []
        setattr(http_request, _SHOWN_ATTR, shown)
    return shown


def _top_style_on_page(http_request: Any) -> Any:
    """The visitor's favourite style, read once per page (every block of it shows the same)."""
    if http_request is None:
        return None
    if not hasattr(http_request, _TOP_STYLE_ATTR):
        user, session_key = customer_of(http_request)
        setattr(http_request, _TOP_STYLE_ATTR, top_style_of(user=user, session_key=session_key))
    return getattr(http_request, _TOP_STYLE_ATTR)


def _assets_needed(http_request: Any) -> bool:
    if http_request is None:
        return True
    if getattr(http_request, _ASSETS_FLAG, False):
        return False
    setattr(http_request, _ASSETS_FLAG, True)
    return True


def block_render(
    *,
    http_request: Any,
    block: str,
    product: Any = None,
    k: Any = None,
    category: str | None = None,
    title: str | None = None,
) -> str:
    """Render one block as HTML ("" when there is nothing to show). Raises on failure; the
    tags catch."""
    from stylerec.selectors import recommendations_rendered

    if block not in BLOCKS:
        raise ValueError(f"unknown recommendation block {block!r}; expected one of {', '.join(BLOCKS)}")
    shown = _shown_on_page(http_request)
    rec_request = block_request_for(
        http_request, block=block, product=product, k=k, category=category, avoid=tuple(shown)
    )
    # The result and whose photos it withholds come in the one cache round trip (the photo check is
    # stored beside the result, under the same stamp).
    shown_items, _ = recommendations_rendered(rec_request, rendition="block", render=block_items)
    result = shown_items.result
    if not result.items:
        return ""
    shown.extend(item.product.pk for item in result.items if item.product.pk not in shown)
    style = _top_style_on_page(http_request)
    context = block_context(http_request=http_request, shown=shown_items, title=title, style=style)
    tpl = select_template([f"stylerec/blocks/{block}.html", "stylerec/blocks/base.html"])
    return tpl.render(context, request=http_request)


def _is_staff(http_request: Any) -> bool:
    user = getattr(http_request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


@register.simple_tag(takes_context=True)
def recommendations(
    context: template.Context,
    block_name: str,
    product: Any = None,
    k: Any = None,
    category: str | None = None,
    title: str | None = None,
) -> SafeString:
    """``{% recommendations "for_you" product=product k=8 category="Bag" title="..." %}``"""
    http_request = context.get("request")
    try:
        return mark_safe(
            block_render(  # noqa: S308 - the block templates autoescape their data
                http_request=http_request,
                block=block_name,
                product=product,
                k=k,
                category=category,
                title=title,
            )
        )
    except Exception as exc:
        logger.exception("stylerec block %r failed to render", block_name)
        if _is_staff(http_request):
            return format_html(
                '<div class="stylerec-error" hidden data-block="{}" data-error="{}"></div>',
                block_name,
                f"{type(exc).__name__}: {exc}"[:300],
            )
        return mark_safe("")


def _block_tag(block: str):
    def tag(
        context: template.Context,
        product: Any = None,
        k: Any = None,
        category: str | None = None,
        title: str | None = None,
    ) -> SafeString:
        return recommendations(context, block, product=product, k=k, category=category, title=title)

    tag.__doc__ = f'Same as ``{{% recommendations "{block}" product=... k=... %}}``.'
    return tag


# Convenience tags: {% you_may_like product %}, {% similar_items product k=4 %}, ...
for _name, _block in {
    "you_may_like": "for_you",
    "similar_items": "similar",
    "in_your_style": "in_your_style",
    "bought_together": "bought_together",
    "trending_items": "trending",
}.items():
    register.simple_tag(_block_tag(_block), takes_context=True, name=_name)


@register.filter(name="stylerec_price")
def stylerec_price(amount: Any) -> str:
    """``{{ product.price|stylerec_price }}``: the price as the store writes it ("$89.00"), by
    ``STYLEREC["PRICE_FORMATTER"]`` in ``STYLEREC["CURRENCY"]`` and the active language."""
    return price_display(amount)


@register.filter(name="stylerec_image_url")
def stylerec_image_url(product: Any) -> str:
    """``{{ product|stylerec_image_url }}``: the URL of the product's photo, or "" when it has none
    or it is withheld (it failed the image check, or a new file is not checked yet): what blocks
    and the API show, for the host's own pages. One query per product."""
    from stylerec.services.artifacts import images_withheld

    image = getattr(product, "image", None)
    if not image or product.pk in images_withheld([product]):
        return ""
    return image.url


@register.simple_tag(takes_context=True)
def stylerec_assets(context: template.Context) -> SafeString:
    """Links to stylerec's CSS and JS, for hosts that prefer to load them in ``<head>``; blocks
    then skip their own links."""
    if not _assets_needed(context.get("request")):
        return mark_safe("")
    return mark_safe(render_to_string("stylerec/assets.html"))


@register.inclusion_tag("stylerec/aspect_summary.html")
def stylerec_aspect_summary(product: Any) -> dict[str, Any]:
    """``{% stylerec_aspect_summary product %}``: what the product's reviews say about its fit and
    other aspects ("fit: runs small (12 reviews)"), as the worker stored it with the product's other
    review aggregates (``services.aggregates.aspect_summary_of``): no query."""
    return {"aspects": getattr(product, "aspect_summary", None) or []}
