"""finetune_binary_classifier on a tiny random BERT: it learns, saves a checkpoint the production
HF loader serves, and rejects bad input; plus the sentiment trainer's top-layer recipe end to end."""

from __future__ import annotations

import random

import numpy as np
import pytest

from stylerec.lab.datasets import labelled_reviews
from stylerec.lab.finetune import finetune_binary_classifier, length_sorted_batches
from stylerec.lab.sentiment_training import _calibration_split, train_head
from stylerec.ml.sentiment import HFSequenceClassifierSentiment, TrainedHeadSentiment

POSITIVE = ["i love this dress", "good fabric", "great fit", "nice colour", "love it", "so good"]
NEGATIVE = ["i hate this dress", "bad fabric", "terrible fit", "ugly colour", "hate it", "so bad"]


def test_length_sorted_batches_cover_every_index_once():
    lengths = [random.Random(1).randint(1, 100) for _ in range(250)]
    batches = length_sorted_batches(lengths, 16, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(250))
    assert max(len(b) for b in batches) == 16
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches if len(b) > 1]
    assert sum(spread) / len(spread) < 20  # similar lengths share a batch (uniform 1..100 unsorted: ~80)


@pytest.mark.slow
def test_finetuned_tiny_model_learns_and_serves(tiny_bert_dir, tmp_path):
    texts, labels = POSITIVE + NEGATIVE, [1] * len(POSITIVE) + [0] * len(NEGATIVE)
    steps = []
    out = finetune_binary_classifier(
        tiny_bert_dir,
        texts,
        labels,
        tmp_path / "clf",
        epochs=40,
        learning_rate=3e-3,
        batch_size=4,
        on_step=lambda step, total, loss: steps.append((step, total, loss)),
    )
    assert steps[-1][0] == steps[-1][1] == 40 * 3
    assert steps[-1][2] < steps[0][2]
    served = HFSequenceClassifierSentiment(out)  # the production loader, labels from id2label
    p = served.positive_probability(texts + [""])
    assert ((p[: len(texts)] > 0.5) == [bool(y) for y in labels]).mean() >= 0.9
    assert p[-1] == 0.5
    assert [r.label for r in served.predict(["love it", "hate it"])] == ["positive", "negative"]


@pytest.mark.parametrize(("texts", "labels"), [([], []), (["a"], [2]), (["a", "b"], [1])])
def test_bad_training_input_is_rejected(tiny_bert_dir, tmp_path, texts, labels):
    with pytest.raises(ValueError):
        finetune_binary_classifier(tiny_bert_dir, texts, labels, tmp_path / "x")


@pytest.mark.slow
def test_trainer_finetune_recipe_end_to_end(tiny_bert_dir, tiny_zh_recipe, tmp_path):
    """The zh recipe fine-tunes the top layers of its base encoder (a tiny one here) over a cache
    of the lower layers, saves them (fp16) inside the version, and TrainedHeadSentiment serves
    Chinese reviews from the base with those layers put back, stacked with TF-IDF."""
    version = train_head(output_dir=tmp_path, languages=("zh",), recipe="fast", limit=80, test_limit=20)
    model = TrainedHeadSentiment(path=version)
    assert model.manifest["base_models"] == {"tiny": f"tiny@{tiny_bert_dir.name}"}
    assert model.manifest["metrics"]["zh"]["n"] == 20
    training = model.manifest["training"]["zh"]
    assert training["trained_layers"] == [1] and training["chosen_epoch"] in (1, 2)
    assert [e["epoch"] for e in training["epochs"]] == [1, 2]
    from safetensors.numpy import load_file

    weights = load_file(version / "zh.encoder.safetensors")
    assert all(k.startswith("encoder.layer.1.") for k in weights if not k.startswith("classifier."))
    assert weights["encoder.layer.1.output.dense.weight"].dtype == np.float16
    head = model.heads["zh"]
    # stacked with its TF-IDF partner by weights learned on the held-back reviews
    assert head.inputs == ["encoder", "tfidf"] and head.stack_coef.shape == (2,)
    results = model.predict(["质量很好", "", "衣服不好看"])
    assert results[1].label == "neutral" and all(-1 <= r.score <= 1 for r in results)
    [encoder] = model._encoders.values()  # served by the fine-tuned layers over the base
    assert encoder.trained_parameters == sum(1 for k in weights if not k.startswith("classifier."))
    assert not list(tmp_path.glob(".*.partial"))


def test_blend_reviews_are_held_back_by_a_hash_independent_of_the_test_split():
    texts = [t for t, _ in labelled_reviews(language="zh", split="train")[:3000]]
    fit, held = _calibration_split(texts, 10)
    assert sorted([*fit, *held]) == list(range(len(texts)))
    assert 0.08 < len(held) / len(texts) < 0.12  # the test split's hash would have held back none
    again_fit, again_held = _calibration_split(list(reversed(texts)), 10)
    assert {texts[i] for i in held} == {texts[::-1][i] for i in again_held}
    assert len(_calibration_split(texts, 0)[1]) == 0
