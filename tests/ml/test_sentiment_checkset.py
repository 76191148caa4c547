"""The labelled review sentences read out of npm's ``sentiment`` package (UCI, Kotzias et al.
2015): the English product-review check set, kept apart from everything the heads train on, and
the warm start that lets the shipped encoder layers be kept or trained further."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from stylerec.lab.datasets import CHECK_SETS, STACK_SET, check_set, labelled_reviews, review_sentences
from stylerec.lab.packaged_data import WHEELS, data_path
from stylerec.lab.sentiment_training import calibrated_band, score_metrics, train_head
from stylerec.ml.sentiment import TrainedHeadSentiment


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def test_review_sentences_come_from_the_checked_npm_archive():
    assert WHEELS["sentiment"].registry == "npm"
    for source in ("amazon", "yelp", "imdb"):
        rows = review_sentences(source)
        assert len(rows) == 1000 and sum(y for _, y in rows) == 500, source
    path = data_path("sentiment", "test/fixtures/amazon.json")
    assert path.is_file()
    with pytest.raises(ValueError):
        review_sentences("tweets")


def test_english_check_set_is_product_reviews_never_trained_on():
    name, source = CHECK_SETS["en"]
    assert name == "amazon" and "Amazon product reviews" in source and "CC BY 4.0" in source
    checks = {_key(t) for t, _ in check_set("en")}
    assert len(checks) >= 500
    trained = {
        _key(t) for split in ("train", "test") for t, _ in labelled_reviews(language="en", split=split)
    }
    stack = {_key(t) for t, _ in review_sentences(STACK_SET)}
    assert STACK_SET != name
    assert not checks & trained and not checks & stack


def test_chinese_check_set_is_the_held_out_split():
    rows = check_set("zh")
    assert len(rows) >= 500 and rows == labelled_reviews(language="zh", split="test")


def test_score_metrics_and_band():
    m = score_metrics([1, 1, 1, 0], [0.9, 0.5, -0.1, -0.8], band=0.2)
    assert m["accuracy"] == 0.75 and m["majority"] == 0.75 and m["auc"] == 1.0 and m["neutral_share"] == 0.25
    # the band holds NEUTRAL_SHARE of the held-back reviews, never more than 0.2
    p = np.linspace(0.0, 1.0, 101)
    assert 0.0 < calibrated_band(p) < 0.2
    assert calibrated_band(np.full(10, 0.5)) == 0.0 and calibrated_band(np.array([0.0, 1.0] * 50)) == 0.2


@pytest.mark.slow
def test_warm_start_keeps_or_continues_the_encoder_layers(tiny_zh_recipe, tmp_path):
    def train(folder: str, **options):
        return train_head(
            output_dir=tmp_path / folder, languages=("zh",), recipe="fast", limit=80, test_limit=20, **options
        )

    first = train("a")
    kept = train("b", warm_start=first, epochs=0)
    layers = "zh.encoder.safetensors"
    digest = hashlib.sha256((first / layers).read_bytes()).hexdigest()
    assert hashlib.sha256((kept / layers).read_bytes()).hexdigest() == digest
    manifest = json.loads((kept / "manifest.json").read_text())
    record = manifest["warm_start"]["zh-encoder"]
    assert record["version"] == first.name and record["sha256"] == digest and record["epochs_after"] == 0
    assert record["training"]["chosen_epoch"] in (1, 2)  # how the kept layers were made survives
    assert [e["epoch"] for e in manifest["training"]["zh"]["epochs"]] == [0]
    more = train("c", warm_start=first, epochs=1)
    assert hashlib.sha256((more / layers).read_bytes()).hexdigest() != digest
    assert TrainedHeadSentiment(path=more).predict(["质量很好"])[0].score != 0
    with pytest.raises(ValueError, match="warm start"):
        train("d", epochs=0)
    # one more layer than the warm start trained: it starts from the base model's, the rest from
    # the warm start's, and the manifest says which
    deeper = train("e", warm_start=first, epochs=1, train_layers=2)
    manifest = json.loads((deeper / "manifest.json").read_text())
    assert manifest["recipes"]["zh"]["train_layers"] == 2
    assert manifest["warm_start"]["zh-encoder"]["layers_from_base"] == [0]
    from safetensors.numpy import load_file

    stored = load_file(deeper / layers)
    assert {k.split(".")[2] for k in stored if k.startswith("encoder.layer.")} == {"0", "1"}
