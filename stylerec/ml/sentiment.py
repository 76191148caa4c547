"""Sentiment of reviews in Chinese and English: score in [-1, 1], label, confidence.

Two implementations behind the ``SentimentModel`` protocol:

* ``TrainedHeadSentiment`` (the offline default): one model per language, trained by
  ``manage.py stylerec_train_sentiment`` on the labelled reviews of ``stylerec.lab.datasets``
  (``RECIPES``): for English TF-IDF n-grams stacked with frozen MiniLM sentence embeddings, for
  Chinese multilingual-e5-small fine-tuned (``stylerec.lab.finetune``) and blended with TF-IDF.
  No PyPI package ships a fine-tuned sentiment transformer, so the project trains its own (about
  25 minutes on two CPU cores, most of it the Chinese fine-tuning) and saves it versioned under
  ``MODEL_DIR/sentiment/<version>/`` (``head.pkl``, ``manifest.json``, ``zh/``).
* ``HFSequenceClassifierSentiment``: any ``AutoModelForSequenceClassification`` checkpoint (hub id
  or local directory), its labels read from ``config.id2label``.

Both turn a distribution over labels into ``score`` = the expected label value in [-1, 1], then
``label`` = positive / negative above / below ``neutral_band``, else neutral.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylerec.ml.base import ModelLoadError, SentimentResult, model_dir, model_setting, select_device
from stylerec.ml.text import config_fingerprint, model_label, resolve_pretrained
from stylerec.ml.textutil import detect_language, normalise, tokenized_batches, truncate

TRAIN_COMMAND = "python manage.py stylerec_train_sentiment"
HEAD_FILE = "head.pkl"
MANIFEST_FILE = "manifest.json"
FORMAT = 3  # bump when the pickled layout changes; older heads are then ignored by the loader


def _result(score: float, confidence: float, neutral_band: float) -> SentimentResult:
    score = float(np.clip(score, -1.0, 1.0))
    label = "positive" if score > neutral_band else "negative" if score < -neutral_band else "neutral"
    return SentimentResult(score=round(score, 6), label=label, confidence=round(float(confidence), 6))


EMPTY_RESULT = SentimentResult(score=0.0, label="neutral", confidence=0.0)


# --------------------------------------------------------------------------- hub checkpoints
_STAR = re.compile(r"^\s*([1-9])\s*(?:star|stars|星)?\s*$")


def label_scores_from_id2label(id2label: dict[int, str]) -> dict[int, float]:
    """Map each class id to a sentiment value in [-1, 1].

    Handles the conventions seen on the hub: named labels (POSITIVE / negative / Neutral, also
    Chinese 正面/负面/中性), star ratings ("1 star" .. "5 stars", or bare "1".."5"), and unnamed
    ``LABEL_i`` with 2 classes (SST-2 order: 0 negative, 1 positive) or 3 classes (0 negative,
    1 neutral, 2 positive). Anything else raises: pass ``label_scores`` explicitly.
    """
    names = {int(i): str(name).strip().lower() for i, name in id2label.items()}
    named: dict[int, float] = {}
    for i, name in names.items():
        if "pos" in name or name in ("正面", "积极", "好评"):
            named[i] = 1.0
        elif "neg" in name or name in ("负面", "消极", "差评"):
            named[i] = -1.0
        elif "neu" in name or name in ("中性", "中评"):
            named[i] = 0.0
    if len(named) == len(names):
        return named
    stars = {i: _STAR.match(name) for i, name in names.items()}
    if all(stars.values()):
        values = {i: int(m.group(1)) for i, m in stars.items() if m}
        low, high = min(values.values()), max(values.values())
        if high > low:
            return {i: 2.0 * (v - low) / (high - low) - 1.0 for i, v in values.items()}
    if all(re.fullmatch(r"label_\d+", name) for name in names.values()):
        order = sorted(names)
        if len(order) == 2:
            return {order[0]: -1.0, order[1]: 1.0}
        if len(order) == 3:
            return {order[0]: -1.0, order[1]: 0.0, order[2]: 1.0}
    raise ModelLoadError(
        f"Cannot tell what the labels {sorted(names.values())} of this sentiment checkpoint mean; "
        "set STYLEREC['SENTIMENT_MODEL_OPTIONS']['label_scores'] = {label: value in [-1, 1], ...}"
    )


class HFSequenceClassifierSentiment:
    """Any ``transformers.AutoModelForSequenceClassification`` checkpoint.

    Options (``STYLEREC['SENTIMENT_MODEL_OPTIONS']``): ``model`` (hub id or local directory),
    ``device``, ``max_length``, ``batch_size``, ``neutral_band``, ``label_scores`` (label name
    -> value in [-1, 1], for checkpoints whose ``id2label`` is not self-explanatory) and ``prefix``
    (put before every text, for models trained with one, e.g. e5's ``"query: "``).
    """

    setting = "STYLEREC['SENTIMENT_MODEL_OPTIONS']['model']"

    def __init__(
        self,
        model: str | os.PathLike[str],
        device: str | None = None,
        max_length: int = 256,
        batch_size: int = 32,
        neutral_band: float = 0.2,
        label_scores: dict[str, float] | None = None,
        prefix: str = "",
    ) -> None:
        path = resolve_pretrained(model, setting=self.setting)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            net = AutoModelForSequenceClassification.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{self.setting} = {os.fspath(model)!r}: cannot load ({exc})") from exc
        id2label = {int(i): name for i, name in net.config.id2label.items()}
        if label_scores is not None:
            by_name = {str(k).lower(): float(v) for k, v in label_scores.items()}
            missing = [name for name in id2label.values() if name.lower() not in by_name]
            if missing:
                raise ModelLoadError(f"label_scores has no value for the labels {missing}")
            scores = {i: by_name[name.lower()] for i, name in id2label.items()}
        else:
            scores = label_scores_from_id2label(id2label)
        self.label_values = np.array([scores[i] for i in range(len(id2label))], dtype=np.float32)
        self.device = select_device(device or model_setting("DEVICE"))
        net.eval()
        if self.device == "cuda":
            net = net.half()
        self._net = net.to(self.device)
        self.max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        self.neutral_band = float(neutral_band)
        self.prefix = prefix
        self._lock = threading.Lock()
        self.version = f"{model_label(os.fspath(model))}@{config_fingerprint(net.config)}"

    def predict(self, texts: list[str]) -> list[SentimentResult]:
        results: list[SentimentResult] = [EMPTY_RESULT] * len(texts)
        idx, probs = self._distributions(texts)
        for i, row in zip(idx, probs, strict=True):
            results[i] = _result(float(row @ self.label_values), float(row.max()), self.neutral_band)
        return results

    def positive_probability(self, texts: list[str]) -> np.ndarray:
        """(expected label value + 1) / 2 per text, which for a negative/positive checkpoint is
        P(positive); 0.5 for empty texts."""
        out = np.full(len(texts), 0.5, dtype=np.float64)
        idx, probs = self._distributions(texts)
        if idx:
            out[idx] = (probs @ self.label_values + 1.0) / 2.0
        return out

    def _distributions(self, texts: list[str]) -> tuple[list[int], np.ndarray]:
        """Indices of the non-empty texts and their label distributions, in that order."""
        cleaned = [truncate(normalise(t)) for t in texts]
        todo = [i for i, t in enumerate(cleaned) if t]
        if not todo:
            return [], np.zeros((0, len(self.label_values)), dtype=np.float32)
        if self.prefix:
            cleaned = [self.prefix + t for t in cleaned]
        import torch

        limit = min(
            self.max_length, getattr(self._net.config, "max_position_embeddings", None) or self.max_length
        )
        seen: list[int] = []
        parts: list[np.ndarray] = []
        with self._lock, torch.inference_mode():
            for idx, batch in tokenized_batches(
                self._tokenizer,
                cleaned,
                order=todo,
                batch_size=self.batch_size,
                max_length=limit,
                device=self.device,
            ):
                seen += list(idx)
                parts.append(torch.softmax(self._net(**batch).logits.float(), dim=-1).cpu().numpy())
        return seen, np.concatenate(parts)


# --------------------------------------------------------------------------- the trained head
@dataclass
class LanguageHead:
    """What one language's classifier needs at prediction time (pickled in head.pkl).

    Either a TF-IDF model (``vectorizer`` + ``sparse_classifier``, optionally stacked with sentence
    embeddings) or a fine-tuned transformer saved beside head.pkl in the subdirectory
    ``checkpoint``, optionally blended with a TF-IDF model.
    """

    language: str
    vectorizer: Any  # fitted sklearn TF-IDF vectorizer or FeatureUnion (or None)
    sparse_classifier: Any  # logistic regression on the TF-IDF features (or None)
    embedder: str | None  # key of EMBEDDERS, or None for TF-IDF only
    stacker: Any = None  # logistic regression on [sparse logit, embedding], when embedder is set
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # fine-tuned AutoModelForSequenceClassification directory
    max_length: int = 128  # tokens the checkpoint reads per text
    prefix: str = ""  # put before every text the checkpoint reads (it was fine-tuned with it)

    def probabilities(self, texts: list[str], dense: np.ndarray | None) -> np.ndarray:
        logit = self.sparse_logit(texts)
        if self.stacker is None or dense is None:
            return _sigmoid(logit)
        return self.stacker.predict_proba(np.hstack([logit[:, None], dense]))[:, 1]

    def sparse_logit(self, texts: list[str]) -> np.ndarray:
        return self.sparse_classifier.decision_function(self.vectorizer.transform(texts))

    def logit_pair(self, texts: list[str], checkpoint_p: np.ndarray) -> np.ndarray:
        """(n, 2): the checkpoint's logit and the TF-IDF model's, per text."""
        p = np.clip(checkpoint_p, 1e-6, 1 - 1e-6)
        return np.column_stack([np.log(p / (1 - p)), self.sparse_logit(texts)])

    def blended(self, texts: list[str], checkpoint_p: np.ndarray) -> np.ndarray:
        """A checkpoint head's P(positive), combined with its TF-IDF model's when it has one: by
        the weights learned on held-back reviews (``stacker``), else by averaging the logits."""
        if self.sparse_classifier is None:
            return checkpoint_p
        pair = self.logit_pair(texts, checkpoint_p)
        if self.stacker is not None:
            return self.stacker.predict_proba(pair)[:, 1]
        return _sigmoid(pair.mean(axis=1))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _MiniLMEmbedder:
    """The packaged MiniLM, whatever TEXT_ENCODER says: a head is tied to the embeddings it was
    trained on (its version is in the manifest and checked on load)."""

    def __init__(self) -> None:
        from stylerec.ml.text import TransformerTextEncoder

        self.encoder = TransformerTextEncoder(model=None, max_length=128, batch_size=64)
        self.version = self.encoder.version

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)


EMBEDDERS: dict[str, Callable[[], Any]] = {"minilm": _MiniLMEmbedder}


class TrainedHeadSentiment:
    """The project's own sentiment model (see the module docstring).

    Options: ``path`` (a version directory, or a directory of versions of which the newest is
    taken; ``None`` = ``MODEL_DIR/sentiment``) and ``neutral_band``. Each text goes to the head of
    its language (``textutil.detect_language``: zh or en; mixed texts with enough Chinese are zh).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, neutral_band: float = 0.2) -> None:
        version_dir = find_head(Path(path) if path is not None else model_dir() / "sentiment")
        with open(version_dir / MANIFEST_FILE, encoding="utf-8") as fh:
            self.manifest = json.load(fh)
        with open(version_dir / HEAD_FILE, "rb") as fh:
            self.heads: dict[str, LanguageHead] = pickle.load(fh)  # our own file, written by train_head
        self.path = version_dir
        self.version = f"trained-head@{version_dir.name}"
        self.neutral_band = float(neutral_band)
        self._embedders: dict[str, Any] = {}
        self._checkpoints: dict[str, HFSequenceClassifierSentiment] = {}
        self._lock = threading.Lock()

    def _checkpoint(self, head: LanguageHead) -> HFSequenceClassifierSentiment:
        with self._lock:
            if head.language not in self._checkpoints:
                self._checkpoints[head.language] = HFSequenceClassifierSentiment(
                    self.path / str(head.checkpoint),
                    max_length=head.max_length,
                    batch_size=64,
                    prefix=head.prefix,
                )
        return self._checkpoints[head.language]

    def _embed(self, key: str, texts: list[str], use_cache: bool = False) -> np.ndarray:
        with self._lock:
            if key not in self._embedders:
                embedder = EMBEDDERS[key]()
                expected = self.manifest.get("embedders", {}).get(key)
                if expected and expected != embedder.version:
                    raise ModelLoadError(
                        f"The sentiment head in {self.path} was trained on {expected} embeddings but "
                        f"{embedder.version} is installed; retrain with {TRAIN_COMMAND} --force"
                    )
                self._embedders[key] = embedder
        embedder = self._embedders[key]
        if use_cache:
            return _embedding_cache(self.path.parent / "embedding-cache", embedder.version, texts, embedder)
        return embedder(texts)

    def probabilities(self, texts: list[str], use_cache: bool = False) -> np.ndarray:
        """P(positive) per text (0.5 for empty texts). ``use_cache`` reads and writes the
        embedding cache beside the head (evaluation of fixed sets; not for serving)."""
        cleaned = [truncate(normalise(t)) for t in texts]
        out = np.full(len(cleaned), 0.5, dtype=np.float64)
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(cleaned):
            if text:
                language = detect_language(text)
                if language not in self.heads:  # a head trained for one language only
                    language = next(iter(self.heads))
                groups.setdefault(language, []).append(i)
        for language, idx in groups.items():
            head = self.heads[language]
            batch = [cleaned[i] for i in idx]
            if head.checkpoint:
                out[idx] = head.blended(batch, self._checkpoint(head).positive_probability(batch))
                continue
            dense = self._embed(head.embedder, batch, use_cache) if head.embedder else None
            out[idx] = head.probabilities(batch, dense)
        return out

    def predict(self, texts: list[str]) -> list[SentimentResult]:
        results = []
        for text, p in zip(texts, self.probabilities(texts), strict=True):
            if not normalise(text):
                results.append(EMPTY_RESULT)
            else:
                results.append(_result(2.0 * p - 1.0, max(p, 1.0 - p), self.neutral_band))
        return results


