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
def test_command_measures_the_text_backends_side_by_side_and_merges(tiny_bert_dir, settings, tmp_path):
    settings.STYLEREC = {
        **getattr(settings, "STYLEREC", {}),
        "TEXT_ENCODER_OPTIONS": {"model": str(tiny_bert_dir)},
        "MODEL_DIR": str(tmp_path / "models"),  # the tiny checkpoint's ONNX export goes here
    }
    out = tmp_path / "models.json"
    image_row = {"kind": "image", "precision": "fp32", "batch_size": 8, "items_per_s": 178.87}
    out.write_text(
        json.dumps(
            {
                "created": "earlier",
                "summary": {"image": {"best_items_per_s": 178.87}, "text": {"best_items_per_s": 1.0}},
                "results": [{"kind": "text", "precision": "fp32", "batch_size": 32}, image_row],
            }
        )
    )
    call_command(
        "stylerec_benchmark_models", kinds="text", repeats=1, batch_sizes="1,8", output=str(out), merge=True
    )
    report = json.loads(out.read_text())
    # the other kinds' rows and the file's own run facts are kept; the text rows are new
    assert report["created"] == "earlier" and report["results"][-1] == image_row
    assert report["summary"]["image"] == {"best_items_per_s": 178.87}
    assert set(report["reruns"]) == {"text"} and report["reruns"]["text"]["batch_sizes"] == [1, 8]
    rows = [r for r in report["results"] if r["kind"] == "text"]
    assert {(r["backend"], r["precision"], r["batch_size"]) for r in rows} == {
        (backend, precision, n)
        for backend in ("torch", "onnx")
        for precision in ("fp32", "int8")
        for n in (1, 8)
    }
    assert all(r["items_per_s"] > 0 and r["version"].startswith("tiny-bert") for r in rows)
    assert all("vs torch fp32 (side by side" in r["note"] for r in rows)
    by = {(r["backend"], r["precision"]): r["accuracy"] for r in rows}
    assert by[("torch", "fp32")]["min_cosine_to_torch_fp32"] == pytest.approx(1.0, abs=1e-6)
    assert by[("onnx", "fp32")]["min_cosine_to_torch_fp32"] >= 0.999
    assert 0 < by[("onnx", "int8")]["mean_cosine_to_torch_fp32"] <= 1
    assert report["summary"]["text"]["goal_items_per_s"] == 150.0
    assert report["summary"]["text"]["backend"] in ("torch", "onnx")
