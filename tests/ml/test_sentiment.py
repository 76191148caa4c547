"""Sentiment: hub-style checkpoints through the production loader (tiny, random), the trained head
on a small quick training, the fixed data split, the commands, and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from django.core.management import call_command

from stylerec.lab.datasets import TEST_PERCENT, labelled_reviews
from stylerec.lab.sentiment_training import evaluate_sentiment
from stylerec.ml import registry
from stylerec.ml.base import ModelLoadError, SentimentModel, SentimentResult
from stylerec.ml.sentiment import (
    FORMAT,
    HFSequenceClassifierSentiment,
    TrainedHeadSentiment,
    find_head,
    label_scores_from_id2label,
)

BAD_INPUTS = [
    "",
    "   ",
    "😍🔥👗" * 20,
    "这件 vintage 外套太好看了😍 but a bit 贵",
    "great " * 20_000,
    "好" * 100_000,
]


# --------------------------------------------------------------------------- label mapping
@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({0: "NEGATIVE", 1: "POSITIVE"}, {0: -1.0, 1: 1.0}),
        ({0: "LABEL_0", 1: "LABEL_1"}, {0: -1.0, 1: 1.0}),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, {0: -1.0, 1: 0.0, 2: 1.0}),
        ({0: "negative", 1: "neutral", 2: "positive"}, {0: -1.0, 1: 0.0, 2: 1.0}),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            {0: -1.0, 1: -0.5, 2: 0.0, 3: 0.5, 4: 1.0},
        ),
        ({0: "负面", 1: "正面"}, {0: -1.0, 1: 1.0}),
    ],
)
def test_label_mapping(id2label, expected):
    assert label_scores_from_id2label(id2label) == expected


def test_unknown_labels_ask_for_label_scores():
    with pytest.raises(ModelLoadError, match="label_scores"):
        label_scores_from_id2label({0: "sports", 1: "politics"})


# --------------------------------------------------------------------------- hub-style checkpoints
@pytest.mark.parametrize(
    ("id2label", "bias", "label", "sign"),
    [
        ({0: "NEGATIVE", 1: "POSITIVE"}, [-6.0, 6.0], "positive", 1),
        ({0: "NEGATIVE", 1: "POSITIVE"}, [6.0, -6.0], "negative", -1),
        ({0: "LABEL_0", 1: "LABEL_1"}, [-6.0, 6.0], "positive", 1),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            [0, 0, 0, 0, 9.0],
            "positive",
            1,
        ),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            [9.0, 0, 0, 0, 0],
            "negative",
            -1,
        ),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            [0, 0, 9.0, 0, 0],
            "neutral",
            0,
        ),
    ],
)
def test_hf_checkpoint_through_the_production_loader(make_tiny_classifier, id2label, bias, label, sign):
    model = HFSequenceClassifierSentiment(model=make_tiny_classifier(id2label, bias))
    assert isinstance(model, SentimentModel)
    [result] = model.predict(["i love this dress"])
    assert result.label == label
    assert np.sign(round(result.score, 2)) == sign
    assert -1.0 <= result.score <= 1.0 and 0.9 <= result.confidence <= 1.0


def test_hf_checkpoint_label_scores_override(make_tiny_classifier):
    path = make_tiny_classifier({0: "bad", 1: "good"}, [-6.0, 6.0])
    with pytest.raises(ModelLoadError, match="label_scores"):
        HFSequenceClassifierSentiment(model=path)
    model = HFSequenceClassifierSentiment(model=path, label_scores={"bad": -1, "good": 1})
    assert model.predict(["nice"])[0].label == "positive"


def test_hf_checkpoint_bad_input(make_tiny_classifier):
    model = HFSequenceClassifierSentiment(model=make_tiny_classifier({0: "NEGATIVE", 1: "POSITIVE"}))
    results = model.predict(BAD_INPUTS)
    assert len(results) == len(BAD_INPUTS)
    assert results[0] == results[1] == SentimentResult(0.0, "neutral", 0.0)
    assert all(-1.0 <= r.score <= 1.0 for r in results)


def test_hf_missing_checkpoint_names_the_setting(tmp_path):
    with pytest.raises(ModelLoadError, match="SENTIMENT_MODEL_OPTIONS"):
        HFSequenceClassifierSentiment(model=tmp_path / "nope")


# --------------------------------------------------------------------------- data split
def test_split_is_fixed_disjoint_and_sized():
    for language in ("zh", "en"):
        train = labelled_reviews(language=language, split="train")
        test = labelled_reviews(language=language, split="test")
        assert not {t for t, _ in train} & {t for t, _ in test}
        share = len(test) / (len(train) + len(test))
        assert abs(share - TEST_PERCENT / 100) < 0.02
        assert {y for _, y in test} == {0, 1}
        assert test[:5] == labelled_reviews(language=language, split="test")[:5]
    with pytest.raises(ValueError):
        labelled_reviews(language="fr", split="train")


# --------------------------------------------------------------------------- trained head
# The smallest training that still proves the recipe learns: 300 reviews per language (the real
# e5 fine-tuning for zh dominates the suite's time), scored on 200 held-out ones.
TRAIN_LIMIT = 300
TEST_LIMIT = 200


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A quick head (300 reviews per language) trained through the management command."""
    out = tmp_path_factory.mktemp("models") / "sentiment"
    call_command(
        "stylerec_train_sentiment", limit=TRAIN_LIMIT, test_limit=TEST_LIMIT, output_dir=str(out), stdout=None
    )
    return out


