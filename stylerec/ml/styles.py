"""Style scorers: a product's image and text to ``{style slug: weight in [0, 1]}``.

``PrototypeStyleScorer`` (default, offline) needs no joint image-text model: it compares the product
photo with each style's reference image(s) through the image encoder, and the product text with the
style's name, description and keywords through the text encoder, then calibrates (see its doc).

``ClipStyleScorer`` is zero-shot: CLIP puts the product photo and each style's description in one
space, so styles need no reference image.

Both return, per product, weights over the given styles that sum to 1 (a product's "style mix").
With a single active style that style gets 1.0.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stylerec.ml.base import StyleSpec

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image


def style_prompt(style: StyleSpec) -> str:
    """The text that stands for a style: its name, description and keywords."""
    parts = [
        style.name.strip(),
        style.description.strip(),
        ", ".join(k.strip() for k in style.keywords if k.strip()),
    ]
    return ". ".join(p for p in parts if p)


def reference_images(style: StyleSpec) -> list[Image.Image]:
    """A style's reference image(s): ``reference_image`` may be one PIL image or a sequence."""
    ref = style.reference_image
    if ref is None:
        return []
    if isinstance(ref, list | tuple):
        return [r for r in ref if r is not None]
    return [ref]


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def standardise_rows(sims: np.ndarray, min_std: float) -> np.ndarray:
    """Per row (product), similarities as z-scores over the styles that have a value (NaN = none).

    Encoders differ in their cosine ranges (EfficientNet features are non-negative, so its cosines
    sit around 0.3-0.9; MiniLM's around 0-0.6); z-scores put both on one scale. ``min_std`` stops
    a row whose styles are all about equally (dis)similar from having its noise blown up."""
    import numpy as np

    out = np.full(sims.shape, np.nan, dtype=np.float64)
    for i, row in enumerate(sims):
        have = ~np.isnan(row)
        if have.sum() == 0:
            continue
        vals = row[have]
        out[i, have] = (vals - vals.mean()) / max(float(vals.std()), min_std)
    return out


def _image_key(img: Image.Image) -> str:
    return hashlib.blake2b(img.tobytes(), digest_size=16).hexdigest() + f"{img.size}{img.mode}"


