"""Fine-tune a transformer checkpoint into a binary ``AutoModelForSequenceClassification``.

A whole-checkpoint fine-tune (the result loads in ``HFSequenceClassifierSentiment``); the
sentiment trainer's own recipes fine-tune only the top layers over a cache of the lower ones
(``sentiment_training``) and share ``length_sorted_batches``. Runs on CUDA when present and on the
CPU otherwise (one epoch of 14k short reviews: ~10 minutes on 2 cores).

Choices, each for the CPU budget:

* the input word embeddings stay frozen: in a multilingual model they are most of the weights
  (250k pieces x 384 in multilingual-e5-small), most pieces never occur in 14k reviews, and their
  optimizer state alone would take over a gigabyte;
* batches are cut from length-sorted runs of the shuffled data, so little compute goes to padding;
* linear warm-up over the first 6% of steps, then linear decay; gradients clipped at 1.0;
* a fixed seed for data order and initialisation (CPU kernels are not bit-for-bit deterministic,
  so two runs still differ slightly: 0.8773 and 0.8804 held-out for the Chinese recipe).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

from stylerec.ml.base import ModelLoadError, select_device


def length_sorted_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled indices cut into batches of similar lengths, the batches themselves shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    run = batch_size * 50
    batches = []
    for start in range(0, len(order), run):
        chunk = sorted(order[start : start + run], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def finetune_binary_classifier(
    base: str | Path,
    texts: Sequence[str],
    labels: Sequence[int],
    output_dir: Path,
    *,
    epochs: float = 1.0,
    learning_rate: float = 5e-5,
    batch_size: int = 32,
    max_length: int = 128,
    seed: int = 0,
    device: str | None = None,
    on_step: Callable[[int, int, float], None] = lambda step, total, loss: None,
) -> Path:
    """Fine-tune ``base`` (a local ``transformers`` directory) on ``texts`` labelled 0 (negative)
    / 1 (positive); save the classifier and its tokenizer to ``output_dir`` and return it.

    ``epochs`` may be fractional (a share of the last epoch's batches is used).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if len(texts) != len(labels) or not texts:
        raise ValueError("texts and labels must be non-empty and of equal length")
    if set(labels) - {0, 1}:
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=2,
            id2label={0: "negative", 1: "positive"},
            label2id={"negative": 0, "positive": 1},
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load {base} for fine-tuning ({exc})") from exc
    device = select_device(device or "auto")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model.get_input_embeddings().weight.requires_grad_(False)
    model.to(device).train()
    max_length = min(max_length, getattr(model.config, "max_position_embeddings", None) or max_length)
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    y = torch.tensor(list(labels), dtype=torch.long)
    lengths = [len(row) for row in ids]

    per_epoch = -(-len(ids) // batch_size)
    total = max(1, round(per_epoch * epochs))
    schedule: list[list[int]] = []
    while len(schedule) < total:
        schedule += length_sorted_batches(lengths, batch_size, rng)
    schedule = schedule[:total]

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
    warmup = max(1, round(0.06 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)
    )
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device == "cuda"
        else torch.autocast("cpu", enabled=False)
    )
    for step, batch in enumerate(schedule):
        inputs = tokenizer.pad([{"input_ids": ids[i]} for i in batch], return_tensors="pt").to(device)
        with autocast:
            logits = model(**inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), y[batch].to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        on_step(step + 1, total, float(loss.detach()))

    model.eval()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.to("cpu").save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir
