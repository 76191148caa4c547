"""Faithful style transfer: the product keeps its colours and shape, the background stays clean,
the style shows in lightness; the colour maths (CIEDE2000) and the product mask it relies on."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from stylerec.ml.base import StyleSpec
from stylerec.ml.colour import delta_e2000, image_to_lab, lab_to_srgb, srgb_to_lab
from stylerec.ml.transfer import (
    COLOUR_BUDGET,
    OnnxStyleTransfer,
    faithful_composite,
    product_mask,
)
from tests.ml.vision_fixtures import handbag, shirt

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", table 1 (a selection that
# covers the hue-angle wrap-around, achromatic colours and both ends of the lightness range).
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((90.8027, -2.0831, 1.441), (91.1528, -1.6435, 0.0447), 1.4441),
    ((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_delta_e2000_matches_the_published_test_pairs():
    a = np.array([p[0] for p in SHARMA_PAIRS])
    b = np.array([p[1] for p in SHARMA_PAIRS])
    expected = np.array([p[2] for p in SHARMA_PAIRS])
    np.testing.assert_allclose(delta_e2000(a, b), expected, atol=1e-4)
    np.testing.assert_allclose(delta_e2000(b, a), expected, atol=1e-4)  # symmetric
    assert delta_e2000(a, a).max() == 0


def test_lab_round_trip_and_reference_points():
    rgb = np.random.default_rng(0).random((500, 3))
    np.testing.assert_allclose(lab_to_srgb(srgb_to_lab(rgb)), rgb, atol=1e-9)
    np.testing.assert_allclose(srgb_to_lab(np.array([1.0, 1.0, 1.0])), [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(srgb_to_lab(np.array([1.0, 0.0, 0.0])), [53.24, 80.09, 67.20], atol=0.01)


def _shape_on_plain(
    size: int = 160,
    fill: tuple[int, int, int] = (200, 40, 40),
    background: tuple[int, int, int] = (255, 255, 255),
    outline: tuple[int, int, int] | None = None,
) -> tuple[Image.Image, np.ndarray]:
    """A dress-like shape (with a belt of another colour) on a plain background, and its true mask."""
    img = Image.new("RGB", (size, size), background)
    truth = Image.new("L", (size, size), 0)
    s = size / 160
    points = [(60, 20), (100, 20), (110, 70), (135, 145), (25, 145), (50, 70)]
    points = [(x * s, y * s) for x, y in points]
    ImageDraw.Draw(img).polygon(points, fill=fill, outline=outline)
    ImageDraw.Draw(truth).polygon(points, fill=255, outline=255)
    ImageDraw.Draw(img).rectangle([52 * s, 66 * s, 108 * s, 74 * s], fill=(240, 200, 60))
    return img, np.asarray(truth) > 0


def _iou(mask: np.ndarray, truth: np.ndarray) -> float:
    found = mask > 0.5
    return float((found & truth).sum() / (found | truth).sum())


@pytest.mark.parametrize(
    "fill, background",
    [
        ((200, 40, 40), (255, 255, 255)),  # red on white
        ((30, 60, 160), (244, 244, 246)),  # navy on the demo's grey-white
        ((250, 250, 250), (40, 40, 44)),  # white on the demo's dark studio background
    ],
)
def test_mask_of_a_shape_on_a_plain_background(fill, background):
    img, truth = _shape_on_plain(fill=fill, background=background)
    mask = product_mask(img)
    assert mask is not None and mask.shape == truth.shape
    assert mask.min() >= 0 and mask.max() <= 1
    assert _iou(mask, truth) > 0.97
    assert mask[0, 0] == 0 and mask[80, 80] == 1


def test_mask_fills_the_inside_of_an_outline_and_keeps_a_handle_opening():
    # A light product of nearly the background's colour, drawn by its dark outline, cut by the top
    # edge (so its inside reaches the border): sealed along the border and filled.
    img = Image.new("RGB", (160, 160), (244, 244, 246))
    ImageDraw.Draw(img).rectangle([40, -5, 120, 150], fill=(250, 249, 243), outline=(90, 90, 90), width=3)
    mask = product_mask(img)
    assert mask is not None and mask[80, 80] == 1 and mask[5, 80] == 1 and mask[80, 20] == 0
    # A bag: the opening of its handle shows the background and stays background.
    bag = handbag(160)
    mask = product_mask(bag)
    assert mask is not None
    assert mask[45, 80] == 0  # inside the handle's arc, above the bag
    assert mask[100, 80] == 1 and mask[25, 80] > 0.5  # the bag and its handle


def test_mask_is_none_without_a_plain_background():
    rng = np.random.default_rng(1)
    scene = Image.fromarray(rng.integers(0, 255, (120, 120, 3), dtype=np.uint8))
    assert product_mask(scene) is None
    assert product_mask(Image.new("RGB", (64, 64), "white")) is None  # nothing on it
    assert product_mask(Image.new("RGB", (3, 3), "white")) is None  # too small to tell


@pytest.fixture(scope="module")
def transfer():
    return OnnxStyleTransfer(max_size=160, device="cpu")


@pytest.mark.parametrize("preset", [3, 12, 20])  # a mosaic, a grid, a painting
def test_faithful_transfer_keeps_colours_inside_and_background_outside(transfer, preset):
    product, truth = _shape_on_plain()
    style = StyleSpec(slug="s", name="S", transfer_preset=preset, strength=1.0)
    (styled,) = transfer.stylize([product], style)
    difference = delta_e2000(image_to_lab(product), image_to_lab(styled))
    inside, outside = difference[truth].mean(), difference[~truth].mean()
    assert inside <= 10, inside
    assert outside <= 3, outside
    assert inside >= 3  # the style is there: its lightness pattern is visible on the product
    # ... and it is the style's: the art filter of the same network changes the colours far more
    (art,) = OnnxStyleTransfer(max_size=160, device="cpu", faithful=False).stylize([product], style)
    assert delta_e2000(image_to_lab(product), image_to_lab(art))[truth].mean() > 2 * inside


def test_faithful_strength_scales_the_colour_cost(transfer):
    product = shirt(128)
    costs = []
    for strength in (0.0, 0.5, 1.0):
        (styled,) = transfer.stylize(
            [product], StyleSpec(slug="s", name="S", transfer_preset=7, strength=strength)
        )
        mask = product_mask(product)
        assert mask is not None
        costs.append(delta_e2000(image_to_lab(product), image_to_lab(styled))[mask > 0.5].mean())
    assert costs[0] < 0.5
    assert costs[1] == pytest.approx(0.5 * COLOUR_BUDGET, abs=1.5)
    assert costs[2] == pytest.approx(COLOUR_BUDGET, abs=1.5)


def test_faithful_composite_keeps_chroma_and_styles_the_whole_image_without_a_mask():
    rng = np.random.default_rng(2)
    photo = Image.fromarray(rng.integers(60, 200, (64, 64, 3), dtype=np.uint8))  # no plain background
    pattern = Image.fromarray(np.tile(np.array([[0], [255]], np.uint8), (32, 64)).astype(np.uint8)).convert(
        "RGB"
    )
    out = faithful_composite(photo, pattern, strength=1.0)
    lab_in, lab_out = image_to_lab(photo), image_to_lab(out)
    assert np.abs(lab_out[..., 1:] - lab_in[..., 1:]).mean() < 3  # a*, b* kept (up to gamut and rounding)
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).mean() > 3  # the stripes went into L* everywhere
    assert delta_e2000(lab_in, lab_out).mean() == pytest.approx(COLOUR_BUDGET, abs=1.0)


def test_the_faithful_mode_has_its_own_version():
    assert "v2:faithful=8" in OnnxStyleTransfer().version
    assert OnnxStyleTransfer(faithful=False).version.endswith(":v1:sil=0.4")  # the art filter's, as before
    assert OnnxStyleTransfer(colour_budget=5).version != OnnxStyleTransfer().version
    with pytest.raises(ValueError, match="colour_budget"):
        OnnxStyleTransfer(colour_budget=0)
