"""How faithful styled images are: the art filter of before against the faithful transfer.

Used by ``manage.py stylerec_benchmark_styled``. For each product x style, one run of the style's
network gives the raw rendering; the *old* image is what ``OnnxStyleTransfer(faithful=False)`` makes
of it (the network's output mixed with the photo at the style's strength, YCbCr chroma kept only
with ``preserve_color``), the *new* one what the default faithful transfer makes of it (the style's
lightness pattern inside the product's mask, the photo's a*/b* and background kept). Both pass the
silhouette guard and a JPEG round trip at the quality styled images are stored with, and are
compared with the photo:

* **colour fidelity**: mean CIEDE2000 (``stylerec.ml.colour``) between photo and styled image over
  the product's pixels (goal <= 10: the product still shows its own colour);
* **background change**: the same over the other pixels (goal <= 3: the background stays clean);
* **style strength**: how far the image's texture moved from the photo's toward the style's. The
  texture feature is multi-scale gradient statistics of L*: at 1, 1/2 and 1/4 scale, the x, y and
  two diagonal derivatives and the Laplacian (15 channels); its Gram matrix over the product's
  pixels (Gatys et al.'s texture statistic, on hand-made filters instead of a CNN's) is G. The
  style's texture is that of the network's raw rendering of the same product (the 26 fixed styles
  have no style picture; the raw rendering is the style as the network paints it). Strength =
  the projection of G(styled) - G(photo) on G(style) - G(photo), over |G(style) - G(photo)|^2: 0 =
  the photo's texture, 1 = the style's (goal: the new images keep at least half the old ones').

Products: the store's own (its active products with a photo, and its active styles) when the
database has them; otherwise Fashion-MNIST photos from Debian's ``dataset-fashion-mnist``, upscaled
to 256 px and coloured on a plain studio background as the demo store does (``fashion_products``),
with every one of the network's 26 fixed styles. Fashion-MNIST products come with their true
silhouette (the pixels the colouring drew), which the metrics use and ``product_mask`` is scored
against (IoU); a store's own photos are measured inside ``product_mask``'s silhouette.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stylerec.lab.datasets import fashion_mnist_read
from stylerec.ml.base import StyleSpec

PHOTO_SIDE = 256
JPEG_QUALITY = 88  # services.styled stores styled images at this quality; the demo's photos too
PRESETS = 26
# The styles' settings the demo shipped with until the faithful transfer: the old images.
OLD_PRESET_STRENGTH = 0.8
GOALS = {"delta_e_inside_max": 10.0, "delta_e_outside_max": 3.0, "strength_share_of_old_min": 0.5}
# Colourways of the rendered photos: (dark, light) ends of the garment's tone ramp, and backgrounds.
COLOURWAYS = [
    ((70, 45, 10), (230, 190, 90)),
    ((60, 20, 10), (210, 120, 80)),
    ((25, 25, 28), (150, 150, 155)),
    ((150, 150, 150), (252, 252, 250)),
    ((90, 70, 40), (245, 225, 180)),
    ((10, 40, 10), (120, 255, 60)),
    ((60, 0, 30), (255, 60, 170)),
    ((70, 25, 15), (225, 130, 90)),
    ((5, 20, 80), (70, 130, 255)),
    ((70, 0, 0), (240, 60, 50)),
    ((40, 0, 10), (170, 40, 70)),
    ((0, 35, 20), (40, 160, 110)),
    ((15, 30, 60), (120, 150, 190)),
    ((60, 55, 30), (200, 190, 140)),
]
BACKGROUNDS = [(244, 244, 246), (238, 228, 210), (40, 40, 44)]


@dataclass
class Product:
    name: str
    photo: Any  # PIL image, as stored (JPEG)
    truth: np.ndarray | None = None  # bool (h, w): the true silhouette, when known


@dataclass
class PairResult:
    product: str
    style: str
    old: dict[str, float]
    new: dict[str, float]


@dataclass
class Report:
    results: list[PairResult] = field(default_factory=list)
    mask_iou: list[float] = field(default_factory=list)
    no_mask: int = 0
    sheet: list[tuple[str, str, Any, Any, Any]] = field(
        default_factory=list
    )  # product, style, photo, old, new


# --- products ---------------------------------------------------------------------------------


def jpeg_round_trip(img: Any, quality: int = JPEG_QUALITY) -> Any:
    from PIL import Image

    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def render_photo(
    pixels: np.ndarray, dark: Sequence[int], light: Sequence[int], background: Sequence[int]
) -> Any:
    """(photo, true silhouette): a 28 px greyscale photo upscaled to ``PHOTO_SIDE`` px, its tones
    mapped from ``dark`` to ``light``, on a plain ``background``; the silhouette is the pixels the
    garment was drawn on (the demo store's recipe, shop/demo_catalog.py, without its finishes)."""
    from PIL import Image, ImageFilter

    grey = Image.fromarray(pixels).resize((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.BICUBIC)
    g = np.asarray(grey.filter(ImageFilter.SMOOTH), dtype=np.float32) / 255.0
    truth = g > 0.04
    tone = g[..., None]
    colour = np.array(dark, np.float32) * (1 - tone) + np.array(light, np.float32) * tone
    out = np.where(truth[..., None], colour, np.array(background, np.float32))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB"), truth


def fashion_products(n: int, seed: int = 0) -> list[Product]:
    images, labels = fashion_mnist_read(split="t10k")
    rng = np.random.default_rng(seed)
    out = []
    for i, index in enumerate(rng.choice(len(images), size=n, replace=False)):
        dark, light = COLOURWAYS[int(rng.integers(len(COLOURWAYS)))]
        background = BACKGROUNDS[i % len(BACKGROUNDS)]
        photo, truth = render_photo(images[index], dark, light, background)
        out.append(
            Product(f"fashion-mnist-{int(index)}-class{int(labels[index])}", jpeg_round_trip(photo), truth)
        )
    return out


def preset_styles(presets: Sequence[int], strength: float) -> list[tuple[StyleSpec, StyleSpec]]:
    """(old, new) specs of the network's fixed styles: old with the demo's settings of before."""
    return [
        (
            StyleSpec(
                slug=f"preset-{p}",
                name=f"Preset {p}",
                transfer_preset=p,
                strength=OLD_PRESET_STRENGTH,
                preserve_color=False,
            ),
            StyleSpec(slug=f"preset-{p}", name=f"Preset {p}", transfer_preset=p, strength=strength),
        )
        for p in presets
    ]


# --- metrics ----------------------------------------------------------------------------------


def texture_features(img: Any, mask: np.ndarray) -> np.ndarray:
    """(pixels in ``mask``, 15): x, y, diagonal derivatives and Laplacian of L*/100 at 1, 1/2 and
    1/4 scale, each pixel reading the coarser maps at its own position."""
    from stylerec.ml.colour import image_to_lab

    lightness = image_to_lab(img)[..., 0] / 100.0
    h, w = lightness.shape
    ys, xs = np.nonzero(mask)
    columns = []
    for scale in (1, 2, 4):
        hs, ws = max(1, h // scale), max(1, w // scale)
        x = lightness[: hs * scale, : ws * scale].reshape(hs, scale, ws, scale).mean(axis=(1, 3))
        p = np.pad(x, 1, mode="edge")
        responses = np.stack(
            [
                p[1:-1, 2:] - p[1:-1, :-2],
                p[2:, 1:-1] - p[:-2, 1:-1],
                p[2:, 2:] - p[:-2, :-2],
                p[2:, :-2] - p[:-2, 2:],
                p[1:-1, 2:] + p[1:-1, :-2] + p[2:, 1:-1] + p[:-2, 1:-1] - 4 * x,
            ],
            axis=-1,
        )
        columns.append(responses[np.minimum(ys // scale, hs - 1), np.minimum(xs // scale, ws - 1)])
    return np.concatenate(columns, axis=-1)


def gram(img: Any, mask: np.ndarray) -> np.ndarray:
    f = texture_features(img, mask)
    return f.T @ f / max(1, len(f))


def style_strength(photo_gram: np.ndarray, styled: Any, style_gram: np.ndarray, mask: np.ndarray) -> float:
    """Projection of the styled image's Gram step from the photo onto the photo->style step (0 =
    the photo's texture, 1 = the style's)."""
    direction = (style_gram - photo_gram).ravel()
    norm = float(direction @ direction)
    if norm < 1e-12:
        return 0.0
    return float((gram(styled, mask) - photo_gram).ravel() @ direction / norm)


def image_metrics(
    photo_lab: np.ndarray, styled: Any, mask: np.ndarray, photo_gram: np.ndarray, style_gram: np.ndarray
) -> dict[str, float]:
    from stylerec.ml.colour import delta_e2000, image_to_lab

    difference = delta_e2000(photo_lab, image_to_lab(styled))
    return {
        "delta_e_inside": float(difference[mask].mean()),
        "delta_e_outside": float(difference[~mask].mean()) if (~mask).any() else 0.0,
        "style_strength": style_strength(photo_gram, styled, style_gram, mask),
    }


# --- the run ----------------------------------------------------------------------------------


def run(
    products: Sequence[Product],
    styles: Sequence[tuple[StyleSpec, StyleSpec]],
    *,
    transfer: Any,
    art_filter: Any,
    sheet_products: int = 4,
    sheet_styles: Sequence[str] = (),
    log: Callable[[str], object] = lambda _: None,
) -> Report:
    """Measure every product in every (old spec, new spec) style. ``transfer`` is a faithful
    ``OnnxStyleTransfer``, ``art_filter`` one with ``faithful=False`` (used for reference-image
    styles, whose old image needs its own network call at the style's strength)."""
    from stylerec.ml.colour import image_to_lab
    from stylerec.ml.images import fit_within, to_rgb
    from stylerec.ml.transfer import faithful_composite, legacy_composite, product_mask

    report = Report()
    started = time.time()
    for n, product in enumerate(products):
        photo = fit_within(to_rgb(product.photo), transfer.max_size)
        estimated = product_mask(photo)
        if estimated is None:
            report.no_mask += 1
        if product.truth is not None and product.truth.shape == (photo.height, photo.width):
            mask = product.truth
            found = estimated > 0.5 if estimated is not None else np.ones_like(mask)
            report.mask_iou.append(float((found & mask).sum() / max(1, (found | mask).sum())))
        else:
            mask = estimated > 0.5 if estimated is not None else np.ones((photo.height, photo.width), bool)
        photo_lab = image_to_lab(photo)
        photo_gram = gram(photo, mask)
        for old_spec, new_spec in styles:
            original, raw = transfer.stylize_raw(photo, new_spec)
            if old_spec.transfer_preset is not None:
                old = legacy_composite(
                    original, raw, strength=old_spec.strength, preserve_color=old_spec.preserve_color
                )
                old = art_filter.guard(original, old)
            else:
                (old,) = art_filter.stylize([original], old_spec)
            new = transfer.guard(
                original,
                faithful_composite(
                    original,
                    raw,
                    strength=new_spec.strength,
                    colour_budget=transfer.colour_budget,
                    mask=estimated,
                ),
            )
            old, new = jpeg_round_trip(old), jpeg_round_trip(new)
            style_gram = gram(raw, mask)
            report.results.append(
                PairResult(
                    product.name,
                    new_spec.slug,
                    image_metrics(photo_lab, old, mask, photo_gram, style_gram),
                    image_metrics(photo_lab, new, mask, photo_gram, style_gram),
                )
            )
            if n < sheet_products and new_spec.slug in sheet_styles:
                report.sheet.append((product.name, new_spec.slug, photo, old, new))
        if (n + 1) % 10 == 0 or n + 1 == len(products):
            log(f"{n + 1}/{len(products)} products, {time.time() - started:.0f} s")
    return report


def _stats(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(arr.mean()), 3),
        "p90": round(float(np.percentile(arr, 90)), 3),
        "max": round(float(arr.max()), 3),
    }


def _side(results: Sequence[PairResult], side: str) -> dict[str, Any]:
    rows = [getattr(r, side) for r in results]
    out: dict[str, Any] = {key: _stats([row[key] for row in rows]) for key in rows[0]}
    out["pairs_delta_e_inside_within_goal"] = round(
        float(np.mean([row["delta_e_inside"] <= GOALS["delta_e_inside_max"] for row in rows])), 3
    )
    out["pairs_delta_e_outside_within_goal"] = round(
        float(np.mean([row["delta_e_outside"] <= GOALS["delta_e_outside_max"] for row in rows])), 3
    )
    return out


def summarise(report: Report) -> dict[str, Any]:
    """Old and new side by side, overall and per style, with the goals' verdicts."""
    old, new = _side(report.results, "old"), _side(report.results, "new")
    share = (
        new["style_strength"]["mean"] / old["style_strength"]["mean"]
        if old["style_strength"]["mean"]
        else None
    )
    summary: dict[str, Any] = {
        "old": old,
        "new": new,
        "new_strength_share_of_old": round(share, 3) if share is not None else None,
        "goals_met_by_new": {
            "delta_e_inside": new["delta_e_inside"]["mean"] <= GOALS["delta_e_inside_max"],
            "delta_e_outside": new["delta_e_outside"]["mean"] <= GOALS["delta_e_outside_max"],
            "style_strength": share is not None and share >= GOALS["strength_share_of_old_min"],
        },
    }
    per_style = []
    for slug in dict.fromkeys(r.style for r in report.results):
        rows = [r for r in report.results if r.style == slug]
        entry: dict[str, Any] = {"style": slug, "pairs": len(rows)}
        for side in ("old", "new"):
            entry[side] = {
                key: round(float(np.mean([getattr(r, side)[key] for r in rows])), 3)
                for key in ("delta_e_inside", "delta_e_outside", "style_strength")
            }
        per_style.append(entry)
    summary["per_style"] = per_style
    if report.mask_iou:
        summary["product_mask"] = {
            "iou_vs_true_silhouette": _stats(report.mask_iou),
            "iou_below_0_9_share": round(float(np.mean(np.asarray(report.mask_iou) < 0.9)), 3),
        }
    summary["photos_without_a_mask"] = report.no_mask
    return summary


def contact_sheet(entries: Sequence[tuple[str, str, Any, Any, Any]], tile: int = 160) -> Any:
    """One row per product: its photo, then old | new for each style, labelled."""
    from PIL import Image, ImageDraw

    products = list(dict.fromkeys(e[0] for e in entries))
    styles = list(dict.fromkeys(e[1] for e in entries))
    by_key = {(e[0], e[1]): e for e in entries}
    label, gap = 18, 6
    columns = 1 + 2 * len(styles)
    width = columns * (tile + gap) + gap + gap * len(styles)
    height = label * 2 + len(products) * (tile + gap) + gap
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, label + 2), "original", fill="black")
    x_of = {}
    x = gap + tile + gap
    for style in styles:
        x += gap
        draw.text((x, 2), style, fill="black")
        draw.text((x, label + 2), "old (art filter)", fill=(150, 40, 40))
        draw.text((x + tile + gap, label + 2), "new (faithful)", fill=(30, 110, 50))
        x_of[style] = x
        x += 2 * (tile + gap)
    for row, product in enumerate(products):
        y = 2 * label + row * (tile + gap)
        photo = next(e[2] for e in entries if e[0] == product)
        sheet.paste(photo.resize((tile, tile)), (gap, y))
        for style in styles:
            entry = by_key.get((product, style))
            if entry is None:
                continue
            sheet.paste(entry[3].resize((tile, tile)), (x_of[style], y))
            sheet.paste(entry[4].resize((tile, tile)), (x_of[style] + tile + gap, y))
    return sheet
