"""The model benchmark: int8 copies reach torch modules wherever a model keeps them, and the
command measures a configured model (a tiny BERT here) and writes its table as JSON."""

from __future__ import annotations

import json

import pytest
import torch
from django.core.management import call_command

from stylerec.lab.benchmark import int8_copy, torch_modules


class _Inner:
    def __init__(self) -> None:
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 4))


class _Outer:
    def __init__(self) -> None:
        self.direct = torch.nn.Sequential(torch.nn.Linear(4, 2))
        self.by_language = {"zh": _Inner()}  # loaded lazily into a dict, like the sentiment heads


def test_int8_copy_reaches_modules_in_attributes_and_dicts():
    model = _Outer()
    assert {name for _, name, _ in torch_modules(model)} == {"direct", "net"}
    quantized = int8_copy(model)
    q_linear = torch.ao.nn.quantized.dynamic.Linear
    assert isinstance(quantized.direct[0], q_linear)
    assert isinstance(quantized.by_language["zh"].net[0], q_linear)
    # the original keeps its float modules
    assert type(model.direct[0]) is torch.nn.Linear
    assert type(model.by_language["zh"].net[0]) is torch.nn.Linear


@pytest.mark.slow
def test_command_measures_the_configured_text_encoder(tiny_bert_dir, settings, tmp_path):
    settings.STYLEREC = {
        **getattr(settings, "STYLEREC", {}),
        "TEXT_ENCODER_OPTIONS": {"model": str(tiny_bert_dir)},
    }
    out = tmp_path / "models.json"
    call_command("stylerec_benchmark_models", kinds="text", repeats=1, batch_sizes="1,8", output=str(out))
    report = json.loads(out.read_text())
    rows = report["results"]
    assert {(r["precision"], r["batch_size"]) for r in rows} == {
        ("fp32", 1),
        ("fp32", 8),
        ("int8", 1),
        ("int8", 8),
    }
    assert all(r["items_per_s"] > 0 and r["version"].startswith("tiny-bert") for r in rows)
    assert 0 < rows[-1]["accuracy"]["mean_cosine_fp32_int8"] <= 1
    assert report["summary"]["text"]["goal_items_per_s"] == 150.0
