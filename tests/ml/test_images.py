"""load_image turns every kind of upload into an RGB image or a clear ImageInputError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from stylerec.ml.base import ImageInputError
from stylerec.ml.images import ensure_min_side, fit_within, letterbox, load_image, to_rgb


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def test_plain_jpeg_from_bytes_path_and_file(tmp_path):
    data = encode(Image.new("RGB", (40, 30), (10, 200, 30)), "JPEG")
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    for source in (data, path, str(path), io.BytesIO(data), path.open("rb")):
        img = load_image(source)
        assert img.mode == "RGB" and img.size == (40, 30)
        assert abs(int(img.getpixel((20, 15))[1]) - 200) < 10


def test_file_object_already_read_is_rewound():
    fh = io.BytesIO(encode(Image.new("RGB", (8, 8)), "PNG"))
    fh.read()
    assert load_image(fh).size == (8, 8)


def test_non_image_with_image_extension(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("<html>not an image</html>")
    with pytest.raises(ImageInputError, match="not an image"):
        load_image(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ImageInputError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageInputError, match="Cannot read"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageInputError):
        load_image(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(fmt):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encode(noise, fmt)
    with pytest.raises(ImageInputError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_corrupt_body():
    data = bytearray(encode(Image.new("RGB", (64, 64), "red"), "PNG"))
    data[60:80] = b"\x00" * 20  # break the IDAT chunk (CRC check fails)
    with pytest.raises(ImageInputError):
        load_image(bytes(data))


def test_decompression_bomb_rejected_from_header(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    data = encode(Image.new("L", (2000, 2000)), "PNG")  # small file, 4 Mpx
    with pytest.raises(ImageInputError, match="pixels"):
        load_image(data, max_pixels=1_000_000)
    assert Image.MAX_IMAGE_PIXELS == 1_000_000  # Pillow's own guard follows the setting
    assert load_image(data, max_pixels=5_000_000).size == (2000, 2000)


def test_pixel_limit_comes_from_settings(settings):
    settings.STYLEREC = {"MAX_IMAGE_PIXELS": 100}
    with pytest.raises(ImageInputError, match="limit of 100"):
        load_image(encode(Image.new("RGB", (20, 20)), "PNG"))


def test_byte_limit(tmp_path):
    data = encode(Image.new("RGB", (64, 64)), "BMP")
    path = tmp_path / "big.bmp"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data)):
        with pytest.raises(ImageInputError, match="larger than"):
            load_image(source, max_bytes=len(data) - 1)
    assert load_image(data, max_bytes=len(data)).size == (64, 64)


def test_cmyk_jpeg():
    img = load_image(encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"))  # red in CMYK
    r, g, b = img.getpixel((8, 8))
    assert img.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_palette_with_transparency_goes_on_white():
    pal = Image.new("P", (10, 10), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 1)
    data = encode(pal, "PNG", transparency=0)  # index 0 (black) is transparent
    img = load_image(data)
    assert img.getpixel((5, 5)) == (255, 255, 255)
    assert img.getpixel((0, 0)) == (255, 0, 0)


def test_alpha_composited_on_white():
    rgba = Image.new("RGBA", (10, 10), (0, 0, 255, 0))
    rgba.putpixel((1, 1), (0, 0, 255, 255))
    img = load_image(encode(rgba, "PNG"))
    assert img.getpixel((5, 5)) == (255, 255, 255)
    assert img.getpixel((1, 1)) == (0, 0, 255)
    la = Image.new("LA", (4, 4), (0, 128))
    assert load_image(encode(la, "PNG")).getpixel((0, 0))[0] in range(126, 130)  # half black on white


def test_16_bit_greyscale():
    arr = np.full((8, 8), 128 * 257, dtype=np.uint16)  # mid-grey in 16 bits (clipping would give 255)
    arr[0, 0] = 0
    arr[0, 1] = 65535
    img16 = Image.fromarray(arr)
    assert img16.mode.startswith("I;16")
    img = load_image(encode(img16, "PNG"))
    assert img.mode == "RGB" and img.getpixel((4, 4)) == (128, 128, 128)
    assert img.getpixel((0, 0)) == (0, 0, 0) and img.getpixel((1, 0)) == (255, 255, 255)


def test_32_bit_and_float_modes_are_stretched():
    f = Image.fromarray(np.array([[0.0, 1000.0]], dtype=np.float32))
    img = to_rgb(f)
    assert img.getpixel((0, 0)) == (0, 0, 0) and img.getpixel((1, 0)) == (255, 255, 255)


def test_one_bit_and_greyscale():
    assert load_image(encode(Image.new("1", (5, 5), 1), "PNG")).getpixel((2, 2)) == (255, 255, 255)
    assert load_image(encode(Image.new("L", (5, 5), 77), "PNG")).getpixel((2, 2)) == (77, 77, 77)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (12, 12), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    img = load_image(buf.getvalue())
    r, g, _ = img.getpixel((6, 6))
    assert r > 200 and g < 50


def test_one_by_one_image():
    img = load_image(encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"))
    assert img.size == (1, 1)
    assert ensure_min_side(img, 32).size == (32, 32)
    assert letterbox(img, 224).size == (224, 224)


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(img, "JPEG", exif=exif.tobytes())
    assert load_image(data).size == (20, 40)


def test_pil_image_input_is_normalised_and_not_mutated():
    src = Image.new("RGBA", (6, 6), (0, 0, 0, 0))
    out = load_image(src)
    assert out.mode == "RGB" and src.mode == "RGBA" and out.getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ImageInputError):
        load_image(Image.new("RGB", (100, 100)), max_pixels=50)


def test_fit_within_and_letterbox_keep_aspect():
    img = Image.new("RGB", (1000, 250), "black")
    assert fit_within(img, 400).size == (400, 100)
    assert fit_within(img, 2000) is img
    boxed = letterbox(img, 100)
    assert boxed.size == (100, 100)
    assert boxed.getpixel((50, 2)) == (255, 255, 255) and boxed.getpixel((50, 50)) == (0, 0, 0)
