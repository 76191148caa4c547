"""A review is stored in the language its sentiment model reads it in: one detector decides both."""

from __future__ import annotations

import pytest

from stylerec.ml.textutil import detect_language, normalise
from stylerec.models import Review
from stylerec.services.artifacts import review_text
from tests.factories import make_product, make_review, make_style, make_user

pytestmark = pytest.mark.django_db

MIXED = "质量不错, love the retro style and colour"


@pytest.mark.parametrize(
    ("title", "text", "language"),
    [
        ("", MIXED, "zh"),  # four ideographs among six English words: the Chinese head scores it
        ("Love it", "Great retro cut", "en"),
        ("", "这件T恤很好看", "zh"),
        ("ＲＥＴＲＯ", "great cut", "en"),  # full-width letters read as ASCII, as the model reads them
    ],
)
def test_stored_language_is_the_one_the_sentiment_model_uses(
    model_log, django_capture_on_commit_callbacks, title, text, language
):
    make_style("retro")
    with django_capture_on_commit_callbacks(execute=True):
        review = make_review(make_product(), title=title, text=text, user=make_user())
    review = Review.objects.get(pk=review.pk)
    # TrainedHeadSentiment routes each text to the head of detect_language(normalise(text)).
    assert review.language == detect_language(normalise(review_text(review))) == language
