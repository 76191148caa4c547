"""The styled-image benchmark: its texture strength reads 0 for the photo and 1 for the style,
the Fashion-MNIST photos come with their true silhouette, and the command writes old vs new."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from stylerec.lab import styled_benchmark as bench
from stylerec.lab.datasets import FASHION_MNIST_DIR
from stylerec.ml.transfer import product_mask
from tests.ml.vision_fixtures import shirt, textured

needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)


def test_style_strength_is_0_for_the_photo_and_1_for_the_style():
    photo, style = shirt(96), textured(96, seed=3)
    mask = np.ones((96, 96), dtype=bool)
    photo_gram, style_gram = bench.gram(photo, mask), bench.gram(style, mask)
    assert bench.style_strength(photo_gram, photo, style_gram, mask) == pytest.approx(0.0)
    assert bench.style_strength(photo_gram, style, style_gram, mask) == pytest.approx(1.0)
    from PIL import Image

    half = bench.style_strength(photo_gram, Image.blend(photo, style, 0.5), style_gram, mask)
    assert 0.1 < half < 0.9


@needs_fashion_mnist
def test_fashion_mnist_products_have_their_silhouette_and_the_mask_finds_it():
    products = bench.fashion_products(6, seed=1)
    assert len({p.name for p in products}) == 6
    for product in products:
        assert product.photo.size == (bench.PHOTO_SIDE, bench.PHOTO_SIDE) and product.truth.any()
        found = product_mask(product.photo)
        assert found is not None
        iou = ((found > 0.5) & product.truth).sum() / ((found > 0.5) | product.truth).sum()
        assert iou > 0.8


@needs_fashion_mnist
@pytest.mark.slow
def test_command_writes_old_and_new_side_by_side(tmp_path: Path):
    output, sheet = tmp_path / "styled.json", tmp_path / "sheet.png"
    call_command(
        "stylerec_benchmark_styled",
        "--products", "2", "--presets", "3,20", "--source", "fashion-mnist",
        "--output", str(output), "--sheet", str(sheet), "--sheet-products", "2", "--pairs",
    )  # fmt: skip
    report = json.loads(output.read_text())
    assert report["pairs"] == 4 and len(report["results"]) == 4
    summary = report["summary"]
    assert summary["new"]["delta_e_inside"]["mean"] <= 10 < summary["old"]["delta_e_inside"]["mean"]
    assert summary["new"]["delta_e_outside"]["mean"] <= 3 < summary["old"]["delta_e_outside"]["mean"]
    assert summary["new"]["style_strength"]["mean"] > 0
    assert [row["style"] for row in summary["per_style"]] == ["preset-3", "preset-20"]
    assert "v2:faithful" in report["method"]["new"] and ":v1:" in report["method"]["old"]
    from PIL import Image

    assert Image.open(sheet).size[0] > 5 * 160  # photo + old/new for two styles