def find_head(path: Path) -> Path:
    """``path`` itself when it holds a head, else its newest version subdirectory."""
    if (path / MANIFEST_FILE).is_file() and (path / HEAD_FILE).is_file():
        return path
    versions = []
    if path.is_dir():
        for child in path.iterdir():
            manifest = child / MANIFEST_FILE
            if manifest.is_file() and (child / HEAD_FILE).is_file():
                try:
                    info = json.loads(manifest.read_text(encoding="utf-8"))
                except ValueError:
                    continue
                if info.get("format") == FORMAT:
                    versions.append((str(info.get("created", "")), child.name, child))
    if not versions:
        raise ModelLoadError(
            f"No trained sentiment head in {path} (STYLEREC['MODEL_DIR'] + '/sentiment'); "
            f"train one with: {TRAIN_COMMAND}"
        )
    return max(versions)[2]


def _embedding_cache(
    cache_dir: Path, version: str, texts: Sequence[str], embed: Callable, show_progress: bool = False
) -> np.ndarray:
    """Embeddings of ``texts``, from ``cache_dir`` when the same texts were embedded by the same
    model version before (retraining and evaluation then skip the slow part)."""
    digest = hashlib.sha256(version.encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    path = cache_dir / f"{digest.hexdigest()[:24]}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape[0] == len(texts):
            return cached
    from tqdm import tqdm

    chunk = 512
    parts = [
        np.asarray(embed(list(texts[i : i + chunk])), dtype=np.float32)
        for i in tqdm(range(0, len(texts), chunk), desc="embedding", unit="chunk", disable=not show_progress)
    ]
    vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
