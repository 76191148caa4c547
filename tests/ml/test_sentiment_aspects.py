"""Aspects with polarity, summarised per product by the worker's aggregate step: "fit: runs small
(12 reviews)" from the preferences stored on its reviews, over the reviews that count and weighed
by their authors' trust; and the template tag that shows it."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from stylerec.ml.preferences import LexiconPreferenceExtractor, default_style_specs
from stylerec.services.aggregates import (
    aspect_summary_of,
    counted_reviews,
    product_sentiment_aggregate,
    review_weights,
)
from tests.factories import make_established, make_product, make_review, make_user

pytestmark = pytest.mark.django_db


def _review(product, text, **fields):
    """A review with the preferences the worker would store for ``text``."""
    [mentions] = LexiconPreferenceExtractor().extract([text], default_style_specs())
    return make_review(
        product,
        text=text,
        preferences=[{"kind": m.kind, "key": m.key, "polarity": m.polarity} for m in mentions],
        **fields,
    )


def _summary(product):
    """What the worker stores when the product's reviews change."""
    return product_sentiment_aggregate(product_id=product.pk)["aspect_summary"]


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
    rows = _summary(product)
    assert rows[0] == {"aspect": "fit", "verdict": "runs small", "reviews": 3, "polarity": -1}
    assert {"aspect": "quality", "verdict": "positive", "reviews": 3, "polarity": 1} in rows
    assert all(row["aspect"] != "price" for row in rows)  # one review is an anecdote
    reviews = counted_reviews(product_id=product.pk)
    everything = aspect_summary_of(reviews=reviews, weights=review_weights(reviews), min_reviews=1)
    assert everything[-1]["reviews"] == 1


def test_fake_accounts_alone_cannot_put_a_fit_warning_on_a_product():
    """Brand-new accounts' reviews weigh nothing on their own (services.aggregates), for the
    summary as for the rating; the same words from established customers make the verdict."""
    product = make_product()
    for i in range(4):
        _review(product, "Runs small, size up", user=make_user(f"fresh-{i}"))
    assert _summary(product) == []
    for i in range(3):
        user = make_user(f"regular-{i}")
        make_established(user)
        _review(product, "Runs big", user=user)
    assert _summary(product)[0] == {"aspect": "fit", "verdict": "runs large", "reviews": 3, "polarity": -1}


def test_template_tag_shows_the_summary():
    product = make_product()
    for _ in range(3):
        _review(product, "Runs big, order a size down")
    _summary(product)
    product.refresh_from_db()
    html = Template("{% load stylerec %}{% stylerec_aspect_summary product %}").render(
        Context({"product": product})
    )
    assert "fit: runs large (3 reviews)" in html
    empty = make_product()
    assert "stylerec-aspects" not in Template("{% load stylerec %}{% stylerec_aspect_summary p %}").render(
        Context({"p": empty})
    )
