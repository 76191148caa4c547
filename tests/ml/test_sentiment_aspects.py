"""Aspects with polarity, summarised per product: "fit: runs small (12 reviews)" from the
preferences stored on its reviews, and the template tag that shows it."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from stylerec.ml.preferences import LexiconPreferenceExtractor, default_style_specs
from stylerec.selectors import product_aspect_summary
from tests.factories import make_product, make_review

pytestmark = pytest.mark.django_db


def _review(product, text):
    """A review with the preferences the worker would store for ``text``."""
    [mentions] = LexiconPreferenceExtractor().extract([text], default_style_specs())
    return make_review(
        product,
        text=text,
        preferences=[{"kind": m.kind, "key": m.key, "polarity": m.polarity} for m in mentions],
    )


def test_summary_tells_which_way_the_sizing_is_off():
    product = make_product()
    for text in [
        "Love it but it runs small",
        "偏小，建议买大一码",
        "Runs a little small, go up a size",
        "Great price",
    ]:
        _review(product, text)
    _review(product, "Runs big")  # the minority direction is not the verdict
    _review(product, "The quality is great, well made")
    _review(product, "质量不错")
    _review(product, "Durable and the quality is good")
    rows = product_aspect_summary(product_id=product.pk)
    assert rows[0] == {"aspect": "fit", "verdict": "runs small", "reviews": 3, "polarity": -1}
    assert {"aspect": "quality", "verdict": "positive", "reviews": 3, "polarity": 1} in rows
    assert all(row["aspect"] != "price" for row in rows)  # one review is an anecdote
    assert product_aspect_summary(product_id=product.pk, min_reviews=1)[-1]["reviews"] == 1


def test_template_tag_shows_the_summary():
    product = make_product()
    for _ in range(3):
        _review(product, "Runs big, order a size down")
    html = Template("{% load stylerec %}{% stylerec_aspect_summary product %}").render(
        Context({"product": product})
    )
    assert "fit: runs large (3 reviews)" in html
    empty = make_product()
    assert "stylerec-aspects" not in Template("{% load stylerec %}{% stylerec_aspect_summary p %}").render(
        Context({"p": empty})
    )
