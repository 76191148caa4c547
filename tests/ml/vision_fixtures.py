"""Helpers for the image-side tests: synthetic product photos and a tiny CLIP checkpoint.

The CLIP checkpoint is randomly initialised (2 layers, 32 hidden units, 32 px images) and written with
``save_pretrained`` like a real one, so the tests load it through the production loaders without any
download. Its tokenizer is a byte-level BPE with a vocabulary of single bytes and a few merges,
written here because no CLIP vocabulary ships in an installed package.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

TINY_CLIP_DIM = 16  # projection_dim of the tiny checkpoint


def shirt(size: int = 128, colour: tuple[int, int, int] = (200, 40, 40), shift: int = 0) -> Image.Image:
    """A T-shirt silhouette on white, with a pocket and stripes so edges exist inside it too."""
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 128
    pts = [
        (40, 20),
        (88, 20),
        (118, 45),
        (100, 60),
        (92, 52),
        (92, 115),
        (36, 115),
        (36, 52),
        (28, 60),
        (10, 45),
    ]
    d.polygon([(x * s + shift, y * s) for x, y in pts], fill=colour, outline=(40, 40, 40))
    for y in range(60, 110, 12):
        d.line(
            [(38 * s + shift, y * s), (90 * s + shift, y * s)],
            fill=(250, 230, 120),
            width=max(1, round(2 * s)),
        )
    d.rectangle(
        [(70 * s + shift, 32 * s), (84 * s + shift, 44 * s)], outline=(20, 20, 20), width=max(1, round(s))
    )
    return img


def trousers(size: int = 128, colour: tuple[int, int, int] = (30, 60, 160)) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 128
    d.polygon(
        [(x * s, y * s) for x, y in [(42, 8), (86, 8), (92, 122), (70, 122), (64, 50), (58, 122), (36, 122)]],
        fill=colour,
        outline=(20, 20, 20),
    )
    return img


def handbag(size: int = 128, colour: tuple[int, int, int] = (120, 70, 30)) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 128
    d.rounded_rectangle(
        [(20 * s, 50 * s), (108 * s, 112 * s)], radius=round(10 * s), fill=colour, outline=(0, 0, 0)
    )
    d.arc(
        [(40 * s, 18 * s), (88 * s, 80 * s)], start=180, end=360, fill=(0, 0, 0), width=max(1, round(4 * s))
    )
    return img


def textured(size: int = 128, seed: int = 0) -> Image.Image:
    """A busy pattern, a stand-in for a painting used as a style reference."""
    import numpy as np

    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
    return Image.fromarray(arr).resize((size, size), Image.Resampling.NEAREST).filter(ImageFilter.SMOOTH)


def _bytes_to_unicode() -> dict[int, str]:
    # The GPT-2/CLIP byte-to-printable-character table.
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def write_tiny_clip_tokenizer_files(directory: Path) -> tuple[Path, Path]:
    chars = list(_bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    merges = [("r", "e"), ("t", "r"), ("e", "d</w>")]
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = directory / "vocab.json", directory / "merges.txt"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    merges_file.write_text(
        "#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8"
    )
    return vocab_file, merges_file


def make_tiny_clip(directory: Path, seed: int = 0) -> Path:
    """Write a randomly initialised tiny CLIP checkpoint (model, image processor, tokenizer)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    # from_pretrained on a folder of vocab.json + merges.txt works in transformers 4 and 5 alike.
    source = directory / "_tokenizer_source"
    write_tiny_clip_tokenizer_files(source)
    tokenizer = CLIPTokenizer.from_pretrained(source)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 32,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=TINY_CLIP_DIM,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(directory)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        directory
    )
    tokenizer.save_pretrained(directory)
    return directory
