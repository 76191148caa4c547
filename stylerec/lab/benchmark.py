"""Throughput, memory, load time and int8 trade-offs of the configured models.

Used by ``manage.py stylerec_benchmark_models``. Every kind is measured through the registry, i.e.
whatever the host configured, with synthetic inputs of the sizes the pipeline feeds (224 px product
photos for encoders, 512 px for style transfer, real held-out reviews for text models when the
corpora are installed).

How each number is made:

* **items/s**: for each batch size, one warm-up call, then ``repeats`` timed calls on the same batch;
  the median call time gives ``batch / median``.
* **load_s**: building the instance plus its ``load()`` (or, for classes without one, a first call
  on a single item, so the lazy loading is counted).
* **peak_rss_mb**: the highest resident set size sampled every 5 ms while loading and running that
  kind, minus the RSS before (native torch/onnxruntime memory included, which tracemalloc misses).
  On CUDA also ``torch.cuda.max_memory_allocated``.
* **int8**: ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` of the torch modules
  the model holds, on CPU. Only reported where a Linear layer actually runs in the forward pass
  (EfficientNet's only Linear is the unused classifier; the ONNX style networks are not torch).
  Accuracy change: mean cosine between fp32 and int8 vectors for encoders; accuracy on held-out
  labelled reviews (``stylerec.lab.datasets``) for sentiment; mean absolute weight change for style
  scorers.
* **text backends** (``TransformerTextEncoder`` on a CPU): today's torch path, the ONNX export run
  by onnxruntime (the default), torch dynamic int8 and ONNX dynamic int8 are loaded together and
  timed *side by side*: for each batch size every candidate gets one warm-up call, then the
  ``repeats`` timed calls go round the candidates in turn, so a busy machine slows them all alike.
  Each row's note gives its median against torch fp32's from the same rounds (``x1.52``), which
  holds on a loaded machine where the absolute items/s do not. Fidelity: mean and min cosine of
  each candidate's vectors to torch fp32's on ``FIDELITY_TEXTS`` reviews. load_s and peak_rss_mb
  are each backend's own load, torch's first (so onnx's RSS leaves out the libraries torch loaded).
* **sentiment backends** (``TrainedHeadSentiment`` on a CPU): its encoder in torch fp32, as the ONNX
  export and as the export's int8 copy, timed side by side the same way; each with its accuracy on
  the same held-out reviews and the change against torch fp32 (``accuracy_delta``). The summary
  counts an int8 row toward a goal only when it keeps quality (``keeps_quality``).
"""

from __future__ import annotations

import copy
import functools
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stylerec.ml.base import StyleSpec

ALL_KINDS = ("text", "sentiment", "image", "style_scorer", "style_transfer")
GOALS = {"text": 150.0, "sentiment": 100.0, "image": 25.0, "style_transfer": 3.0}  # items/s, CPU
IMAGE_SIDE = {"image": 224, "style_scorer": 224, "style_transfer": 512}


@dataclass
class Row:
    kind: str
    model: str
    version: str
    device: str
    precision: str
    batch_size: int
    items_per_s: float | None = None
    median_batch_s: float | None = None
    repeats: int = 0
    load_s: float | None = None
    peak_rss_mb: float | None = None
    cuda_peak_mb: float | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    note: str = ""
    input_px: int | None = None  # side of the square input images, for image kinds
    backend: str = ""  # what ran the model where there is a choice ("torch", "onnx")


# --- inputs ---------------------------------------------------------------------------------------


