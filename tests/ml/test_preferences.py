"""LexiconPreferenceExtractor: styles and aspects with polarity in Chinese and English."""

from __future__ import annotations

import time

import pytest

from stylerec.ml import registry
from stylerec.ml.base import Mention, PreferenceExtractor, StyleSpec
from stylerec.ml.preferences import (
    LexiconPreferenceExtractor,
    default_style_specs,
    evaluate_preferences,
    preference_checkset,
    sizing_remarks_removed,
)

STORE_STYLES = [
    StyleSpec(slug="retro", name="Retro", keywords=("vintage",)),
    StyleSpec(slug="minimal", name="Minimal", keywords=("简约",)),
    StyleSpec(slug="street", name="Street", keywords=("streetwear",)),
    StyleSpec(slug="cottagecore", name="Cottagecore", keywords=("cottagecore", "田园风")),
]


@pytest.fixture(scope="module")
def extractor() -> LexiconPreferenceExtractor:
    return LexiconPreferenceExtractor()


def pairs(mentions: list[Mention]) -> set[tuple[str, str, int]]:
    return {(m.kind, m.key, m.polarity) for m in mentions}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I love the retro look", {("style", "retro", 1)}),
        ("Too retro for me", {("style", "retro", -1)}),
        ("I don't really like vintage prints", {("style", "retro", -1)}),
        ("Not a fan of the minimalist trend", {("style", "minimal", -1)}),
        ("retro midi dress", {("style", "retro", 1)}),
        ("不喜欢复古风", {("style", "retro", -1)}),
        ("很喜欢复古风", {("style", "retro", 1)}),
        ("这件太复古了", {("style", "retro", -1)}),
        ("我并不喜欢这种街头风格", {("style", "street", -1)}),
        ("简约大方，很好看", {("style", "minimal", 1)}),
        ("想要一条田园风的裙子", {("style", "cottagecore", 1)}),
        ("so cottagecore, love it", {("style", "cottagecore", 1)}),
    ],
)
def test_style_polarity(extractor, text, expected):
    assert pairs(extractor.extract([text], STORE_STYLES)[0]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fits perfectly and the fabric is soft", {("aspect", "fit", 1), ("aspect", "material", 1)}),
        ("Way too expensive", {("aspect", "price", -1)}),
        ("Not too tight", {("aspect", "fit", 1)}),
        ("The size runs small", {("aspect", "size", -1), ("sizing", "small", -1)}),
        ("The colour is blue", set()),
        ("尺码偏大", {("aspect", "size", -1), ("sizing", "large", -1)}),
        ("穿着不舒服", {("aspect", "comfort", -1)}),
        ("质量很好，但是价格太贵了", {("aspect", "quality", 1), ("aspect", "price", -1)}),
        ("袖子太长了", {("aspect", "size", -1)}),
    ],
)
def test_aspect_polarity(extractor, text, expected):
    assert pairs(extractor.extract([text], STORE_STYLES)[0]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a review can like the product and still say which way its sizing is off
        (
            "Lovely dress but it runs big, order a size down.",
            {("aspect", "size", -1), ("sizing", "large", -1)},
        ),
        ("Runs a little small, go up a size", {("aspect", "size", -1), ("sizing", "small", -1)}),
        (
            "True to size and very comfortable",
            {("aspect", "size", 1), ("sizing", "true", 1), ("aspect", "comfort", 1)},
        ),
        ("The colour faded after one wash", {("aspect", "colour", -1)}),
        ("质量不错", {("aspect", "quality", 1)}),
        ("尺码偏小，建议买大一码", {("aspect", "size", -1), ("sizing", "small", -1)}),
        ("downsize upgrade", set()),  # "size up" only as words of its own
    ],
)
def test_aspects_and_sizing_direction(extractor, text, expected):
    assert pairs(extractor.extract([text], STORE_STYLES)[0]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Love it! Runs big, order a size down.", "Love it! , ."),
        ("尺码偏大，很喜欢", "尺码 ，很喜欢"),
        ("RUNS  SMALL", ""),
        ("The small print is fine", "The small print is fine"),
    ],
)
def test_sizing_remarks_are_left_out_of_what_sentiment_reads(text, expected):
    assert sizing_remarks_removed(text) == expected


def test_contrast_splits_a_review_into_clauses(extractor):
    mentions = extractor.extract(["Love the vintage vibe but the fabric is itchy"], STORE_STYLES)[0]
    assert pairs(mentions) == {("style", "retro", 1), ("aspect", "material", -1), ("aspect", "comfort", -1)}
    retro = next(m for m in mentions if m.key == "retro")
    assert "vintage" in retro.evidence


def test_only_the_store_vocabulary_is_reported(extractor):
    """Built-in synonyms extend the store's own styles; styles the store lacks never appear."""
    assert extractor.extract(["gorgeous bohemian maxi skirt"], STORE_STYLES) == [[]]
    bare = LexiconPreferenceExtractor(use_builtin_synonyms=False)
    assert bare.extract(["old-school jacket"], STORE_STYLES) == [[]]
    assert pairs(extractor.extract(["old-school jacket"], STORE_STYLES)[0]) == {("style", "retro", 1)}


def test_extra_lexicon_adds_words():
    custom = LexiconPreferenceExtractor(extra_lexicon={"opinions": [["swoon", 1]]})
    assert pairs(custom.extract(["the colour makes me swoon"], STORE_STYLES)[0]) == {("aspect", "colour", 1)}
    assert custom.version != LexiconPreferenceExtractor().version


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        None,
        "😍🔥👗" * 50,
        "这件 vintage 外套太好看了😍 but 有点贵",
        "retro " * 20_000,
        "复古" * 50_000,
    ],
    ids=["empty", "spaces", "none", "emoji", "mixed", "100k-latin", "100k-cjk"],
)
def test_bad_input_never_crashes(extractor, text):
    [mentions] = extractor.extract([text], STORE_STYLES)
    assert all(isinstance(m, Mention) and m.polarity in (-1, 1) for m in mentions)


def test_mixed_language_and_long_text(extractor):
    [mixed] = extractor.extract(["这件 vintage 外套太好看了😍 but 有点贵"], STORE_STYLES)
    assert pairs(mixed) == {("style", "retro", 1), ("aspect", "price", -1)}
    started = time.perf_counter()
    [long] = extractor.extract(["I love the retro look. " * 5000], STORE_STYLES)
    assert time.perf_counter() - started < 5
    assert pairs(long) == {("style", "retro", 1)}


def test_registry_default_is_the_lexicon_extractor():
    extractor = registry.get("preferences")
    assert isinstance(extractor, LexiconPreferenceExtractor)
    assert isinstance(extractor, PreferenceExtractor)


def test_check_set_quality(extractor):
    rows = preference_checkset()
    assert len(rows) >= 100
    assert {row["lang"] for row in rows} >= {"zh", "en", "mixed"}
    report = evaluate_preferences(extractor, rows, default_style_specs())
    assert report["all"]["precision"] >= 0.9
    assert report["all"]["recall"] >= 0.85
    assert report["zh"]["recall"] >= 0.85 and report["en"]["recall"] >= 0.85
