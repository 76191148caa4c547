"""Prices written like the store writes them (STYLEREC["CURRENCY"], the PRICE_FORMATTER hook, the
active language), and blocks in the customer's language (stylerec/locale)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.checks import run_checks
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from stylerec.formatting import price_display, price_format
from tests.factories import make_product

CALLS: list[tuple[Decimal, str]] = []


def host_price(amount, *, currency):
    """A host's formatter, named by import string in the tests below."""
    CALLS.append((amount, currency))
    return f"{currency}:{amount}"


def broken_price(amount, *, currency):
    raise RuntimeError("the host's formatter is broken")


def _page_request():
    request = RequestFactory().get("/p/1/")
    SessionMiddleware(lambda r: None).process_request(request)
    request.user = AnonymousUser()
    return request


def _render(source: str, **context) -> str:
    return Template("{% load stylerec %}" + source).render(Context({"request": _page_request(), **context}))


def _prices(html: str) -> list[str]:
    return re.findall(r'class="stylerec-item__price">([^<]*)<', html)


@pytest.fixture
def priced(db):
    """Three products at 89.00, so that every price in a block is that one."""
    return [make_product(direction=i, price=Decimal("89.00"), popularity=3.0 - i) for i in range(3)]


def _with(settings, **stylerec):
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), **stylerec}


@pytest.mark.django_db
def test_block_prices_are_in_the_store_currency(settings, priced):
    _with(settings, CURRENCY="USD")
    assert _prices(_render('{% recommendations "trending" k=3 %}')) == ["$89.00"] * 3
    _with(settings, CURRENCY="CNY")
    assert _prices(_render('{% recommendations "trending" k=3 %}')) == ["¥89.00"] * 3


@pytest.mark.django_db
def test_a_host_formatter_named_by_the_setting_is_used_by_blocks_filter_and_api(settings, client, priced):
    _with(settings, CURRENCY="EUR", PRICE_FORMATTER=f"{__name__}.host_price")
    CALLS.clear()
    assert _prices(_render('{% recommendations "trending" k=3 %}')) == ["EUR:89.00"] * 3
    assert _render("{{ price|stylerec_price }}", price=Decimal("5.5")) == "EUR:5.5"
    body = client.get(reverse("stylerec:api-product", args=[priced[0].pk])).json()
    assert body["price"] == "89.00" and body["price_display"] == "EUR:89.00"  # the raw decimal stays
    assert CALLS and all(currency == "EUR" for _, currency in CALLS)


def test_a_failing_host_formatter_falls_back_to_the_default(settings, caplog):
    _with(settings, CURRENCY="GBP", PRICE_FORMATTER=f"{__name__}.broken_price")
    with translation.override("en"):
        assert price_display(Decimal("1089")) == "£1,089.00"
    assert "PRICE_FORMATTER" in caplog.text


def test_default_format_follows_currency_and_language():
    with translation.override("en"):
        assert price_format(Decimal("1234567.5"), currency="USD") == "$1,234,567.50"
        assert price_format(Decimal("89"), currency="CNY") == "¥89.00"
        assert price_format(Decimal("1234.5"), currency="JPY") == "¥1,235"  # no minor unit
        assert price_format(Decimal("12"), currency="CHF") == "CHF 12.00"  # no symbol in the table
        assert price_format(Decimal("-3.456"), currency="USD") == "-$3.46"
    with translation.override("de"):
        assert price_format(Decimal("1234.5"), currency="EUR") == "1.234,50\N{NO-BREAK SPACE}€"
    with translation.override("zh-hans"):
        assert price_format(Decimal("89"), currency="CNY") == "¥89.00"


def test_no_price_and_not_a_number():
    assert price_display(None) == ""
    assert price_display("n/a") == "n/a"


def test_a_formatter_that_does_not_import_is_a_check_error(settings):
    _with(settings, PRICE_FORMATTER="nowhere.format_price")
    errors = [m for m in run_checks() if m.id == "stylerec.E017"]
    assert len(errors) == 1 and "nowhere.format_price" in errors[0].msg
    _with(settings, PRICE_FORMATTER="stylerec.formatting.CURRENCY_SYMBOLS")  # imports, not callable
    assert [m.id for m in run_checks() if m.id == "stylerec.E017"] == ["stylerec.E017"]


@pytest.mark.django_db
def test_the_demo_shop_writes_prices_like_the_blocks(settings, client, priced):
    _with(settings, CURRENCY="USD")
    catalog = client.get(reverse("shop:catalog")).content.decode()
    assert '<div class="price">$89.00</div>' in catalog
    product = client.get(reverse("shop:product", args=[priced[0].pk])).content.decode()
    assert ">$89.00</p>" in product


@pytest.mark.django_db
def test_block_title_reasons_and_prices_in_simplified_chinese(settings, priced):
    _with(settings, CURRENCY="CNY")
    with translation.override("zh-hans"):
        html = _render('{% recommendations "trending" k=3 %}')
        similar = _render("{% similar_items product k=2 %}", product=priced[0])
    assert '<h2 class="stylerec-block__title">当下热门</h2>' in html
    assert _prices(html) == ["¥89.00"] * 3
    reasons = re.findall(r'class="stylerec-item__reason">([^<]*)<', html)
    assert reasons and "Trending" not in "".join(reasons) and "Popular" not in "".join(reasons)
    assert "相似商品" in similar
    with translation.override("en"):  # the cached block of another language is not reused
        english = _render('{% recommendations "trending" k=3 %}')
    assert "Trending now" in english and "当下热门" not in english


def test_the_shipped_chinese_catalog_is_compiled_and_complete():
    """The .mo (committed: package data) holds a translation of every msgid of the .po."""
    import gettext
    from pathlib import Path

    import stylerec

    po = Path(stylerec.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    msgids = re.findall(r'^msgid "(.+)"$', po.read_text(encoding="utf-8"), re.MULTILINE)
    with po.with_suffix(".mo").open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]
    compiled = {key[0] if isinstance(key, tuple) else key for key, text in catalog.items() if text}
    assert msgids and [m for m in msgids if m not in compiled] == []
    assert (po.parent.parent.parent / "en" / "LC_MESSAGES" / "django.mo").exists()