def sample_texts(n: int) -> list[str]:
    """Held-out reviews, English and Chinese alternating, or synthetic ones without the corpora."""
    texts: list[str] = []
    try:
        from stylerec.lab.datasets import labelled_reviews

        en = [t for t, _ in labelled_reviews(language="en", split="test")[: n // 2 + 1]]
        zh = [t for t, _ in labelled_reviews(language="zh", split="test")[: n // 2 + 1]]
        for a, b in zip(en, zh, strict=False):
            texts += [a, b]
    except Exception:  # noqa: BLE001 - corpora are optional for a benchmark
        pass
    while len(texts) < n:
        i = len(texts)
        texts.append(
            f"Review {i}: the fabric is soft and the fit is {'great' if i % 2 else 'too tight'}, "
            "colour as pictured, would buy this style again."
        )
    return texts[:n]


def labelled_sample(n: int) -> list[tuple[str, int]]:
    from stylerec.lab.datasets import labelled_reviews

    per = max(1, n // 2)
    return (
        labelled_reviews(language="en", split="test")[:per]
        + labelled_reviews(language="zh", split="test")[:per]
    )


def sample_images(n: int, side: int, seed: int = 0) -> list[Any]:
    """Product-like pictures: a coloured shape with stripes on white, ``side`` x ``side``."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (side, side), "white")
        d = ImageDraw.Draw(img)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        box = (
            sorted(rng.integers(side // 10, side - side // 10, 2)),
            sorted(rng.integers(side // 10, side - side // 10, 2)),
        )
        (x0, x1), (y0, y1) = box
        x1, y1 = max(x1, x0 + side // 4), max(y1, y0 + side // 4)
        if rng.random() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=colour, outline="black")
        else:
            d.rectangle([x0, y0, x1, y1], fill=colour, outline="black")
        for y in range(y0, y1, max(4, side // 20)):
            d.line([x0, y, x1, y], fill=tuple(255 - c for c in colour), width=max(1, side // 100))
        out.append(img)
    return out


def sample_styles(side: int = 128) -> list[StyleSpec]:
    refs = sample_images(4, side, seed=99)
    names = [
        ("minimal", "Minimal", "clean lines, plain colours"),
        ("retro", "Retro", "seventies colours and patterns"),
        ("sporty", "Sporty", "athletic, technical fabrics"),
        ("boho", "Boho", "loose, floral, earthy"),
    ]
    return [
        StyleSpec(slug=s, name=n, description=d, reference_image=r)
        for (s, n, d), r in zip(names, refs, strict=True)
    ]


TRANSFER_STYLE = StyleSpec(slug="bench", name="Benchmark preset", transfer_preset=7)


TEXT_KINDS = ("text", "sentiment", "preferences")
TEXT_WORKLOAD = 32


def _joined(output: Any) -> Any:
    """Text kinds' calls return one array per chunk; agreement compares whole outputs."""
    import numpy as np

    if isinstance(output, list) and output and isinstance(output[0], np.ndarray):
        return np.concatenate(output)
    return output


def items_per_call(kind: str, n: int) -> int:
    """How many items one timed call processes (text kinds: the whole fixed workload)."""
    return TEXT_WORKLOAD if kind in TEXT_KINDS else n


def make_call(kind: str, model: Any, n: int, side: int | None = None) -> Callable[[], Any]:
    """A zero-argument call that runs ``model`` on ``n`` items of its kind (images ``side`` px)."""
    side = side or IMAGE_SIDE.get(kind, 224)
    # Text kinds run one fixed workload (TEXT_WORKLOAD reviews, half long Chinese ones) in calls of
    # ``n``, so every batch size sees the same texts: otherwise batch 1 would time one short English
    # snippet and batch 32 a mix padded to its longest review.
    texts = sample_texts(TEXT_WORKLOAD)
    chunks = [texts[i : i + n] for i in range(0, len(texts), n)]
    if kind in ("text",):
        return lambda: [model.encode(chunk) for chunk in chunks]
    if kind == "sentiment":
        return lambda: [model.predict(chunk) for chunk in chunks]
    if kind == "preferences":
        styles = sample_styles()
        return lambda: [model.extract(chunk, styles) for chunk in chunks]
    if kind == "image":
        images = sample_images(n, side)
        return lambda: model.encode(images)
    if kind == "style_scorer":
        images, texts, styles = sample_images(n, side), sample_texts(n), sample_styles()
        return lambda: model.score(images, texts, styles)
    if kind == "style_transfer":
        images = sample_images(n, side)
        return lambda: model.stylize(images, TRANSFER_STYLE)
    raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(ALL_KINDS)} or preferences")


# --- measuring ------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # not Linux: the lifetime peak is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRss:
    """Samples the process RSS in a thread; ``peak_mb`` is the highest value above the start."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def peak_mb(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


def time_call(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls after one warm-up, and the last output."""
    out = call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def load_model(factory: Callable[[], Any], kind: str) -> tuple[Any, float]:
    t0 = time.perf_counter()
    model = factory()
    if callable(getattr(model, "load", None)):
        model.load()
    else:
        make_call(kind, model, 1)()
    return model, time.perf_counter() - t0


# --- int8 -----------------------------------------------------------------------------------------


def torch_modules(obj: Any, depth: int = 3) -> list[tuple[Any, str, Any]]:
    """(holder, attribute, module) for every torch module held by ``obj`` or by objects it holds."""
    import torch

    found: list[tuple[Any, str, Any]] = []
    seen: set[int] = set()

    def walk(o: Any, d: int) -> None:
        if id(o) in seen or d < 0 or not _children(o):
            return
        seen.add(id(o))
        for name, value in _children(o).items():
            if isinstance(value, torch.nn.Module):
                found.append((o, name, value))
            elif (
                _children(value)
                and not isinstance(value, type)
                and type(value).__module__.split(".")[0]
                not in (
                    "torch",
                    "threading",
                    "numpy",
                    "transformers",
                    "tokenizers",
                    "onnxruntime",
                    "PIL",
                )
            ):
                walk(value, d - 1)

    walk(obj, depth)
    return found


def linear_layers_run(model: Any, call: Callable[[], Any]) -> int:
    """How many nn.Linear forward calls one ``call`` makes (0: dynamic quantization cannot help)."""
    import torch

    count = 0

    def hook(*_: Any) -> None:
        nonlocal count
        count += 1

    handles = [
        m.register_forward_hook(hook)
        for _, _, module in torch_modules(model)
        for m in module.modules()
        if isinstance(m, torch.nn.Linear)
    ]
    try:
        call()
    finally:
        for h in handles:
            h.remove()
    return count


def int8_copy(model: Any) -> Any:
    """A shallow copy of ``model`` (and of the objects on the way) whose torch modules are replaced
    by dynamically quantized int8 copies; ``model`` itself is untouched."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    clones: dict[int, Any] = {}

    def clone(o: Any) -> Any:
        if id(o) not in clones:
            clones[id(o)] = copy.copy(o)
        return clones[id(o)]

    top = clone(model)
    for holder, name, module in torch_modules(model):
        # Re-point the chain from the top copy to this holder at copies, then swap the module.
        target = _copy_path(model, top, holder, clone)
        q = quantize_dynamic(copy.deepcopy(module).float().cpu(), {torch.nn.Linear}, dtype=torch.qint8)
        _set_child(target, name, q)
    return top


def _children(o: Any) -> dict[Any, Any]:
    """An object's attributes, or a dict's items (models keep sub-models in both)."""
    if isinstance(o, dict):
        return o
    return vars(o) if hasattr(o, "__dict__") else {}


def _set_child(o: Any, name: Any, value: Any) -> None:
    if isinstance(o, dict):
        o[name] = value
    else:
        setattr(o, name, value)


def _copy_path(orig_top: Any, copy_top: Any, holder: Any, clone: Callable[[Any], Any]) -> Any:
    if holder is orig_top:
        return copy_top
    for name, value in _children(orig_top).items():
        if value is holder or _holds(value, holder, 3):
            child = clone(value)
            _set_child(copy_top, name, child)
            return _copy_path(value, child, holder, clone)
    raise LookupError("holder not reachable")


def _holds(o: Any, target: Any, depth: int) -> bool:
    if depth < 0:
        return False
    return any(v is target or _holds(v, target, depth - 1) for v in _children(o).values())


def output_agreement(kind: str, fp32: Any, int8: Any) -> dict[str, float]:
    import numpy as np

    if kind in ("text", "image"):
        a, b = np.asarray(fp32, dtype=np.float64), np.asarray(int8, dtype=np.float64)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        return {
            "mean_cosine_fp32_int8": round(float(cos.mean()), 4),
            "min_cosine_fp32_int8": round(float(cos.min()), 4),
        }
    if kind == "style_scorer":
        diffs = [abs(x[k] - y[k]) for x, y in zip(fp32, int8, strict=True) for k in x]
        return {"mean_abs_weight_change": round(float(np.mean(diffs)), 4)}
    return {}


def sentiment_accuracy(model: Any, sample: Sequence[tuple[str, int]]) -> float:
    results = model.predict([t for t, _ in sample])
    return sum((r.score > 0) == bool(y) for r, (_, y) in zip(results, sample, strict=True)) / len(sample)


# --- the run --------------------------------------------------------------------------------------


def benchmark_kind(
    kind: str,
    *,
    batch_sizes: Sequence[int],
    repeats: int,
    devices: Iterable[str],
    quantize: bool = True,
    sentiment_sample: int = 200,
    log: Callable[[str], None] = print,
) -> list[Row]:
    from stylerec.conf import stylerec_settings
    from stylerec.ml import registry
    from stylerec.ml.registry import KINDS
    from stylerec.ml.sentiment import TrainedHeadSentiment
    from stylerec.ml.text import TransformerTextEncoder

    class_setting, options_setting = KINDS[kind]
    class_path = getattr(stylerec_settings, class_setting)
    rows: list[Row] = []
    for device in devices:
        if kind == "text" and device == "cpu" and _is_configured(kind, TransformerTextEncoder):
            options = dict(getattr(stylerec_settings, options_setting) or {})
            rows += text_backend_rows(class_path, options, batch_sizes, repeats, quantize, log)
            continue
        if kind == "sentiment" and device == "cpu" and _is_configured(kind, TrainedHeadSentiment):
            options = dict(getattr(stylerec_settings, options_setting) or {})
            rows += sentiment_backend_rows(class_path, options, batch_sizes, repeats, sentiment_sample, log)
            continue
        if device == "cpu":
            factory: Callable[[], Any] = lambda: registry.get(kind)  # noqa: E731 - what the app runs
        else:
            options = dict(getattr(stylerec_settings, options_setting) or {}, device=device)
            cls = stylerec_settings.import_class(class_setting)
            factory = functools.partial(cls, **options)
        cuda = device == "cuda"
        if cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        try:
            with PeakRss() as mem:
                model, load_s = load_model(factory, kind)
                base: list[Row] = []
                sides: list[int | None] = [IMAGE_SIDE.get(kind)]
                if kind == "style_transfer":  # also at the size stored for display
                    from stylerec.ml.base import model_setting

                    sides.append(int(model_setting("STYLED_IMAGE_SIZE")))
                for side in sides:
                    for n in batch_sizes:
                        log(f"  {kind} {device} fp32 batch {n}" + (f" at {side} px" if side else ""))
                        median, _ = time_call(make_call(kind, model, n, side), repeats)
                        base.append(
                            Row(
                                kind,
                                class_path,
                                str(getattr(model, "version", "")),
                                device,
                                "fp16" if cuda and kind in ("image", "text", "style_scorer") else "fp32",
                                n,
                                round(items_per_call(kind, n) / median, 2),
                                round(median * n / items_per_call(kind, n), 4),
                                repeats,
                                round(load_s, 2),
                                input_px=side,
                            )
                        )
        except TypeError as exc:
            rows.append(Row(kind, class_path, "", device, "fp32", 0, note=f"cannot place on {device}: {exc}"))
            continue
        for r in base:
            r.peak_rss_mb = mem.peak_mb
            if cuda:
                import torch

                r.cuda_peak_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if kind == "sentiment" and device == "cpu":
            try:
                sample = labelled_sample(sentiment_sample)
                base[0].accuracy["accuracy_fp32"] = round(sentiment_accuracy(model, sample), 4)
                base[0].accuracy["n"] = len(sample)
            except Exception as exc:  # noqa: BLE001
                base[0].note = f"no held-out accuracy: {exc}"
        rows += base
        if quantize and device == "cpu":
            rows += _int8_rows(kind, model, class_path, batch_sizes, repeats, sentiment_sample, base, log)
    return rows


def _int8_rows(
    kind: str,
    model: Any,
    class_path: str,
    batch_sizes: Sequence[int],
    repeats: int,
    sentiment_sample: int,
    base: list[Row],
    log: Callable[[str], None],
) -> list[Row]:
    version = str(getattr(model, "version", ""))
    try:
        runs = linear_layers_run(model, make_call(kind, model, 2))
    except Exception as exc:  # noqa: BLE001 - a model we cannot hook is reported, not fatal
        return [Row(kind, class_path, version, "cpu", "int8", 0, note=f"int8 not measured: {exc}")]
    if not torch_modules(model) or runs == 0:
        why = "not a torch model" if not torch_modules(model) else "no nn.Linear runs in its forward pass"
        return [Row(kind, class_path, version, "cpu", "int8", 0, note=f"dynamic int8 not applicable: {why}")]
    t0 = time.perf_counter()
    try:
        q = int8_copy(model)
    except Exception as exc:  # noqa: BLE001
        return [Row(kind, class_path, version, "cpu", "int8", 0, note=f"int8 not measured: {exc}")]
    quant_s = time.perf_counter() - t0
    rows = []
    agreement: dict[str, float] = {}
    if kind in ("text", "image", "style_scorer"):
        n = max(batch_sizes)
        fp32_out, int8_out = _joined(make_call(kind, model, n)()), _joined(make_call(kind, q, n)())
        agreement = output_agreement(kind, fp32_out, int8_out)
    elif kind == "sentiment":
        try:
            sample = labelled_sample(sentiment_sample)
            fp32 = base[0].accuracy.get("accuracy_fp32") or sentiment_accuracy(model, sample)
            acc8 = sentiment_accuracy(q, sample)
            agreement = {
                "accuracy_int8": round(acc8, 4),
                "accuracy_delta": round(acc8 - fp32, 4),
                "n": len(sample),
            }
        except Exception as exc:  # noqa: BLE001
            agreement = {}
            log(f"  sentiment int8 accuracy not measured: {exc}")
    for n in batch_sizes:
        log(f"  {kind} cpu int8 batch {n}")
        median, _ = time_call(make_call(kind, q, n), repeats)
        rows.append(
            Row(
                kind,
                class_path,
                version,
                "cpu",
                "int8",
                n,
                round(items_per_call(kind, n) / median, 2),
                round(median * n / items_per_call(kind, n), 4),
                repeats,
                round(quant_s, 2),
                accuracy=dict(agreement),
                note=f"{runs} Linear calls per 2-item forward quantized",
                input_px=IMAGE_SIDE.get(kind),
            )
        )
    return rows


# --- text backends, side by side -------------------------------------------------------------------

FIDELITY_TEXTS = 128


def _is_configured(kind: str, cls: type) -> bool:
    """Whether the host's class for ``kind`` is ``cls`` or a subclass of it."""
    from stylerec.conf import stylerec_settings
    from stylerec.ml.registry import KINDS

    try:
        configured = stylerec_settings.import_class(KINDS[kind][0])
    except Exception:  # noqa: BLE001 - the generic path reports a broken setting
        return False
    return isinstance(configured, type) and issubclass(configured, cls)


def onnx_int8_copy(encoder: Any, folder: str, *, keep_ffn_output: bool = False) -> tuple[Any, int]:
    """A shallow copy of an ONNX-backed ``TransformerTextEncoder`` running a dynamically quantized
    copy of its export (``text.quantize_int8``), written to ``folder``; and how many MatMuls were
    quantized. ``keep_ffn_output`` leaves the feed-forward output projections in fp32 (where int8
    loses the most)."""
    from pathlib import Path

    from stylerec.ml.text import ffn_output_matmuls, open_onnx_session, quantize_int8

    source = encoder.onnx_path()
    keep = ffn_output_matmuls(source) if keep_ffn_output else []
    target = Path(folder) / f"int8{'-ffn-fp32' if keep_ffn_output else ''}.onnx"
    quantized = quantize_int8(source, target, keep=keep)
    threads = encoder._session.get_session_options().intra_op_num_threads
    q = copy.copy(encoder)
    q._session = open_onnx_session(target, threads=threads, device="cpu")
    return q, quantized


def cosine_agreement(reference: Any, other: Any) -> dict[str, float]:
    import numpy as np

    a, b = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {
        "mean_cosine_to_torch_fp32": round(float(cos.mean()), 6),
        "min_cosine_to_torch_fp32": round(float(cos.min()), 6),
    }


def text_backend_rows(
    class_path: str,
    options: dict[str, Any],
    batch_sizes: Sequence[int],
    repeats: int,
    quantize: bool,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """The text encoder's backends measured side by side (module docstring, "text backends")."""
    import tempfile

    from stylerec.ml.text import TransformerTextEncoder

    options = {k: v for k, v in options.items() if k != "backend"}
    # (label, backend, precision, encoder, load_s, peak_rss_mb, note)
    candidates: list[tuple[str, str, str, Any, float | None, float | None, str]] = []
    for backend in ("torch", "onnx"):
        encoder = TransformerTextEncoder(**options, backend=backend)
        fresh = backend == "onnx" and not encoder.onnx_path().is_file()
        with PeakRss() as mem:
            t0 = time.perf_counter()
            encoder.load()
            load_s = time.perf_counter() - t0
        note = "exported in this run (load_s includes the export); " if fresh else ""
        if encoder.backend != backend:
            note += f"{backend} unavailable, ran {encoder.backend}; "
        candidates.append((f"{backend} fp32", encoder.backend, "fp32", encoder, load_s, mem.peak_mb, note))
    torch_fp32, onnx_fp32 = candidates[0][3], candidates[1][3]
    tmp = tempfile.TemporaryDirectory()
    if quantize:
        runs = linear_layers_run(torch_fp32, make_call("text", torch_fp32, 2))
        t0 = time.perf_counter()
        candidates.append(
            (
                "torch int8",
                "torch",
                "int8",
                int8_copy(torch_fp32),
                time.perf_counter() - t0,
                None,
                f"torch.ao dynamic int8, {runs} Linear calls per 2-item forward quantized; ",
            )
        )
        if onnx_fp32.backend == "onnx":
            for keep in (False, True):
                t0 = time.perf_counter()
                q, n = onnx_int8_copy(onnx_fp32, tmp.name, keep_ffn_output=keep)
                what = f"onnxruntime dynamic int8 per channel, {n} MatMuls"
                what += " (feed-forward output projections kept fp32)" if keep else ""
                candidates.append(
                    ("onnx int8", "onnx", "int8", q, time.perf_counter() - t0, None, what + "; ")
                )
    try:
        fidelity_texts = sample_texts(FIDELITY_TEXTS)
        reference = torch_fp32.encode(fidelity_texts)
        agreement = [
            {
                **cosine_agreement(reference, c[3].encode(fidelity_texts)),
                "fidelity_texts": len(fidelity_texts),
            }
            for c in candidates
        ]
        return side_by_side_rows("text", class_path, candidates, agreement, batch_sizes, repeats, log)
    finally:
        tmp.cleanup()


Candidate = tuple[str, str, str, Any, float | None, float | None, str]
# (label, backend, precision, model, load_s, peak_rss_mb, note)


def side_by_side_rows(
    kind: str,
    class_path: str,
    candidates: Sequence[Candidate],
    accuracy: Sequence[dict[str, float]],
    batch_sizes: Sequence[int],
    repeats: int,
    log: Callable[[str], None],
) -> list[Row]:
    """Every candidate timed in the same rounds (module docstring, "text backends"): per batch size
    one warm-up call each, then ``repeats`` rounds in which each candidate runs once in turn; each
    row's note gives its median against the first candidate's."""
    rows: list[Row] = []
    for n in batch_sizes:
        log(f"  {kind} cpu batch {n}: {', '.join(c[0] for c in candidates)} side by side")
        calls = [make_call(kind, c[3], n) for c in candidates]
        for call in calls:  # warm-up
            call()
        times: list[list[float]] = [[] for _ in candidates]
        for _ in range(repeats):
            for i, call in enumerate(calls):
                t0 = time.perf_counter()
                call()
                times[i].append(time.perf_counter() - t0)
        medians = [statistics.median(t) for t in times]
        reference = candidates[0][0]
        for (_, backend, precision, model, load_seconds, peak, note), median, agree in zip(
            candidates, medians, accuracy, strict=True
        ):
            rows.append(
                Row(
                    kind,
                    class_path,
                    str(model.version),
                    "cpu",
                    precision,
                    n,
                    round(items_per_call(kind, n) / median, 2),
                    round(median * n / items_per_call(kind, n), 4),
                    repeats,
                    None if load_seconds is None else round(load_seconds, 2),
                    peak,
                    accuracy=dict(agree),
                    note=f"{note}x{medians[0] / median:.2f} vs {reference} (side by side, same rounds)",
                    backend=backend,
                )
            )
    return rows


def sentiment_backend_rows(
    class_path: str,
    options: dict[str, Any],
    batch_sizes: Sequence[int],
    repeats: int,
    sample_size: int,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """The trained sentiment head's encoder run by torch, by onnxruntime and by onnxruntime in
    dynamic int8 (``EncoderClassifier``), timed side by side; accuracy of each on the same held-out
    labelled reviews, and its change against torch fp32 (what decides ``DEFAULT_CPU_PRECISION``)."""
    from stylerec.ml.sentiment import TrainedHeadSentiment

    options = {k: v for k, v in options.items() if k not in ("backend", "precision")}
    candidates: list[Candidate] = []
    for backend, precision in (("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8")):
        model = TrainedHeadSentiment(**options, backend=backend, precision=precision)
        with PeakRss() as mem:
            t0 = time.perf_counter()
            model.predict(["warm up"])  # loads the encoder (and makes the export the first time)
            load_s = time.perf_counter() - t0
        ran = {enc.backend for enc in model._encoders.values()} or {backend}
        note = "" if ran == {backend} else f"{backend} unavailable, ran {', '.join(sorted(ran))}; "
        candidates.append(
            (f"{backend} {precision}", ",".join(sorted(ran)), precision, model, load_s, mem.peak_mb, note)
        )
    sample = labelled_sample(sample_size)
    accuracy: list[dict[str, float]] = []
    for c in candidates:
        accuracy.append({"accuracy": round(sentiment_accuracy(c[3], sample), 4), "n": len(sample)})
    for agree in accuracy:
        agree["accuracy_delta"] = round(agree["accuracy"] - accuracy[0]["accuracy"], 4)
    return side_by_side_rows("sentiment", class_path, candidates, accuracy, batch_sizes, repeats, log)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        # Other work on the machine slows every number down; the load says how much there was.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        info.update(
            torch=torch.__version__,
            torch_threads=torch.get_num_threads(),
            cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        )
    except ImportError:
        pass
    try:
        import onnxruntime

        info.update(onnxruntime=onnxruntime.__version__, onnx_providers=onnxruntime.get_available_providers())
    except ImportError:
        pass
    return info


# int8 counts toward a goal only where it keeps quality (issue #12): a sentiment model's accuracy
# within 0.005 of fp32's on the same reviews, an encoder's vectors within cosine 0.99 of fp32's on
# every fidelity text.
INT8_MAX_ACCURACY_LOSS = 0.005
INT8_MIN_COSINE = 0.99


def keeps_quality(row: Row) -> bool:
    if row.precision == "fp32":
        return True
    if row.precision != "int8":
        return False
    if "accuracy_delta" in row.accuracy:
        return row.accuracy["accuracy_delta"] >= -INT8_MAX_ACCURACY_LOSS
    if "min_cosine_to_torch_fp32" in row.accuracy:
        return row.accuracy["min_cosine_to_torch_fp32"] >= INT8_MIN_COSINE
    return False


def summarise(rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Best CPU throughput per kind against its goal, of fp32 and of the int8 rows that keep
    quality (``keeps_quality``)."""
    out: dict[str, dict[str, Any]] = {}
    for kind, goal in GOALS.items():
        cpu = [
            r
            for r in rows
            if r.kind == kind
            and r.device == "cpu"
            and keeps_quality(r)
            and r.items_per_s
            and r.input_px in (None, IMAGE_SIDE.get(kind))  # the goals are set at these sizes
        ]
        if cpu:
            best = max(cpu, key=lambda r: r.items_per_s or 0)
            out[kind] = {
                "goal_items_per_s": goal,
                "best_items_per_s": best.items_per_s,
                "at_batch_size": best.batch_size,
                "input_px": best.input_px,
                "met": bool(best.items_per_s and best.items_per_s >= goal),
                "precision": best.precision,
            }
            if best.backend:
                out[kind]["backend"] = best.backend
    return out


def rows_as_dicts(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def format_table(rows: Sequence[Row]) -> str:
    head = (
        "kind",
        "device",
        "prec",
        "px",
        "batch",
        "items/s",
        "s/batch",
        "load s",
        "peak MB",
        "accuracy / note",
    )
    lines = [head]
    for r in rows:
        acc = ", ".join(f"{k}={v}" for k, v in r.accuracy.items())
        lines.append(
            (
                r.kind,
                r.device,
                f"{r.precision} ({r.backend})" if r.backend else r.precision,
                str(r.input_px or "-"),
                str(r.batch_size or "-"),
                "-" if r.items_per_s is None else f"{r.items_per_s:.1f}",
                "-" if r.median_batch_s is None else f"{r.median_batch_s:.3f}",
                "-" if r.load_s is None else f"{r.load_s:.2f}",
                "-"
                if r.peak_rss_mb is None
                else f"{r.peak_rss_mb:.0f}"
                + ("" if r.cuda_peak_mb is None else f" (cuda {r.cuda_peak_mb:.0f})"),
                "; ".join(x for x in (acc, r.note) if x),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
