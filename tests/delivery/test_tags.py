"""The {% recommendations %} tag and its per-block convenience tags."""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.files.base import ContentFile
from django.template import Context, Template
from django.test import RequestFactory

from stylerec.models import StyledImage, StylePreference
from tests.factories import make_style

pytestmark = pytest.mark.django_db


def page_request(user=None):
    request = RequestFactory().get("/p/1/")
    SessionMiddleware(lambda r: None).process_request(request)
    request.user = user or AnonymousUser()
    return request


def render(source: str, request, **context) -> str:
    return Template("{% load stylerec %}" + source).render(Context({"request": request, **context}))


def test_similar_block_shows_k_items_with_image_title_price_reason_and_click_link(catalog):
    viewed = catalog[0]
    html = render('{% recommendations "similar" product=product k=3 %}', page_request(), product=viewed)
    assert 'data-stylerec-block="similar"' in html
    assert html.count('class="stylerec-item"') == 3
    ids = [int(pid) for pid in re.findall(r'data-product="(\d+)"', html)]
    for position, pid in enumerate(ids, start=1):
        assert f'href="/r/similar/{pid}/?pos={position}' in html
    assert html.count('class="stylerec-item__reason"') == 3
    assert "19.90" in html  # the price
    assert viewed.pk not in ids  # the viewed product is not recommended to itself
    assert 'src="/static/stylerec/stylerec.js"' in html


def test_convenience_tag_and_title_option(catalog):
    html = render(
        '{% similar_items product k=2 title="More like this" %}', page_request(), product=catalog[0]
    )
    assert "More like this" in html
    assert html.count('class="stylerec-item"') == 2


def test_assets_are_linked_once_per_page(catalog):
    request = page_request()
    html = render(
        '{% recommendations "similar" product=p k=2 %}{% recommendations "trending" k=2 %}',
        request,
        p=catalog[0],
    )
    assert html.count("stylerec.js") == 1
    assert html.count("data-stylerec-block=") == 2


def test_block_renders_nothing_when_there_is_nothing_to_show(db):
    # An empty catalog: no candidates, not even trending.
    assert render('{% recommendations "for_you" k=8 %}', page_request()).strip() == ""


def test_a_failing_block_never_breaks_the_page(catalog, monkeypatch, caplog, staff):
    def boom(request, **kwargs):
        raise RuntimeError("ranker exploded")

    monkeypatch.setattr("stylerec.selectors.recommendations_rendered", boom)
    with caplog.at_level(logging.ERROR, logger="stylerec"):
        html = render('<p>before</p>{% recommendations "for_you" k=8 %}<p>after</p>', page_request())
    assert html == "<p>before</p><p>after</p>"
    assert "ranker exploded" in caplog.text
    staff_html = render('{% recommendations "for_you" k=8 %}', page_request(staff))
    assert 'data-error="RuntimeError: ranker exploded"' in staff_html


def test_unknown_block_or_bad_k_is_logged_not_raised(catalog, staff):
    assert render('{% recommendations "homepage" %}', page_request()) == ""
    assert "unknown recommendation block" in render('{% recommendations "homepage" %}', page_request(staff))
    assert render('{% recommendations "trending" k="lots" %}', page_request()) == ""


def test_a_host_overrides_one_block_template(catalog, settings, tmp_path):
    folder = tmp_path / "stylerec" / "blocks"
    folder.mkdir(parents=True)
    (folder / "trending.html").write_text(
        '{% extends "stylerec/blocks/base.html" %}'
        '{% block item %}<li class="custom">{{ item.product.title }}</li>{% endblock %}'
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    request = page_request()
    trending = render('{% recommendations "trending" k=2 %}', request)
    similar = render('{% recommendations "similar" product=p k=2 %}', request, p=catalog[0])
    assert trending.count('class="custom"') == 2
    assert 'class="custom"' not in similar and 'class="stylerec-item"' in similar


def test_style_toggle_swaps_in_ready_styled_images(catalog, customer, monkeypatch):
    retro = make_style("retro")
    StylePreference.objects.create(user=customer, style=retro, weight=1.0)
    shown = catalog[1]
    styled = StyledImage(product=shown, style=retro, status="ready")
    styled.image.save("styled.jpg", ContentFile(b"\xff\xd8fake"), save=True)

    requested = []

    def styled_image_for(*, product, style):
        requested.append((product.pk, style.slug))
        return styled if product.pk == shown.pk else None  # the others are still being made

    monkeypatch.setattr("stylerec.services.styled.styled_image_for", styled_image_for)
    html = render('{% recommendations "similar" product=p k=4 %}', page_request(customer), p=catalog[0])
    assert "See it in my Retro style" in html
    assert f'data-styled="{styled.image.url}"' in html
    assert html.count("data-styled=") == 1  # not ready elsewhere: the original image stays
    assert {slug for _, slug in requested} == {"retro"}


def test_no_toggle_without_style_preferences(catalog, customer, monkeypatch):
    monkeypatch.setattr(
        "stylerec.services.styled.styled_image_for", lambda **kw: pytest.fail("no style, no styled image")
    )
    html = render('{% recommendations "similar" product=p k=4 %}', page_request(customer), p=catalog[0])
    assert "stylerec-style-toggle" not in html


def test_a_cached_block_checks_its_photos_once(catalog, customer):
    """The photo check (withheld images) is stored beside the cached result: a repeat render of
    the block reads both in its one cache round trip and queries nothing for them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    source = '{% recommendations "similar" product=product k=3 %}'
    first = render(source, page_request(customer), product=catalog[0])
    with CaptureQueriesContext(connection) as queries:
        again = render(source, page_request(customer), product=catalog[0])

    def items(html: str) -> list[str]:
        return re.findall(r'data-product="(\d+)"', html)

    assert items(again) == items(first) and len(items(first)) == 3
    assert not [q for q in queries.captured_queries if "stylerec_artifactstate" in q["sql"]]
