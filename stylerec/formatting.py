"""Prices as text: the one place a price becomes what a customer reads.

Blocks, the ``|stylerec_price`` template filter and the API's ``price_display`` all call
``price_display``, which hands the amount to the callable named by ``STYLEREC["PRICE_FORMATTER"]``
with ``currency=STYLEREC["CURRENCY"]``. The default, ``price_format``, uses the active language's
number format (Django's ``number_format`` with grouping) and a small symbol table; a host that
needs more (exact CLDR rules, several currencies) points the setting at its own callable::

    STYLEREC = {"CURRENCY": "EUR", "PRICE_FORMATTER": "myshop.money.format_price"}

    def format_price(amount: Decimal, *, currency: str) -> str: ...

Web code: imports nothing heavier than Django.
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.formats import number_format
from django.utils.module_loading import import_string
from django.utils.translation import get_language

from stylerec.conf import DEFAULTS, stylerec_settings

logger = logging.getLogger(__name__)

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "JPY": "¥"}
# Digits after the decimal point where it is not 2.
CURRENCY_DECIMALS = {"JPY": 0}
# Languages that write the symbol after the amount ("89,00 €"); the others put it first ("€89.00").
# An approximation of CLDR, not a copy of it: a host that needs exact rules sets PRICE_FORMATTER.
SYMBOL_AFTER_LANGUAGES = frozenset({"cs", "da", "de", "es", "fi", "fr", "it", "nb", "pl", "pt", "ru", "sv"})


def price_format(amount: Any, *, currency: str = "USD") -> str:
    """``amount`` in the active language's number format with the currency's symbol: "$1,089.00",
    "¥89.00", "89,00 €" (German), and "CHF 12.00" for a code without a symbol in the table."""
    code = (currency or "").upper()
    places = CURRENCY_DECIMALS.get(code, 2)
    value = Decimal(str(amount)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    number = number_format(abs(value), decimal_pos=places, use_l10n=True, force_grouping=True)
    sign = "-" if value < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol is None:
        return f"{sign}{code} {number}".strip()
    language = (get_language() or "").split("-")[0].lower()
    if language in SYMBOL_AFTER_LANGUAGES:
        return f"{sign}{number}\N{NO-BREAK SPACE}{symbol}"
    return f"{sign}{symbol}{number}"


def price_display(amount: Any) -> str:
    """``amount`` written by the configured ``PRICE_FORMATTER``; "" for no price. A failing host
    formatter is logged and the default one is used, so a price never breaks a page."""
    if amount is None or amount == "":
        return ""
    try:
        finite = Decimal(str(amount)).is_finite()
    except (InvalidOperation, ValueError):
        finite = False
    if not finite:  # not a number: shown as it is rather than hidden
        return str(amount)
    currency = stylerec_settings.CURRENCY
    path = stylerec_settings.PRICE_FORMATTER
    if path == DEFAULTS["PRICE_FORMATTER"]:
        return price_format(amount, currency=currency)
    try:
        return str(import_string(path)(amount, currency=currency))
    except Exception:
        logger.exception("STYLEREC['PRICE_FORMATTER'] = %r failed on %r; using the default", path, amount)
        return price_format(amount, currency=currency)
