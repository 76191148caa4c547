"""Image encoders: the real EfficientNet-Lite0, a tiny CLIP through the production loader, devices."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from stylerec.ml import registry
from stylerec.ml.base import ImageEncoder, ImageInputError, ModelLoadError, select_device
from stylerec.ml.dims import IMAGE_DIM
from stylerec.ml.vision import ClipImageEncoder, EfficientNetImageEncoder, resolve_device
from tests.ml.vision_fixtures import TINY_CLIP_DIM, handbag, make_tiny_clip, shirt, trousers


@pytest.fixture(scope="module")
def efficientnet():
    encoder = EfficientNetImageEncoder(batch_size=2, device="cpu")  # 3 images = 2 chunks
    encoder.load()
    return encoder


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_efficientnet_vectors_are_normalised_1280_float32(efficientnet):
    vecs = efficientnet.encode([shirt(), Image.new("RGB", (1, 1), "red"), Image.new("L", (300, 90), 40)])
    assert isinstance(efficientnet, ImageEncoder)
    assert IMAGE_DIM == efficientnet.dim == 1280 == EfficientNetImageEncoder.output_dim()
    assert vecs.shape == (3, 1280) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert efficientnet.encode([]).shape == (0, 1280)


def test_efficientnet_similar_images_are_closer_than_different_ones(efficientnet):
    original = shirt(160)
    shifted_brighter = ImageEnhance.Brightness(shirt(160, shift=5)).enhance(1.15)
    a, b, c, d = efficientnet.encode([original, shifted_brighter, trousers(160), handbag(160)])
    assert a @ b > 0.9
    assert a @ b > a @ c + 0.2 and a @ b > a @ d + 0.2


def test_efficientnet_batching_does_not_change_results(efficientnet):
    images = [shirt(64), trousers(64), handbag(64)]
    one_by_one = np.concatenate([efficientnet.encode([img]) for img in images])
    np.testing.assert_allclose(efficientnet.encode(images), one_by_one, atol=1e-4)  # batch_size=2: 2 chunks


def test_efficientnet_input_scaling_is_the_tflite_one(efficientnet):
    x = efficientnet.preprocess(
        [Image.new("RGB", (10, 10), (255, 255, 255)), Image.new("RGB", (4, 4), "black")]
    )
    assert x.shape == (2, 3, 224, 224)
    assert float(x[0].max()) == pytest.approx(1.0) and float(x[1, :, 112, 112].max()) == pytest.approx(
        -127 / 128
    )


def test_encoders_reject_non_images(efficientnet):
    with pytest.raises(ImageInputError, match="not a PIL image"):
        efficientnet.encode([b"bytes"])  # type: ignore[list-item]


def test_default_image_encoder_comes_from_settings(settings):
    settings.STYLEREC = {"IMAGE_ENCODER_OPTIONS": {"batch_size": 3, "device": "cpu"}}
    encoder = registry.get("image")
    assert isinstance(encoder, EfficientNetImageEncoder) and encoder.batch_size == 3
    assert registry.get("image") is encoder  # loaded once


def test_tiny_clip_encoder_through_the_production_loader(tiny_clip_dir, settings):
    settings.STYLEREC = {
        "IMAGE_ENCODER": "stylerec.ml.vision.ClipImageEncoder",
        "IMAGE_ENCODER_OPTIONS": {"model": str(tiny_clip_dir), "device": "cpu"},
    }
    encoder = registry.get("image")
    assert isinstance(encoder, ClipImageEncoder) and isinstance(encoder, ImageEncoder)
    assert encoder.dim == TINY_CLIP_DIM == ClipImageEncoder.output_dim(model=str(tiny_clip_dir))
    assert str(tiny_clip_dir) in encoder.version
    vecs = encoder.encode([shirt(), handbag(), Image.new("RGBA", (3, 7))])
    assert vecs.shape == (3, TINY_CLIP_DIM) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vecs[0], vecs[1])  # the image reaches the model


def test_clip_encoder_matches_transformers_directly(tiny_clip_dir):
    import torch
    from transformers import CLIPModel

    encoder = ClipImageEncoder(model=str(tiny_clip_dir), device="cpu")
    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    pixels = encoder.parts.image_processor(images=[shirt(32)], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        out = model.get_image_features(pixel_values=pixels)
    ref = (out if isinstance(out, torch.Tensor) else out.pooler_output)[0].numpy()
    np.testing.assert_allclose(encoder.encode([shirt(32)])[0], ref / np.linalg.norm(ref), atol=1e-4)


def test_missing_clip_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="CLIP"):
        ClipImageEncoder(model=str(tmp_path / "nowhere"))


def test_device_selection(monkeypatch, settings):
    import torch

    assert select_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="CUDA"):
        select_device("cuda")
    settings.STYLEREC = {"DEVICE": "cpu"}
    assert resolve_device(None) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == "cuda"
    settings.STYLEREC = {"DEVICE": "auto"}
    assert resolve_device(None) == "cuda"
    assert resolve_device("cpu") == "cpu"  # the option beats the setting


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_efficientnet_on_cuda_in_half_precision():
    cpu = EfficientNetImageEncoder(device="cpu").encode([shirt(), handbag()])
    gpu_encoder = EfficientNetImageEncoder(device="cuda")
    gpu = gpu_encoder.encode([shirt(), handbag()])
    assert gpu.dtype == np.float32 and next(gpu_encoder._model.parameters()).dtype.itemsize == 2
    assert (cpu * gpu).sum(axis=1).min() > 0.99
