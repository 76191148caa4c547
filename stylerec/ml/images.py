"""Safe image loading: anything a store uploads becomes an RGB ``PIL.Image`` or a clear error.

Every model in ``stylerec.ml`` takes RGB images; this module is the one place that turns bytes,
paths, file objects or PIL images of any mode into them. What it guards against and how:

* **size**: more than ``MAX_IMAGE_BYTES`` bytes, or more than ``MAX_IMAGE_PIXELS`` pixels (read from
  the header, before any pixel is decoded: a decompression bomb never reaches memory). Pillow's own
  global limit is set from the same setting, so other Pillow code in the process is guarded too.
* **broken files**: non-images (even with an image extension), truncated or corrupt data are
  decoded fully here (``Image.load``), so the error is raised now, as ``ImageInputError``, and not
  later inside a model.
* **memory of a batch**: ``open_image`` reads and checks the header only (``Image.size``, no pixel
  decoded) and ``decode_image`` decodes later, so the artifact engine can size a model call by the
  pixels it will decode (``STYLEREC["MAX_BATCH_PIXELS"]``) before decoding any of them.
* **modes**: CMYK, palette with transparency, 16/32-bit integer and float greyscale, 1-bit,
  alpha (composited on white, the usual product-photo background), LAB/HSV/YCbCr.
* **animations**: the first frame is used.
* **EXIF orientation** is applied, so phone photos are upright; broken EXIF is ignored.

Tiny images (even 1x1) are valid; each model resizes to its own input size.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageOps, UnidentifiedImageError

from stylerec.ml.base import ImageInputError, model_setting

ImageSource = bytes | bytearray | memoryview | str | os.PathLike | IO[bytes] | Image.Image

WHITE = (255, 255, 255)


def load_image(
    source: ImageSource, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> Image.Image:
    """An RGB image from bytes, a path, a binary file object or a PIL image.

    Raises ``ImageInputError`` for anything that is not a usable image. Limits default to the
    ``MAX_IMAGE_BYTES`` and ``MAX_IMAGE_PIXELS`` settings."""
    max_pixels = int(max_pixels if max_pixels is not None else model_setting("MAX_IMAGE_PIXELS"))
    if isinstance(source, Image.Image):
        _check_pixels(source.size, max_pixels)
        try:
            return to_rgb(source)
        except OSError as exc:  # a lazily opened image whose data turns out truncated
            raise ImageInputError(f"The image data is truncated or corrupt: {exc}") from exc
    return open_image(source, max_bytes=max_bytes, max_pixels=max_pixels).decode()


class OpenedImage:
    """An image file whose header was read and checked, no pixel decoded yet (``open_image``).

    It keeps the file's bytes (at most ``MAX_IMAGE_BYTES``), not a PIL image: a PIL image keeps its
    pixels once loaded, so a batch of opened images would end up holding every decoded one."""

    __slots__ = ("data", "size", "image_format", "max_pixels")

    def __init__(self, data: bytes, size: tuple[int, int], image_format: str | None, max_pixels: int) -> None:
        self.data, self.size, self.image_format, self.max_pixels = data, size, image_format, max_pixels

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]

    def decode(self) -> Image.Image:
        """The RGB image, decoded now (``ImageInputError`` when the data is truncated or corrupt)."""
        Image.MAX_IMAGE_PIXELS = self.max_pixels
        with _image_errors(self.max_pixels):
            img = Image.open(io.BytesIO(self.data))
            _check_pixels(img.size, self.max_pixels)
            img.seek(0)  # first frame of an animation
            img.load()  # decode now: truncated or corrupt data fails here, not in a model
            return to_rgb(img)

    def __repr__(self) -> str:
        return f"<OpenedImage {self.image_format} {self.size[0]}x{self.size[1]}, {len(self.data):,} bytes>"


def open_image(
    source: ImageSource, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> OpenedImage:
    """An image read (at most ``MAX_IMAGE_BYTES``) and checked from its header (a format Pillow
    reads, at most ``MAX_IMAGE_PIXELS``) without decoding a pixel; ``decode_image`` decodes it.
    Its ``pixels`` are what decoding will cost."""
    max_bytes = int(max_bytes if max_bytes is not None else model_setting("MAX_IMAGE_BYTES"))
    max_pixels = int(max_pixels if max_pixels is not None else model_setting("MAX_IMAGE_PIXELS"))
    data = _read_bytes(source, max_bytes)
    if not data:
        raise ImageInputError("The image file is empty.")
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; we check ourselves below with
    # a clear message, and keep Pillow's guard in step for any other Pillow use in this process.
    Image.MAX_IMAGE_PIXELS = max_pixels
    with _image_errors(max_pixels):
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            _check_pixels(img.size, max_pixels)
            size, image_format = img.size, img.format
    return OpenedImage(data, size, image_format, max_pixels)


def decode_image(image: OpenedImage | Image.Image) -> Image.Image:
    """The RGB image of an ``open_image`` result (or of a PIL image), decoded now."""
    return image.decode() if isinstance(image, OpenedImage) else load_image(image)


def image_pixels(image: OpenedImage | Image.Image | None) -> int:
    """How many pixels decoding ``image`` costs (0 for None), from its header."""
    if image is None:
        return 0
    width, height = image.size
    return int(width) * int(height)


@contextlib.contextmanager
def _image_errors(max_pixels: int) -> Iterator[None]:
    """Pillow's ways of saying "bad image", as ``ImageInputError``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageInputError(
            f"The image has more pixels than the limit of {max_pixels:,} (STYLEREC['MAX_IMAGE_PIXELS'])."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageInputError("The file is not an image in a format Pillow can read.") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        # Pillow reports truncation and bad data as OSError, some plugins as SyntaxError/ValueError.
        raise ImageInputError(f"The image file is truncated or corrupt: {exc}") from exc


