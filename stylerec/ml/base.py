"""Shared pieces of the model layer: device choice, versions, protocols.

Heavy libraries (torch, transformers, onnxruntime) are imported inside functions so that importing
stylerec stays fast; a worker pays for them once, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image


class ModelLoadError(RuntimeError):
    """A configured model cannot be loaded (missing files, no hub access, wrong format)."""


class ImageInputError(ValueError):
    """An image given to the model layer cannot be used (not an image, corrupt, too big)."""


def model_setting(name: str) -> Any:
    """A STYLEREC setting read at call time, or its default when Django settings are not
    configured (the ML layer also runs in plain scripts and notebooks)."""
    from django.conf import settings

    from stylerec.conf import DEFAULTS, stylerec_settings

    if not settings.configured:
        return DEFAULTS[name]
    return getattr(stylerec_settings, name)


def model_dir() -> Path:
    """STYLEREC['MODEL_DIR'], or ``~/.cache/stylerec/models`` when it is None: where trained and
    unpacked models are kept."""
    configured = model_setting("MODEL_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "stylerec" / "models"


def select_device(preference: str = "auto") -> str:
    """'cuda' when asked for or when available under 'auto', else 'cpu'."""
    if preference == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if preference == "cuda":
        raise RuntimeError("STYLEREC['DEVICE'] is 'cuda' but torch sees no CUDA device")
    return "cpu"


@dataclass(frozen=True)
class SentimentResult:
    score: float  # in [-1, 1]: -1 very negative, +1 very positive
    label: str  # "positive" | "negative" | "neutral"
    confidence: float  # in [0, 1]


@dataclass(frozen=True)
class Mention:
    """A style or aspect a text talks about, with its polarity (+1 likes it, -1 dislikes it)."""

    kind: str  # "style" | "aspect"
    key: str  # style slug or aspect name (fit, material, colour, price, quality, comfort, size)
    polarity: int  # +1 or -1
    evidence: str = ""  # the words that triggered it


@dataclass(frozen=True)
class StyleSpec:
    """What the model layer needs to know of a Style row (the ORM stays outside)."""

    slug: str
    name: str
    description: str = ""  # en + zh description / prompt text
    keywords: tuple[str, ...] = ()  # words in zh and en that name the style
    reference_image: Any = None  # PIL.Image or None
    transfer_preset: int | None = None  # index into a fixed-style network, if any
    strength: float = 1.0
    preserve_color: bool = False


@runtime_checkable
class TextEncoder(Protocol):
    version: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...  # (n, dim) float32, L2-normalised


@runtime_checkable
class SentimentModel(Protocol):
    version: str

    def predict(self, texts: list[str]) -> list[SentimentResult]: ...


@runtime_checkable
class PreferenceExtractor(Protocol):
    version: str

    def extract(self, texts: list[str], styles: list[StyleSpec]) -> list[list[Mention]]: ...


@runtime_checkable
class ImageEncoder(Protocol):
    version: str
    dim: int

    def encode(self, images: list[Image.Image]) -> np.ndarray: ...  # (n, dim) float32, L2-normalised


@runtime_checkable
class StyleScorer(Protocol):
    version: str

    def score(
        self, images: list[Image.Image], texts: list[str], styles: list[StyleSpec]
    ) -> list[dict[str, float]]: ...  # per item: {style slug: weight in [0, 1]}


@runtime_checkable
class StyleTransfer(Protocol):
    version: str

    def stylize(self, images: list[Image.Image], style: StyleSpec) -> list[Image.Image]: ...
