"""Small text helpers shared by the text-side models: normalisation, truncation, language.

Pure Python, no heavy imports: these run on request paths (search queries) too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from stylerec.ml.base import model_setting

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")


def normalise(text: str | None) -> str:
    """NFKC (full-width letters and digits become ASCII, so ``ＲＥＴＲＯ`` reads as ``RETRO``),
    control characters dropped, runs of whitespace collapsed. ``None`` becomes ``""``."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return _SPACES.sub(" ", text).strip()


def max_text_chars() -> int:
    """STYLEREC['MAX_TEXT_CHARS'], read at call time (its default outside a Django project)."""
    return int(model_setting("MAX_TEXT_CHARS"))


def truncate(text: str, max_chars: int | None = None) -> str:
    """The first ``max_chars`` characters (the setting by default): long texts are cut, never
    rejected. Models truncate again to their token limit."""
    limit = max_text_chars() if max_chars is None else max_chars
    return text[:limit] if len(text) > limit else text


def detect_language(text: str) -> str:
    """``"zh"`` when CJK ideographs make up at least a fifth of the letters, else ``"en"``.

    Review text here is Chinese, English or a mix; a mixed review with a few English brand words
    ("这件T恤很好看") is Chinese. No language-id model is needed for two scripts this different.
    """
    sample = text[:2000]
    cjk = len(_CJK.findall(sample))
    if cjk == 0:
        return "en"
    latin_words = len(re.findall(r"[A-Za-z]+", sample))
    return "zh" if cjk >= 0.2 * (cjk + latin_words) else "en"


def tokenized_batches(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    order: Sequence[int],
    batch_size: int,
    max_length: int,
    device: Any,
    max_batch_tokens: int = 4096,
    max_padding: float = 0.25,
    return_tensors: str = "pt",
) -> Iterator[tuple[Sequence[int], Any]]:
    """``(indices, tensors)`` per batch of the texts at ``order``, truncated to ``max_length``
    tokens, padded to the batch's longest text and already on ``device`` (torch tensors; with
    ``return_tensors="np"`` numpy arrays for onnxruntime, and ``device`` is not used).

    Texts are tokenised once, sorted by token count and cut into batches of at most
    ``batch_size`` texts and ``max_batch_tokens`` padded tokens, a batch closing early when
    padding would exceed ``max_padding`` of it. Padding is pure waste on a CPU: a batch of 32
    mixed reviews padded to its longest ran slower per text than one review at a time.
    """
    idx = list(order)
    if not idx:
        return
    encoded = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length)
    ids = encoded["input_ids"]
    ranked = sorted(range(len(idx)), key=lambda k: len(ids[k]))
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for k in ranked:
        length = len(ids[k])
        padded = (len(current) + 1) * length
        too_much_padding = padded > (1 + max_padding) * (real + length)
        if current and (len(current) >= batch_size or padded > max_batch_tokens or too_much_padding):
            batches.append(current)
            current, real = [], 0
        current.append(k)
        real += length
    batches.append(current)
    for members in batches:
        features = [{key: encoded[key][k] for key in encoded} for k in members]
        padded_batch = tokenizer.pad(features, return_tensors=return_tensors)
        yield [idx[k] for k in members], (padded_batch.to(device) if return_tensors == "pt" else padded_batch)