class PrototypeStyleScorer:
    """Style weights from image prototypes and text similarity, calibrated by a softmax.

    For product *i* and style *s*:

    1. ``img[i, s]`` = cosine(product image vector, mean of the style's reference image vectors),
       only where the style has a reference image and the product an image;
    2. ``txt[i, s]`` = cosine(product text vector, vector of the style's name + description +
       keywords), only where the product has text;
    3. each is standardised over the styles (z-scores per product, ``min_std`` floor), combined as
       the weighted mean ``image_weight * img + (1 - image_weight) * txt`` of whichever exist;
    4. ``weights = softmax(combined / temperature)`` over the styles; a style with no signal at all
       gets the lowest combined score of its row. A product with neither image nor text gets a
       uniform mix.

    With the default ``temperature=0.5`` a style one standard deviation above the others gets about
    e^2 = 7x their weight. Options: ``image_encoder`` / ``text_encoder`` (objects; default the
    configured ``registry.get("image")`` / ``registry.get("text")``), ``image_weight``,
    ``temperature``, ``min_std``.
    """

    MAX_CACHED = 2000  # style prototypes kept per process

    def __init__(
        self,
        image_encoder: Any = None,
        text_encoder: Any = None,
        image_weight: float = 0.5,
        temperature: float = 0.5,
        min_std: float = 0.05,
    ) -> None:
        if not 0.0 <= image_weight <= 1.0:
            raise ValueError("image_weight must be between 0 and 1")
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self._image_encoder = image_encoder
        self._text_encoder = text_encoder
        # The configured encoders (the pipeline's own) unless the options bring others.
        self._shares_pipeline_encoders = image_encoder is None and text_encoder is None
        self.image_weight = image_weight
        self.temperature = temperature
        self.min_std = min_std
        self._prototypes: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def image_encoder(self) -> Any:
        if self._image_encoder is None:
            from stylerec.ml import registry

            self._image_encoder = registry.get("image")
        return self._image_encoder

    @property
    def text_encoder(self) -> Any:
        if self._text_encoder is None:
            from stylerec.ml import registry

            self._text_encoder = registry.get("text")
        return self._text_encoder

    @property
    def version(self) -> str:
        return (
            f"prototype:v1:img={self.image_encoder.version}:txt={self.text_encoder.version}"
            f":w={self.image_weight}:t={self.temperature}"
        )

    def _image_prototype(self, style: StyleSpec) -> np.ndarray | None:
        import numpy as np

        refs = reference_images(style)
        if not refs:
            return None
        key = ("img", "|".join(_image_key(r) for r in refs))
        with self._lock:
            proto = self._prototypes.get(key)
        if proto is None:
            vecs = self.image_encoder.encode(refs)
            mean = vecs.mean(axis=0)
            proto = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
            with self._lock:
                if len(self._prototypes) > self.MAX_CACHED:  # styles were edited many times
                    self._prototypes.clear()
                self._prototypes[key] = proto
        return proto

    def _text_prototypes(self, styles: Sequence[StyleSpec]) -> np.ndarray:
        import numpy as np

        prompts = [style_prompt(s) for s in styles]
        with self._lock:
            found: dict[str, Any] = {p: self._prototypes.get(("txt", p)) for p in prompts}
        missing = [p for p, v in found.items() if v is None]
        if missing:
            vecs = self.text_encoder.encode(missing)
            with self._lock:
                for p, v in zip(missing, vecs, strict=True):
                    found[p] = self._prototypes[("txt", p)] = np.asarray(v, dtype=np.float32)
        return np.stack([found[p] for p in prompts])

    @property
    def reads_stored_vectors(self) -> bool:
        """Whether the product vectors the pipeline stores (made by the configured image and text
        encoders) are the ones this scorer would compute: then ``score_vectors`` reuses them
        instead of encoding every image and text again."""
        return self._shares_pipeline_encoders

    def encode(
        self, images: Sequence[Image.Image | None], texts: Sequence[str]
    ) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        """Image and text vectors of the items (None where a side is missing)."""
        image_vectors: list[np.ndarray | None] = [None] * len(images)
        text_vectors: list[np.ndarray | None] = [None] * len(texts)
        with_image = [i for i, img in enumerate(images) if img is not None]
        if with_image:
            for i, vec in zip(
                with_image, self.image_encoder.encode([images[i] for i in with_image]), strict=True
            ):
                image_vectors[i] = vec
        with_text = [i for i, t in enumerate(texts) if t and t.strip()]
        if with_text:
            for i, vec in zip(
                with_text, self.text_encoder.encode([texts[i] for i in with_text]), strict=True
            ):
                text_vectors[i] = vec
        return image_vectors, text_vectors

    def similarities(
        self,
        image_vectors: Sequence[np.ndarray | None],
        text_vectors: Sequence[np.ndarray | None],
        styles: Sequence[StyleSpec],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw cosine matrices (products x styles) for image and text; NaN where a side is missing."""
        import numpy as np

        n, k = len(image_vectors), len(styles)
        img_sims = np.full((n, k), np.nan)
        txt_sims = np.full((n, k), np.nan)
        protos = [self._image_prototype(s) for s in styles]
        with_image = [i for i, vec in enumerate(image_vectors) if vec is not None]
        if with_image and any(p is not None for p in protos):
            vecs = np.stack([np.asarray(image_vectors[i], dtype=np.float32) for i in with_image])
            for j, proto in enumerate(protos):
                if proto is not None:
                    img_sims[with_image, j] = vecs @ proto
        with_text = [i for i, vec in enumerate(text_vectors) if vec is not None]
        if with_text:
            vecs = np.stack([np.asarray(text_vectors[i], dtype=np.float32) for i in with_text])
            txt_sims[with_text, :] = vecs @ self._text_prototypes(styles).T
        return img_sims, txt_sims

    def score(
        self, images: Sequence[Image.Image | None], texts: Sequence[str], styles: Sequence[StyleSpec]
    ) -> list[dict[str, float]]:
        if not styles or not _check_batch(images, texts):
            return [{} for _ in images]
        return self.score_vectors(*self.encode(images, texts), styles)

    def score_vectors(
        self,
        image_vectors: Sequence[np.ndarray | None],
        text_vectors: Sequence[np.ndarray | None],
        styles: Sequence[StyleSpec],
    ) -> list[dict[str, float]]:
        """``score`` from the items' image and text vectors (unit vectors of the configured
        encoders; None where a side is missing)."""
        import numpy as np

        if not styles:
            return [{} for _ in image_vectors]
        img_sims, txt_sims = self.similarities(image_vectors, text_vectors, styles)
        img_z = standardise_rows(img_sims, self.min_std)
        txt_z = standardise_rows(txt_sims, self.min_std)
        w_img = np.where(np.isnan(img_z), 0.0, self.image_weight)
        w_txt = np.where(np.isnan(txt_z), 0.0, 1.0 - self.image_weight)
        total = w_img + w_txt
        combined = np.where(
            total > 0,
            (w_img * np.nan_to_num(img_z) + w_txt * np.nan_to_num(txt_z)) / np.where(total > 0, total, 1.0),
            np.nan,
        )
        for row in combined:  # a style with no signal ranks with the least similar ones
            have = ~np.isnan(row)
            row[~have] = row[have].min() if have.any() else 0.0
        weights = softmax_rows(combined / self.temperature)
        slugs = [s.slug for s in styles]
        return [dict(zip(slugs, (float(w) for w in row), strict=True)) for row in weights]


class ClipStyleScorer:
    """Zero-shot style weights: CLIP similarity between the product and each style's prompt.

    ``logits[i, s] = scale * cosine(product, prompt_s)`` where the product side is the image
    vector, or, when ``text_weight`` > 0 and the product has text, the normalised mix
    ``(1 - text_weight) * image + text_weight * text`` of its CLIP image and text vectors. ``scale``
    is the checkpoint's learned ``logit_scale`` (100 for OpenAI CLIP) unless ``temperature`` is
    given (``scale = 1 / temperature``); weights are the softmax over styles, as in CLIP's
    zero-shot classification. The prompt is ``prompt_template`` filled with the style's name and
    its description/keywords text.

    Options: ``model`` (hub id or local directory; shares the weights with ``ClipImageEncoder`` of
    the same model), ``device``, ``text_weight`` (default 0.0), ``temperature``, ``prompt_template``.
    """

    def __init__(
        self,
        model: str = "openai/clip-vit-base-patch32",
        device: str | None = None,
        text_weight: float = 0.0,
        temperature: float | None = None,
        prompt_template: str = "a photo of a product in {name} style. {text}",
        batch_size: int = 32,
    ) -> None:
        if not 0.0 <= text_weight <= 1.0:
            raise ValueError("text_weight must be between 0 and 1")
        self.model = model
        self._device_option = device
        self.text_weight = text_weight
        self.temperature = temperature
        self.prompt_template = prompt_template
        self.batch_size = batch_size
        self.version = f"clip-zero-shot:{model}:v1:tw={text_weight}:t={temperature}"
        self._parts: Any = None

    @property
    def parts(self) -> Any:
        if self._parts is None:
            from stylerec.ml.vision import load_clip

            self._parts = load_clip(self.model, self._device_option)
        return self._parts

    def prompt(self, style: StyleSpec) -> str:
        text = ". ".join(p for p in (style.description.strip(), ", ".join(style.keywords)) if p)
        return self.prompt_template.format(name=style.name, text=text).strip()

    def _normalised(self, x: Any) -> np.ndarray:
        import numpy as np

        arr = x.float().cpu().numpy()
        return arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)

    def score(
        self, images: Sequence[Image.Image | None], texts: Sequence[str], styles: Sequence[StyleSpec]
    ) -> list[dict[str, float]]:
        import numpy as np
        import torch

        if not styles or not _check_batch(images, texts):
            return [{} for _ in images]
        parts = self.parts
        dim = int(parts.model.config.projection_dim)
        with torch.inference_mode():
            prompts = self._normalised(parts.text_features([self.prompt(s) for s in styles]))
            product = np.zeros((len(images), dim))
            with_image = [i for i, img in enumerate(images) if img is not None]
            for start in range(0, len(with_image), self.batch_size):
                idx = with_image[start : start + self.batch_size]
                product[idx] = self._normalised(parts.image_features([images[i] for i in idx]))
            text_w = np.array([self.text_weight if t and t.strip() else 0.0 for t in texts], dtype=np.float64)
            text_w[[i for i, img in enumerate(images) if img is None]] = 1.0  # text is all there is
            with_text = [i for i, t in enumerate(texts) if t and t.strip() and text_w[i] > 0]
            if with_text:
                text_vecs = np.zeros((len(images), dim))
                text_vecs[with_text] = self._normalised(parts.text_features([texts[i] for i in with_text]))
                product = (1.0 - text_w)[:, None] * product + text_w[:, None] * text_vecs
            product /= np.maximum(np.linalg.norm(product, axis=1, keepdims=True), 1e-12)
            scale = (
                1.0 / self.temperature if self.temperature else float(parts.model.logit_scale.exp().item())
            )
        weights = softmax_rows(scale * (product @ prompts.T))
        slugs = [s.slug for s in styles]
        return [dict(zip(slugs, (float(w) for w in row), strict=True)) for row in weights]


def _check_batch(images: Sequence[Any], texts: Sequence[str]) -> bool:
    """True when there is something to score; one text per image or a clear error."""
    if len(images) != len(texts):
        raise ValueError(f"got {len(images)} images but {len(texts)} texts")
    return bool(images)
