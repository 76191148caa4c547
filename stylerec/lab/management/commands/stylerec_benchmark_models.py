"""Measure the configured models: items/s at several batch sizes, load time, memory, int8 trade-off.

    python manage.py stylerec_benchmark_models
    python manage.py stylerec_benchmark_models --kinds image,style_transfer --quick

Writes a table to stdout and everything to benchmarks/results/models.json (see
``stylerec.lab.benchmark`` for how each number is made).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Benchmark the configured stylerec models (throughput, memory, load time, int8)."
    # Each kind reports its own failure in the table; a misconfigured kind must not stop the
    # measurement of the others (the system checks would refuse to start at all).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        from stylerec.lab.benchmark import ALL_KINDS

        parser.add_argument(
            "--kinds",
            default=",".join(ALL_KINDS),
            help=f"comma-separated model kinds (default: {','.join(ALL_KINDS)}; also: preferences)",
        )
        parser.add_argument(
            "--quick", action="store_true", help="batch sizes 1 and 8, 3 repeats, small samples"
        )
        parser.add_argument(
            "--repeats", type=int, default=None, help="timed calls per batch size (default 5)"
        )
        parser.add_argument("--batch-sizes", default=None, help="comma-separated (default 1,8,32)")
        parser.add_argument("--no-int8", action="store_true", help="skip dynamic int8 quantization")
        parser.add_argument("--no-cuda", action="store_true", help="CPU only even when CUDA is present")
        parser.add_argument("--output", default="benchmarks/results/models.json", help="JSON file to write")
        parser.add_argument(
            "--merge",
            action="store_true",
            help="replace only the measured kinds' rows in an existing --output file, keep the others",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from stylerec.lab import benchmark
        from stylerec.ml.registry import KINDS

        kinds = [k.strip() for k in options["kinds"].split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise CommandError(f"unknown kinds {unknown}; choose from {sorted(KINDS)}")
        quick = options["quick"]
        batch_sizes = [int(b) for b in (options["batch_sizes"] or ("1,8" if quick else "1,8,32")).split(",")]
        repeats = options["repeats"] or (3 if quick else 5)
        devices = ["cpu"]
        if not options["no_cuda"]:
            import torch

            if torch.cuda.is_available():
                devices.append("cuda")

        started = time.time()
        load_at_start = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
        rows: list[benchmark.Row] = []
        for kind in kinds:
            self.stdout.write(f"{kind} ...")
            try:
                rows += benchmark.benchmark_kind(
                    kind,
                    batch_sizes=batch_sizes,
                    repeats=repeats,
                    devices=devices,
                    quantize=not options["no_int8"],
                    sentiment_sample=100 if quick else 2000,
                    log=lambda msg: self.stdout.write(msg),
                )
            except Exception as exc:  # one broken kind must not lose the others' numbers
                self.stderr.write(f"{kind}: {type(exc).__name__}: {exc}")
                rows.append(
                    benchmark.Row(kind, "", "", "cpu", "fp32", 0, note=f"failed: {type(exc).__name__}: {exc}")
                )

        self.stdout.write("")
        self.stdout.write(benchmark.format_table(rows))
        summary = benchmark.summarise(rows)
        for kind, s in summary.items():
            verdict = "meets" if s["met"] else "MISSES"
            self.stdout.write(
                f"{kind}: best {s['best_items_per_s']}/s at batch {s['at_batch_size']} "
                f"{verdict} the goal of {s['goal_items_per_s']}/s"
            )
        report = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_s": round(time.time() - started, 1),
            "quick": quick,
            "batch_sizes": batch_sizes,
            "repeats": repeats,
            "machine": {**benchmark.machine_info(), "load_average_at_start": load_at_start},
            "goals_items_per_s": benchmark.GOALS,
            "summary": summary,
            "results": benchmark.rows_as_dicts(rows),
        }
        path = Path(options["output"])
        if options["merge"] and path.is_file():
            report = merge_report(json.loads(path.read_text(encoding="utf-8")), report, kinds)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"wrote {path}"))


def merge_report(old: dict[str, Any], new: dict[str, Any], kinds: list[str]) -> dict[str, Any]:
    """``old`` with the rows and summaries of ``kinds`` taken from ``new``; the top-level run facts
    stay the old run's, and ``reruns[kind]`` says when and on what machine each rerun kind ran."""
    from stylerec.lab.benchmark import ALL_KINDS

    order = {kind: i for i, kind in enumerate(ALL_KINDS)}
    rows = [r for r in old.get("results", []) if r.get("kind") not in kinds] + new["results"]
    rows.sort(key=lambda r: order.get(r.get("kind"), len(order)))  # stable: each kind's rows keep their order
    summary = {k: v for k, v in old.get("summary", {}).items() if k not in kinds}
    summary.update(new["summary"])
    run = {key: new[key] for key in ("created", "duration_s", "quick", "batch_sizes", "repeats", "machine")}
    return {
        **old,
        "summary": {k: summary[k] for k in sorted(summary, key=lambda k: order.get(k, len(order)))},
        "results": rows,
        "reruns": {**old.get("reruns", {}), **{kind: run for kind in kinds}},
    }
