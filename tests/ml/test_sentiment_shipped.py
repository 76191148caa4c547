"""The sentiment head the package ships (``stylerec/data/sentiment/<version>/``): within the size
budget, plain numbers (no pickle), produced from the bundled data its manifest names, and loaded
offline with no training step reproduces the manifest's accuracy on its fixed test sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylerec.lab.datasets import CHECK_SETS, corpus_fingerprint
from stylerec.lab.sentiment_training import SAMPLE_SIZE, evaluate_sentiment
from stylerec.ml import registry
from stylerec.ml.sentiment import FORMAT, SHIPPED_DIR, TrainedHeadSentiment, find_head

SIZE_BUDGET = 25 * 1024 * 1024  # bytes in the wheel, issue #12
CHECK_EN = CHECK_SETS["en"]


def _version():
    return find_head(SHIPPED_DIR)


def test_exactly_one_shipped_version_within_the_size_budget():
    versions = [p for p in SHIPPED_DIR.iterdir() if p.is_dir()]
    assert versions == [_version()], "ship one version (the loader takes the newest)"
    files = [p for p in _version().rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= SIZE_BUDGET
    assert {p.suffix for p in files} <= {".json", ".npz", ".safetensors"}
    for npz in _version().glob("*.npz"):
        np.load(npz, allow_pickle=False)


def test_manifest_names_its_data_split_seed_and_metrics():
    manifest = json.loads((_version() / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT and manifest["source"] == "bundled" and manifest["limit"] is None
    assert manifest["seed"] == 0 and manifest["split"]["test"] and manifest["train_seconds"] > 0
    for language in ("zh", "en"):
        # trained on the bundled corpus as it is installed now
        assert manifest["data"][language]["sha256"] == corpus_fingerprint(language)
        assert manifest["metrics"][language]["n"] == manifest["data"][language]["test_examples"]
        assert manifest["sample_metrics"][language]["n"] == SAMPLE_SIZE


def test_default_loader_serves_the_shipped_head_when_the_store_trained_none(tmp_path, settings):
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "MODEL_DIR": str(tmp_path)}
    model = registry.get("sentiment")
    assert isinstance(model, TrainedHeadSentiment) and model.path == _version()
    assert not (tmp_path / "sentiment").exists()  # nothing trained, nothing written


@pytest.mark.slow
def test_shipped_head_reproduces_its_sample_accuracy_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    model = TrainedHeadSentiment(path=SHIPPED_DIR)
    for language in ("zh", "en"):
        expected = model.manifest["sample_metrics"][language]["accuracy"]
        result = evaluate_sentiment(model, language=language, limit=SAMPLE_SIZE)
        assert result["n"] == SAMPLE_SIZE
        assert abs(result["accuracy"] - expected) <= 0.03, (language, result, expected)
    good, bad = model.predict(["质量很好，穿着很舒服，很喜欢", "a dull, lifeless film"])
    assert good.label == "positive" and bad.label == "negative"


def test_shipped_manifest_records_where_its_encoder_layers_came_from():
    """The encoder layers were kept from an earlier run (--warm-start --epochs 0): the manifest
    names that run's recipe, data and epochs, and the hash of the layers it ships."""
    import hashlib

    manifest = json.loads((_version() / "manifest.json").read_text(encoding="utf-8"))
    record = manifest["warm_start"]["zh-encoder"]
    shipped = hashlib.sha256((_version() / record["file"]).read_bytes()).hexdigest()
    assert record["sha256"] == shipped and record["training"]["chosen_epoch"] >= 1
    assert record["data"]["sha256"] == corpus_fingerprint("zh")
    assert manifest["data"]["en"]["stack_set"]["source"] == "uci-yelp"


@pytest.mark.slow
def test_shipped_head_reads_english_product_reviews_better_than_vader(monkeypatch):
    """On 300 sentences of the Amazon check set (never trained on): clearly above the majority
    class and above VADER, as served (predict: routing, sizing remarks, neutral band)."""
    from stylerec.lab.sentiment_training import evaluate_check_sets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = TrainedHeadSentiment(path=SHIPPED_DIR)
    monkeypatch.setattr("stylerec.lab.datasets.CHECK_SETS", {"en": CHECK_EN})
    report = evaluate_check_sets(model, limit=300)["en-products"]
    m, vader = report["model"], report["vader"]
    assert m["n"] == 300
    assert m["accuracy"] >= m["majority"] + 0.2 and m["accuracy"] > vader["accuracy"] + 0.05
    assert m["macro_f1"] >= 0.85 and m["auc"] > vader["auc"]
