"""Aspects with polarity reach the shopper (issue #18): when enough reviews say a product runs small
or large, its card in a block and its item in the API carry "Fit: runs small (3 reviews)". The
worker stores the product's aspect summary when its reviews change; serving reads it with the
product rows it fetches anyway, so the note costs no query."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from stylerec.models import get_product_model
from stylerec.ranking.engine import recommend
from stylerec.ranking.types import RecommendationRequest
from stylerec.selectors import recommendations_for
from stylerec.services.events import interaction_record
from tests.factories import make_review
from tests.pipeline.fakes import fake_stylerec

from .test_tags import page_request, render

pytestmark = pytest.mark.django_db

RECS = "/api/stylerec/recommendations/"
RUNS_SMALL = ["Love it but it runs small", "偏小，建议买大一码", "Runs a little small, go up a size"]
TRUE_TO_SIZE = ["Fits true to size", "True to size, lovely", "Fits true to size and soft"]


@pytest.fixture
def reviewed(settings, catalog, django_capture_on_commit_callbacks):
    """The catalog, its reviews read by the pipeline (fake models, except the rule-based aspect
    extractor, which is the real one): product 1 runs small (3 reviews), product 2 too but by 2
    reviews only, product 3 is true to size (3 reviews)."""
    settings.STYLEREC = {
        **settings.STYLEREC,
        **fake_stylerec(PREFERENCE_EXTRACTOR="stylerec.ml.preferences.LexiconPreferenceExtractor"),
        "PREFERENCE_EXTRACTOR_OPTIONS": {},
    }
    texts = {catalog[1]: RUNS_SMALL, catalog[2]: RUNS_SMALL[:2], catalog[3]: TRUE_TO_SIZE}
    with django_capture_on_commit_callbacks(execute=True):
        for product, said in texts.items():
            for text in said:
                make_review(product, text=text, rating=4)
    return catalog


def _cards(html: str) -> list[tuple[str, str]]:
    """(product id, the card's HTML) of each item of a rendered block."""
    return re.findall(r'<li class="stylerec-item" data-product="(\d+)"(.*?)</li>', html, re.S)


def similar(catalog, **request):
    return RecommendationRequest(block="similar", product_id=catalog[0].pk, k=4, **request)


def test_the_worker_stores_the_aspect_summary_when_reviews_change(reviewed):
    summary = dict(get_product_model().objects.values_list("pk", "aspect_summary"))
    assert summary[reviewed[1].pk] == [
        {"aspect": "fit", "verdict": "runs small", "reviews": 3, "polarity": -1}
    ]
    assert summary[reviewed[2].pk] == []  # two reviews are an anecdote
    assert summary[reviewed[3].pk] == [
        {"aspect": "fit", "verdict": "true to size", "reviews": 3, "polarity": 1}
    ]


def test_a_block_warns_of_the_fit_under_the_reason_line(reviewed):
    html = render('{% recommendations "similar" product=p k=4 %}', page_request(), p=reviewed[0])
    cards = dict(_cards(html))
    assert {str(p.pk) for p in reviewed[1:4]} <= set(cards)  # all three are shown
    assert 'class="stylerec-item__aspect stylerec-item__aspect--fit"' in cards[str(reviewed[1].pk)]
    assert "Fit: runs small (3 reviews)" in cards[str(reviewed[1].pk)]
    assert cards[str(reviewed[1].pk)].index("stylerec-item__reason") < cards[str(reviewed[1].pk)].index(
        "stylerec-item__aspect"
    )
    assert html.count("stylerec-item__aspect--") == 1  # none for 2 reviews, none for true to size
    with translation.override("zh-hans"):
        chinese = render('{% recommendations "similar" product=p k=4 %}', page_request(), p=reviewed[0])
    assert "尺码偏小（3 条评价）" in chinese


def test_the_api_item_carries_the_note_or_null(api, reviewed):
    items = api.get(RECS, {"block": "similar", "product_id": reviewed[0].pk, "k": 4}).json()["items"]
    notes = {item["product"]["id"]: item["aspect_note"] for item in items}
    assert {p.pk for p in reviewed[1:4]} <= set(notes)
    assert notes.pop(reviewed[1].pk) == {
        "aspect": "fit",
        "verdict": "runs small",
        "reviews": 3,
        "text": "Fit: runs small (3 reviews)",
    }
    assert set(notes.values()) == {None}


def test_notes_cost_no_query(reviewed):
    recommend(similar(reviewed))  # the first ranking also reads the ranking profile (then cached)
    with CaptureQueriesContext(connection) as with_notes:
        result = recommend(similar(reviewed))
    assert [item.aspect_note.text for item in result.items if item.aspect_note] == [
        "Fit: runs small (3 reviews)"
    ]
    get_product_model().objects.update(aspect_summary=[])
    with CaptureQueriesContext(connection) as without_notes:
        result = recommend(similar(reviewed))
    assert not any(item.aspect_note for item in result.items)
    assert len(with_notes) == len(without_notes)


def test_a_block_served_from_a_stored_pool_carries_the_note_too(customer, reviewed):
    interaction_record(kind="view", user=customer, product_id=reviewed[0].pk)  # builds the pools
    result = recommendations_for(RecommendationRequest(block="for_you", user_id=customer.pk, k=4))
    assert result.from_pool
    notes = {item.product.pk: item.aspect_note for item in result.items}
    assert notes[reviewed[1].pk] is not None and notes[reviewed[1].pk].verdict == "runs small"
