"""Small, fast stand-ins for the model classes, configured by import string like the real ones.

They follow the protocols of ``stylerec.ml.base`` and are deterministic, so a test can compute
the expected artifact itself. Options make them misbehave on purpose:

* ``log_file``: append one line per batch call ("<pid> <kind> <n>"), so tests (and worker
  subprocesses) can count model calls;
* ``hold_file`` / ``started_file``: while ``hold_file`` exists, a call writes ``started_file`` and
  waits, so a test can kill a worker mid-task;
* an image whose top-left pixel is magenta (255, 0, 255) makes the image models raise
  ``ImageInputError``, as a real model does on an input it cannot use.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from stylerec.ml.base import ImageInputError, Mention, SentimentResult, StyleSpec
from stylerec.ml.dims import IMAGE_DIM, TEXT_DIM

POISON = (255, 0, 255)


class _Fake:
    kind = "fake"

    def __init__(
        self, version: str = "v1", log_file: str = "", hold_file: str = "", started_file: str = ""
    ) -> None:
        self.version = f"fake-{self.kind}:{version}"
        self.log_file, self.hold_file, self.started_file = log_file, hold_file, started_file

    def _called(self, n: int) -> None:
        if self.log_file:
            with open(self.log_file, "a") as fh:
                fh.write(f"{os.getpid()} {self.kind} {n}\n")
        if self.hold_file and os.path.exists(self.hold_file):
            Path(self.started_file).write_text(str(os.getpid()))
            deadline = time.monotonic() + 60
            while os.path.exists(self.hold_file) and time.monotonic() < deadline:
                time.sleep(0.05)


def text_vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vec = np.random.default_rng(seed).standard_normal(TEXT_DIM).astype(np.float32)
    return vec / np.linalg.norm(vec)


def image_vector(image: Image.Image) -> np.ndarray:
    if image.getpixel((0, 0)) == POISON:
        raise ImageInputError("the fake model cannot read magenta images")
    small = np.asarray(image.convert("RGB").resize((16, 16)), dtype=np.float32).ravel() + 1.0
    vec = np.zeros(IMAGE_DIM, dtype=np.float32)
    vec[: small.size] = small
    return vec / np.linalg.norm(vec)


class FakeTextEncoder(_Fake):
    kind = "text"
    dim = TEXT_DIM

    def encode(self, texts: list[str]) -> np.ndarray:
        self._called(len(texts))
        return np.stack([text_vector(t) for t in texts]) if texts else np.zeros((0, TEXT_DIM), np.float32)


class FakeImageEncoder(_Fake):
    kind = "image"
    dim = IMAGE_DIM

    def encode(self, images: list[Image.Image]) -> np.ndarray:
        self._called(len(images))
        return np.stack([image_vector(img) for img in images])


def style_score(image: Image.Image | None, text: str, style: StyleSpec) -> float:
    return round((0.7 if style.slug in text.lower() else 0.1) + (0.2 if image is not None else 0.0), 4)


class FakeStyleScorer(_Fake):
    kind = "scorer"

    def score(self, images, texts, styles):
        self._called(len(texts))
        for image in images:
            if image is not None and image.getpixel((0, 0)) == POISON:
                raise ImageInputError("the fake scorer cannot read magenta images")
        return [
            {s.slug: style_score(img, text, s) for s in styles}
            for img, text in zip(images, texts, strict=True)
        ]


class FakeStyleTransfer(_Fake):
    kind = "transfer"

    def stylize(self, images: list[Image.Image], style: StyleSpec) -> list[Image.Image]:
        self._called(len(images))
        out = []
        for image in images:
            if image.getpixel((0, 0)) == POISON:
                raise ImageInputError("the fake transfer cannot read magenta images")
            out.append(ImageOps.invert(image.convert("RGB")))
        return out


def sentiment_of(text: str) -> SentimentResult:
    lowered = text.lower()
    if any(word in lowered for word in ("terrible", "bad", "awful")):
        return SentimentResult(score=-0.8, label="negative", confidence=0.9)
    if any(word in lowered for word in ("great", "love", "perfect")):
        return SentimentResult(score=0.8, label="positive", confidence=0.9)
    return SentimentResult(score=0.0, label="neutral", confidence=0.5)


class FakeSentiment(_Fake):
    kind = "sentiment"

    def predict(self, texts: list[str]) -> list[SentimentResult]:
        self._called(len(texts))
        return [sentiment_of(t) for t in texts]


class FakePreferences(_Fake):
    kind = "preferences"

    def extract(self, texts: list[str], styles: list[StyleSpec]) -> list[list[Mention]]:
        self._called(len(texts))
        return [
            [
                Mention(kind="style", key=s.slug, polarity=-1 if f"hate {s.slug}" in t.lower() else 1)
                for s in styles
                if s.slug in t.lower()
            ]
            for t in texts
        ]


def fake_stylerec(log_file: str = "", **extra) -> dict:
    """A STYLEREC settings dict that uses the fakes (each with ``log_file``), plus ``extra``."""
    options = {"log_file": log_file} if log_file else {}
    config = {
        "TEXT_ENCODER": "tests.pipeline.fakes.FakeTextEncoder",
        "TEXT_ENCODER_OPTIONS": dict(options),
        "SENTIMENT_MODEL": "tests.pipeline.fakes.FakeSentiment",
        "SENTIMENT_MODEL_OPTIONS": dict(options),
        "PREFERENCE_EXTRACTOR": "tests.pipeline.fakes.FakePreferences",
        "PREFERENCE_EXTRACTOR_OPTIONS": dict(options),
        "IMAGE_ENCODER": "tests.pipeline.fakes.FakeImageEncoder",
        "IMAGE_ENCODER_OPTIONS": dict(options),
        "STYLE_SCORER": "tests.pipeline.fakes.FakeStyleScorer",
        "STYLE_SCORER_OPTIONS": dict(options),
        "STYLE_TRANSFER": "tests.pipeline.fakes.FakeStyleTransfer",
        "STYLE_TRANSFER_OPTIONS": dict(options),
        "BATCH_SIZE": 4,
        "STYLED_IMAGE_SIZE": 64,
    }
    config.update(extra)
    return config


def model_calls(log_file: str | Path, kind: str | None = None) -> list[tuple[int, str, int]]:
    """The calls logged by the fakes: (pid, kind, batch size)."""
    path = Path(log_file)
    if not path.exists():
        return []
    calls = [(int(pid), k, int(n)) for pid, k, n in (line.split() for line in path.read_text().splitlines())]
    return [c for c in calls if kind is None or c[1] == kind]


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (96, 128)) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()