def to_rgb(img: Image.Image) -> Image.Image:
    """An upright RGB copy of ``img`` whatever its mode: alpha composited on white, high bit depths
    scaled to 8 bits, palettes and CMYK converted."""
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # noqa: BLE001 - broken EXIF must not make a good picture unusable
        pass
    mode = img.mode
    if img.width < 1 or img.height < 1:
        raise ImageInputError(f"The image has no pixels ({img.width}x{img.height}).")
    if mode == "RGB":
        return img.copy()
    if mode == "P":
        # A palette may carry transparency (tRNS / GIF transparency index); RGBA keeps it.
        img = img.convert("RGBA")
        mode = "RGBA"
    elif mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(img)
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # 1, L, CMYK, YCbCr, LAB, HSV, RGBX ... Pillow converts these to RGB directly.
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageInputError(f"Images in mode {mode!r} are not supported.") from exc


def fit_within(img: Image.Image, max_side: int) -> Image.Image:
    """``img`` scaled down (never up) so that its longer side is at most ``max_side``; aspect kept."""
    if max_side < 1:
        raise ValueError("max_side must be positive")
    w, h = img.size
    if max(w, h) <= max_side:
        return img
    scale = max_side / max(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)


def ensure_min_side(img: Image.Image, min_side: int) -> Image.Image:
    """``img`` scaled up (never down) so that its shorter side is at least ``min_side``."""
    w, h = img.size
    if min(w, h) >= min_side:
        return img
    scale = min_side / min(w, h)
    return img.resize(
        (max(min_side, round(w * scale)), max(min_side, round(h * scale))), Image.Resampling.BICUBIC
    )


def letterbox(img: Image.Image, size: int, fill: tuple[int, int, int] = WHITE) -> Image.Image:
    """A ``size`` x ``size`` RGB image with all of ``img`` centred on ``fill``.

    Product photos are letterboxed rather than centre-cropped: a crop would cut off the ends of long
    items (dresses, trousers, scarves), and their silhouette is what a shopper recognises."""
    img = to_rgb(img) if img.mode != "RGB" else img
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resample = Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.BILINEAR
    resized = img.resize((nw, nh), resample, reducing_gap=None if scale > 1 else 2.0)
    canvas = Image.new("RGB", (size, size), fill)
    canvas.paste(resized, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w * h > max_pixels:
        raise ImageInputError(
            f"The image is {w}x{h} = {w * h:,} pixels, more than the limit of {max_pixels:,} "
            "(STYLEREC['MAX_IMAGE_PIXELS'])."
        )


def _read_bytes(source: Any, max_bytes: int) -> bytes:
    too_big = f"The image file is larger than {max_bytes:,} bytes (STYLEREC['MAX_IMAGE_BYTES'])."
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) > max_bytes:
            raise ImageInputError(too_big)
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            if path.stat().st_size > max_bytes:
                raise ImageInputError(too_big)
            with path.open("rb") as fh:
                return _read_limited(fh, max_bytes, too_big)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise ImageInputError(f"Cannot read the image file {str(path)!r}: {exc.strerror}") from exc
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)  # Django's UploadedFile may have been read already
            except (OSError, ValueError):
                pass
        return _read_limited(source, max_bytes, too_big)
    raise ImageInputError(f"Cannot read an image from a {type(source).__name__}.")


def _read_limited(fh: IO[bytes], max_bytes: int, message: str) -> bytes:
    data = fh.read(max_bytes + 1)
    if isinstance(data, str):
        raise ImageInputError("The file was opened in text mode; open images in binary mode ('rb').")
    if len(data) > max_bytes:
        raise ImageInputError(message)
    return data


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale to 8-bit RGB.

    16-bit data covers 0..65535 and is scaled by 1/257; 32-bit and float data have no fixed range,
    so they are stretched from their own min to max (a flat image becomes mid-grey)."""
    import numpy as np

    arr = np.asarray(img)
    if arr.dtype == np.uint16 or img.mode.startswith("I;16"):
        arr8 = (arr.astype(np.float32) / 257.0).round()
    else:
        arr = arr.astype(np.float64)
        finite = np.isfinite(arr)
        arr = np.where(finite, arr, 0.0)
        lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (0.0, 0.0)
        if 0.0 <= lo and hi <= 255.0:
            arr8 = arr
        elif hi > lo:
            arr8 = (arr - lo) / (hi - lo) * 255.0
        else:
            arr8 = np.full(arr.shape, 128.0)
    return Image.fromarray(np.clip(arr8, 0, 255).astype(np.uint8)).convert("RGB")
