"""Style scorers: prototype (fake and real encoders) and zero-shot CLIP through the production loader."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylerec.ml import registry
from stylerec.ml.base import StyleScorer, StyleSpec
from stylerec.ml.styles import ClipStyleScorer, PrototypeStyleScorer, standardise_rows, style_prompt
from tests.ml.vision_fixtures import handbag, make_tiny_clip, shirt, textured, trousers


class ColourEncoder:
    """Fake image encoder: the normalised mean colour (3-d)."""

    version = "colour"
    dim = 3

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, images):
        self.calls += 1
        v = np.array([np.asarray(img.convert("RGB"), dtype=np.float64).mean((0, 1)) + 1 for img in images])
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


class WordEncoder:
    """Fake text encoder: counts of a few words (with a constant so no vector is zero)."""

    version = "words"
    WORDS = ("red", "blue", "green", "vintage", "sporty", "minimal")

    def encode(self, texts):
        v = np.array([[t.lower().count(w) for w in self.WORDS] + [0.1] for t in texts], dtype=np.float64)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)
STYLES = [
    StyleSpec(slug="red", name="Red", keywords=("red",), reference_image=Image.new("RGB", (8, 8), RED)),
    StyleSpec(slug="blue", name="Blue", keywords=("blue",), reference_image=Image.new("RGB", (8, 8), BLUE)),
    StyleSpec(
        slug="green", name="Green", keywords=("green",), reference_image=Image.new("RGB", (8, 8), GREEN)
    ),
]


def fake_scorer(**kwargs) -> PrototypeStyleScorer:
    return PrototypeStyleScorer(image_encoder=ColourEncoder(), text_encoder=WordEncoder(), **kwargs)


def test_weights_are_a_distribution_over_active_styles():
    scorer = fake_scorer()
    assert isinstance(scorer, StyleScorer)
    out = scorer.score([Image.new("RGB", (5, 5), RED), None], ["a red tee", "blue jeans"], STYLES)
    for weights in out:
        assert set(weights) == {"red", "blue", "green"}
        assert all(0.0 <= w <= 1.0 for w in weights.values())
        assert sum(weights.values()) == pytest.approx(1.0)
    assert max(out[0], key=out[0].get) == "red"
    assert max(out[1], key=out[1].get) == "blue"  # text alone when there is no image


def test_image_prototypes_decide_when_there_is_no_text():
    scorer = fake_scorer()
    (weights,) = scorer.score([Image.new("RGB", (5, 5), GREEN)], [""], STYLES)
    assert max(weights, key=weights.get) == "green" and weights["green"] > 0.5


def test_text_decides_when_image_weight_is_zero():
    scorer = fake_scorer(image_weight=0.0)
    (weights,) = scorer.score([Image.new("RGB", (5, 5), RED)], ["deep green wool"], STYLES)
    assert max(weights, key=weights.get) == "green"


def test_image_and_text_are_combined():
    # The image says red, the text says blue: the mix gives both more than green.
    (weights,) = fake_scorer().score([Image.new("RGB", (5, 5), RED)], ["blue blue blue"], STYLES)
    assert weights["red"] > weights["green"] and weights["blue"] > weights["green"]


def test_temperature_sharpens():
    img, text = [Image.new("RGB", (5, 5), RED)], ["red"]
    soft = fake_scorer(temperature=2.0).score(img, text, STYLES)[0]["red"]
    sharp = fake_scorer(temperature=0.2).score(img, text, STYLES)[0]["red"]
    assert sharp > soft > 1 / 3


def test_style_without_reference_image_uses_its_text():
    styles = [*STYLES, StyleSpec(slug="vintage", name="Vintage", description="old school vintage look")]
    (weights,) = fake_scorer().score([Image.new("RGB", (5, 5), BLUE)], ["a vintage vintage jacket"], styles)
    assert weights["vintage"] == max(weights.values())


def test_prototypes_are_cached_between_calls():
    scorer = fake_scorer()
    scorer.score([Image.new("RGB", (5, 5), RED)], [""], STYLES)
    calls = scorer.image_encoder.calls
    scorer.score([Image.new("RGB", (5, 5), RED)], [""], STYLES)
    assert scorer.image_encoder.calls == calls + 1  # only the product image was encoded again


def test_edge_cases():
    scorer = fake_scorer()
    assert scorer.score([], [], STYLES) == []
    assert scorer.score([Image.new("RGB", (2, 2))], ["x"], []) == [{}]
    assert scorer.score([Image.new("RGB", (2, 2), RED)], [""], STYLES[:1]) == [{"red": 1.0}]
    (uniform,) = scorer.score([None], [""], STYLES)
    assert all(w == pytest.approx(1 / 3) for w in uniform.values())
    with pytest.raises(ValueError):
        scorer.score([None], [], STYLES)


def test_standardise_rows_floors_the_spread():
    z = standardise_rows(np.array([[0.50, 0.51, np.nan], [0.1, 0.9, 0.5]]), min_std=0.05)
    assert np.isnan(z[0, 2]) and abs(z[0, 1] - z[0, 0]) == pytest.approx(0.2)  # 0.01 / 0.05, not blown up
    assert z[1, 1] > 1


def test_style_prompt_uses_name_description_and_keywords():
    spec = StyleSpec(slug="x", name="Retro", description="Seventies colours", keywords=("复古", "retro"))
    assert style_prompt(spec) == "Retro. Seventies colours. 复古, retro"


@pytest.mark.slow  # loads MiniLM and EfficientNet (~10 s on 2 cores, most of it imports and weights)
def test_prototype_scorer_with_the_real_default_encoders(settings):
    settings.STYLEREC = {"IMAGE_ENCODER_OPTIONS": {"device": "cpu"}}
    scorer = registry.get("style_scorer")
    assert isinstance(scorer, PrototypeStyleScorer)
    styles = [
        StyleSpec(
            slug="casual", name="Casual tee", description="relaxed cotton t-shirt", reference_image=shirt(96)
        ),
        StyleSpec(
            slug="tailored",
            name="Tailored trousers",
            description="sharp formal trousers",
            reference_image=trousers(96),
        ),
        StyleSpec(
            slug="leather",
            name="Leather goods",
            description="leather handbag and accessories",
            reference_image=handbag(96),
        ),
    ]
    products = [shirt(96, colour=(40, 150, 60), shift=3), handbag(96, colour=(60, 40, 20))]
    out = scorer.score(products, ["green cotton t-shirt", "brown leather handbag"], styles)
    assert max(out[0], key=out[0].get) == "casual"
    assert max(out[1], key=out[1].get) == "leather"
    assert "efficientnet" in scorer.version


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip-styles"))


def test_clip_scorer_through_the_production_loader(tiny_clip_dir, settings):
    settings.STYLEREC = {
        "STYLE_SCORER": "stylerec.ml.styles.ClipStyleScorer",
        "STYLE_SCORER_OPTIONS": {"model": str(tiny_clip_dir), "device": "cpu"},
    }
    scorer = registry.get("style_scorer")
    assert isinstance(scorer, ClipStyleScorer) and isinstance(scorer, StyleScorer)
    styles = [
        StyleSpec(slug="retro", name="retro", description="red"),
        StyleSpec(slug="street", name="street"),
        StyleSpec(slug="boho", name="boho", keywords=("tree",)),
    ]
    out = scorer.score([shirt(), textured(64), None], ["", "red tee", "boho dress"], styles)
    for weights in out:
        assert set(weights) == {"retro", "street", "boho"}
        assert sum(weights.values()) == pytest.approx(1.0) and all(0 <= w <= 1 for w in weights.values())
    assert out[0] != out[1]  # the image reaches the model


def test_clip_scorer_is_clip_zero_shot(tiny_clip_dir):
    """With no product text the weights are CLIP's softmax(logit_scale * cos(image, prompt))."""
    import torch
    from transformers import CLIPModel

    scorer = ClipStyleScorer(model=str(tiny_clip_dir), device="cpu")
    styles = [StyleSpec(slug="a", name="retro"), StyleSpec(slug="b", name="street", description="tree")]
    (weights,) = scorer.score([shirt(32)], [""], styles)
    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    parts = scorer.parts
    tokens = parts.tokenizer(
        [scorer.prompt(s) for s in styles], padding=True, truncation=True, max_length=32, return_tensors="pt"
    )
    pixels = parts.image_processor(images=[shirt(32)], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        logits = model(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixels
        ).logits_per_image[0]
    expected = torch.softmax(logits, dim=0).numpy()
    np.testing.assert_allclose([weights["a"], weights["b"]], expected, atol=1e-4)


def test_clip_scorer_text_weight_uses_product_text(tiny_clip_dir):
    styles = [StyleSpec(slug="a", name="retro"), StyleSpec(slug="b", name="street")]
    image_only = ClipStyleScorer(model=str(tiny_clip_dir), device="cpu", temperature=0.01)
    with_text = ClipStyleScorer(model=str(tiny_clip_dir), device="cpu", temperature=0.01, text_weight=0.9)
    a = image_only.score([shirt(32)], ["street street"], styles)[0]
    b = with_text.score([shirt(32)], ["street street"], styles)[0]
    assert a != pytest.approx(b)
