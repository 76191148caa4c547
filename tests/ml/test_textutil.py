"""tokenized_batches: each text once, batches within their count and token budgets, little padding."""

from __future__ import annotations

import pytest

from stylerec.ml.textutil import tokenized_batches

SHORT = ["good", "ok", "retro", "nice dress", "bad fit"]
LONG = ["the fabric is very very nice but the price is too terrible for me and the fit is bad"] * 3


@pytest.fixture()
def tokenizer(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def batches(tokenizer, texts, **options):
    defaults = {"order": range(len(texts)), "batch_size": 32, "max_length": 64, "device": "cpu"}
    return list(tokenized_batches(tokenizer, texts, **{**defaults, **options}))


def test_every_text_comes_back_once_with_its_own_tokens(tokenizer):
    texts = LONG[:1] + SHORT + LONG[1:]
    out = batches(tokenizer, texts)
    seen = [i for idx, _ in out for i in idx]
    assert sorted(seen) == list(range(len(texts)))
    for idx, tensors in out:
        for row, i in enumerate(idx):
            expected = tokenizer(texts[i], truncation=True, max_length=64)["input_ids"]
            mask = tensors["attention_mask"][row].bool()
            assert tensors["input_ids"][row][mask].tolist() == expected


def test_short_texts_are_not_padded_to_long_ones(tokenizer):
    out = batches(tokenizer, SHORT + LONG)
    for idx, tensors in out:
        assert {i < len(SHORT) for i in idx} in ({True}, {False})
        mask = tensors["attention_mask"]
        assert mask.numel() <= 1.25 * int(mask.sum()) or len(idx) == 1


def test_batches_respect_count_and_token_budgets(tokenizer):
    out = batches(tokenizer, LONG * 4, batch_size=5, max_batch_tokens=60)
    for idx, tensors in out:
        assert len(idx) <= 5
        assert tensors["input_ids"].numel() <= 60 or len(idx) == 1
    assert len(out) > 2


def test_only_the_given_indices_are_batched(tokenizer):
    out = batches(tokenizer, SHORT, order=[3, 1])
    assert sorted(i for idx, _ in out for i in idx) == [1, 3]
    assert batches(tokenizer, SHORT, order=[]) == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("质量不错, love the retro style and colour", "zh"),  # mixed: enough Chinese to be Chinese
        ("这件T恤很好看", "zh"),
        ("Love the retro cut, 不错", "zh"),
        ("Love the retro style and colour, fits true to size, great price 好", "en"),
        ("Great retro cut", "en"),
    ],
)
def test_detect_language_of_mixed_chinese_and_english(text, language):
    from stylerec.ml.textutil import detect_language

    assert detect_language(text) == language
