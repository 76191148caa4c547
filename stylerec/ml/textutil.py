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
_LATIN = re.compile(r"[A-Za-z]")
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


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def tokenized_batches(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    order: Sequence[int],
    batch_size: int,
    max_length: int,
    device: Any,
) -> Iterator[tuple[Sequence[int], Any]]:
    """``(indices, tensors)`` per batch of ``texts`` taken in ``order``, padded to the batch's
    longest text and truncated to ``max_length`` tokens, already on ``device``."""
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        yield idx, batch.to(device)
