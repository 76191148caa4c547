"""Tiny, randomly initialised transformer checkpoints for the text-side tests.

Each is written with ``save_pretrained`` like a real checkpoint and loaded back through the
production loaders (``TransformerTextEncoder(model=dir)``, ``HFSequenceClassifierSentiment(model=dir)``),
so the real code paths run without a download. The tokenizer is a WordPiece ``BertTokenizerFast``
built from a small vocabulary written here (ASCII letters, a few words, the CJK characters the
tests use).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

TINY_HIDDEN = 32

_WORDS = (
    "the a is it i love hate this dress fabric good bad great terrible retro vintage fit colour size "
    "price quality not too very and but so for me shirt shoes nice ugly"
).split()
_CJK = "我很喜欢这件衣服不好看质量差复古风太了的是也"


def _write_vocab(path: Path) -> Path:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [
        f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)
    ]
    punctuation = list(".,!?'-") + [str(d) for d in range(10)]
    vocab = list(dict.fromkeys(specials + _WORDS + letters + punctuation + list(_CJK)))
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return path


def _tiny_config(vocab_size: int, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=TINY_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,  # small on purpose: long texts must be truncated to fit
        **extra,
    )


def _tokenizer(directory: Path):
    from transformers import BertTokenizerFast

    vocab = _write_vocab(directory / "vocab.txt")
    # transformers 5 takes the vocabulary as ``vocab`` (a path or a dict); ``vocab_file`` is ignored
    # there and would leave a 5-token vocabulary that reads every word as [UNK].
    return BertTokenizerFast(
        vocab=str(vocab), do_lower_case=True, tokenize_chinese_chars=True, model_max_length=64
    )


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BertModel + tokenizer, saved like a hub checkpoint."""
    import torch
    from transformers import BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = _tokenizer(directory)
    torch.manual_seed(0)
    BertModel(_tiny_config(len(tokenizer))).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def make_tiny_classifier(tmp_path_factory) -> Callable[..., Path]:
    """``make_tiny_classifier(id2label, bias=None)`` -> a saved BertForSequenceClassification whose
    classifier bias (if given) forces the predicted distribution, so label mapping is testable."""
    import torch
    from transformers import BertForSequenceClassification

    def make(id2label: dict[int, str], bias: list[float] | None = None) -> Path:
        directory = tmp_path_factory.mktemp("tiny-classifier")
        tokenizer = _tokenizer(directory)
        config = _tiny_config(
            len(tokenizer),
            num_labels=len(id2label),
            id2label=dict(id2label),
            label2id={v: k for k, v in id2label.items()},
        )
        torch.manual_seed(0)
        model = BertForSequenceClassification(config)
        if bias is not None:
            with torch.no_grad():
                model.classifier.weight.zero_()
                model.classifier.bias.copy_(torch.tensor(bias))
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        return directory

    return make


@pytest.fixture
def tiny_zh_recipe(tiny_bert_dir, monkeypatch):
    """The zh "fast" recipe over the tiny random BERT: 1 trained layer, 2 epochs, small batches."""
    from stylerec.lab import sentiment_training
    from stylerec.ml.sentiment import BASE_MODELS

    monkeypatch.setitem(BASE_MODELS, "tiny", lambda: tiny_bert_dir)
    recipe = {
        **sentiment_training.RECIPES["fast"]["zh"],
        "encoder": "tiny",
        "train_layers": 1,
        "epochs": 2,
        "batch_size": 8,
        "validation_percent": 30,
    }
    monkeypatch.setitem(sentiment_training.RECIPES["fast"], "zh", recipe)
    return recipe