def test_quick_head_beats_chance_on_held_out(trained_dir):
    model = TrainedHeadSentiment(path=trained_dir)
    assert model.version.startswith("trained-head@")
    for language in ("zh", "en"):
        metrics = model.manifest["metrics"][language]
        assert metrics["n"] == TEST_LIMIT
        assert metrics["accuracy"] >= 0.64, metrics  # chance is ~0.5; 4 sd above it at n=200
        assert model.manifest["data"][language]["train_examples"] == TRAIN_LIMIT
        again = evaluate_sentiment(model, language=language, limit=TEST_LIMIT)
        assert again["accuracy"] == metrics["accuracy"]


def test_head_routes_each_language_to_its_head(trained_dir, monkeypatch):
    model = TrainedHeadSentiment(path=trained_dir)
    seen = []
    english = model.heads["en"]
    original_en = english.probabilities

    def spy_en(texts, dense):
        seen.append(("en", len(texts), dense is None))
        return original_en(texts, dense)

    monkeypatch.setattr(english, "probabilities", spy_en)
    original_zh = HFSequenceClassifierSentiment.positive_probability

    def spy_zh(self, texts):
        seen.append(("zh", len(texts), True))
        return original_zh(self, texts)

    monkeypatch.setattr(HFSequenceClassifierSentiment, "positive_probability", spy_zh)
    model.predict(["质量很好，很喜欢", "the best film of the year", "衣服不错 but 有点贵"])
    # Chinese (also the mixed review) goes to the fine-tuned zh checkpoint, English to the TF-IDF
    # head stacked with its sentence embeddings.
    assert sorted(seen) == [("en", 1, False), ("zh", 2, True)]
    assert (
        model.heads["zh"].checkpoint and (model.path / model.heads["zh"].checkpoint / "config.json").is_file()
    )


def test_head_output_contract_and_bad_input(trained_dir):
    model = TrainedHeadSentiment(path=trained_dir, neutral_band=0.2)
    results = model.predict(BAD_INPUTS)
    assert len(results) == len(BAD_INPUTS)
    assert results[0] == results[1] == SentimentResult(0.0, "neutral", 0.0)
    for r in results:
        assert -1.0 <= r.score <= 1.0 and 0.0 <= r.confidence <= 1.0
        assert r.label == ("positive" if r.score > 0.2 else "negative" if r.score < -0.2 else "neutral")


def test_loader_takes_the_newest_valid_version(trained_dir, tmp_path):
    root = tmp_path / "sentiment"
    [original] = [p for p in trained_dir.iterdir() if (p / "manifest.json").exists()]
    for name, created, fmt in [
        ("old", "2000-01-01T00:00:00", FORMAT),
        ("new", "2999-01-01T00:00:00", FORMAT),
        ("odd", "3999", 99),
    ]:
        shutil.copytree(original, root / name)
        manifest = json.loads((root / name / "manifest.json").read_text())
        manifest.update(created=created, format=fmt)
        (root / name / "manifest.json").write_text(json.dumps(manifest))
    (root / "half-written").mkdir()
    assert find_head(root).name == "new"  # "odd" has another format, "half-written" no files
    assert TrainedHeadSentiment(path=root).version == "trained-head@new"


def test_missing_head_tells_how_to_train(tmp_path, settings):
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "MODEL_DIR": str(tmp_path)}
    with pytest.raises(ModelLoadError, match="stylerec_train_sentiment"):
        registry.get("sentiment")


def test_default_loader_reads_model_dir(trained_dir, settings):
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "MODEL_DIR": str(trained_dir.parent)}
    model = registry.get("sentiment")
    assert isinstance(model, TrainedHeadSentiment)
    assert model.path.parent == trained_dir


def test_train_command_skips_when_a_full_head_exists(trained_dir, tmp_path):
    """A --limit head is not "full", so the command trains; a full one would be kept."""
    [version] = [p for p in trained_dir.iterdir() if (p / "manifest.json").exists()]
    fake = tmp_path / "sentiment" / version.name
    shutil.copytree(version, fake)
    manifest = json.loads((fake / "manifest.json").read_text())
    manifest["limit"] = None
    (fake / "manifest.json").write_text(json.dumps(manifest))
    from io import StringIO

    out = StringIO()
    call_command("stylerec_train_sentiment", output_dir=str(fake.parent), stdout=out)
    assert "up to date" in out.getvalue()


def test_eval_command_writes_both_reports(trained_dir, tmp_path, settings):
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "MODEL_DIR": str(trained_dir.parent)}
    from io import StringIO

    out = StringIO()
    call_command("stylerec_eval_text", limit=TEST_LIMIT, output_dir=tmp_path, speed_texts=16, stdout=out)
    sentiment = json.loads((tmp_path / "sentiment_eval.json").read_text())
    preferences = json.loads((tmp_path / "preference_eval.json").read_text())
    head = TrainedHeadSentiment(path=trained_dir)
    for language in ("zh", "en"):
        assert sentiment["languages"][language]["accuracy"] == head.manifest["metrics"][language]["accuracy"]
        assert sentiment["speed"][language]["text_encoder_texts_per_s"] > 0
    assert preferences["n_sentences"] >= 100 and 0 < preferences["all"]["precision"] <= 1
    assert "macro-F1" in out.getvalue() and "precision" in out.getvalue()
