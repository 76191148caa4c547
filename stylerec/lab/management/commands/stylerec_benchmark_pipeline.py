"""How close the artifact pipeline gets to the raw speed of its models.

    manage.py stylerec_benchmark_pipeline --n 200

For each kind, N synthetic products are created (in a transaction that is rolled back at the end,
with images in a temporary media folder) and backfilled end to end: find what needs work, read
and decode images from storage, run the model in batches, write vectors and states under row
locks. Beside it, the same model encodes the same inputs, already in memory, at batch size 32.
The ratio says what the pipeline costs on top of the model; the goal is at least 0.8.
Writes ``benchmarks/results/pipeline.json``.
"""

from __future__ import annotations

import io
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from stylerec.conf import stylerec_settings
from stylerec.ml import registry
from stylerec.models import get_product_model
from stylerec.services import artifacts

RAW_BATCH = 32
GOAL = 0.8
MODEL_OF = {artifacts.PRODUCT_IMAGE: "image", artifacts.PRODUCT_TEXT: "text"}


def synthetic_photo(i: int) -> Any:
    """A 400x500 'product photo': a coloured garment-like shape on white, different per i."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 500), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    colour = ((i * 67) % 256, (i * 131) % 256, (i * 29) % 256)
    draw.rectangle((90 + i % 40, 80, 310 - i % 30, 440), fill=colour)
    draw.ellipse((150, 40 + i % 20, 250, 140), fill=tuple(255 - c for c in colour))
    return image


def synthetic_text(i: int) -> str:
    words = [
        "retro",
        "linen",
        "oversized",
        "minimal",
        "floral",
        "wool",
        "slim",
        "vintage",
        "cotton",
        "summer",
    ]
    picked = " ".join(words[(i * k) % len(words)] for k in (1, 3, 7))
    description = f"A {picked} shirt with a relaxed fit, soft fabric and long sleeves."
    return f"{picked.title()} shirt {i}\nAcme\nShirt\n{description}"


class Command(BaseCommand):
    help = "Benchmark the artifact pipeline against the raw model throughput (batch size 32)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--n", type=int, default=200)
        parser.add_argument("--repeat", type=int, default=2, help="Alternate runs; the best of each is kept.")
        parser.add_argument(
            "--kind", default="product_image,product_text", help="product_image and/or product_text"
        )
        parser.add_argument(
            "--output", default=str(Path(settings.BASE_DIR) / "benchmarks/results/pipeline.json")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        n = options["n"]
        kinds = [artifacts.KIND_BY_OPTION[k.strip()].name for k in options["kind"].split(",") if k.strip()]
        images = [synthetic_photo(i) for i in range(n)]
        texts = [synthetic_text(i) for i in range(n)]
        rows = []
        for kind in kinds:
            model = registry.get(MODEL_OF[kind])
            inputs = images if kind == artifacts.PRODUCT_IMAGE else texts
            model.encode(inputs[:RAW_BATCH])  # load the weights and warm up before timing anything
            # Alternating runs and keeping the best of each damps the noise of a shared machine.
            raw = pipeline = 0.0
            for _ in range(max(1, options["repeat"])):
                raw = max(raw, self.raw_throughput(model, inputs))
                pipeline = max(pipeline, self.pipeline_throughput(kind, images, texts))
            rows.append(
                {
                    "kind": kind,
                    "model": model.version,
                    "device": str(getattr(model, "device", "") or stylerec_settings.DEVICE),
                    "n": n,
                    "repeat": options["repeat"],
                    "batch_size": RAW_BATCH,
                    "raw_items_per_s": round(raw, 1),
                    "pipeline_items_per_s": round(pipeline, 1),
                    "ratio": round(pipeline / raw, 3),
                    "goal_met": pipeline / raw >= GOAL,
                }
            )
        self.report(rows, options["output"])

    def raw_throughput(self, model: Any, inputs: list[Any]) -> float:
        start = time.perf_counter()
        for i in range(0, len(inputs), RAW_BATCH):
            model.encode(inputs[i : i + RAW_BATCH])
        return len(inputs) / (time.perf_counter() - start)

    def pipeline_throughput(self, kind: str, images: list[Any], texts: list[str]) -> float:
        product_model = get_product_model()
        # bulk_create sends no post_save: nothing is enqueued, the backfill below does all the work.
        # (STYLEREC is not overridden: that would unload the warm model, and loading is not timed.)
        with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
            with transaction.atomic():
                products = []
                for i, (image, text) in enumerate(zip(images, texts, strict=True)):
                    title, brand, category, description = text.split("\n")
                    product = product_model(
                        title=title, brand=brand, category=category, description=description, price=10
                    )
                    buffer = io.BytesIO()
                    image.save(buffer, format="JPEG", quality=90)
                    product.image.save(f"bench-{i}.jpg", ContentFile(buffer.getvalue()), save=False)
                    products.append(product)
                ids = [p.pk for p in product_model.objects.bulk_create(products)]
                start = time.perf_counter()
                todo = artifacts.artifacts_needing_work(kind=kind, ids=ids)
                for i in range(0, len(todo), RAW_BATCH):
                    artifacts.artifacts_compute(kind=kind, ids=todo[i : i + RAW_BATCH])
                elapsed = time.perf_counter() - start
                done = artifacts.ArtifactState.objects.filter(
                    kind=kind, object_id__in=ids, status="ready"
                ).count()
                transaction.set_rollback(True)  # leave the database as it was
        if done != len(ids):
            self.stderr.write(f"warning: {kind}: only {done} of {len(ids)} computed")
        return len(ids) / elapsed

    def report(self, rows: list[dict[str, Any]], output: str) -> None:
        header = f"{'artifact':<16}{'device':<8}{'raw model/s':>13}{'pipeline/s':>12}{'ratio':>8}"
        header += f"  goal ≥ {GOAL:.0%}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for row in rows:
            self.stdout.write(
                f"{row['kind']:<16}{row['device']:<8}{row['raw_items_per_s']:>13.1f}{row['pipeline_items_per_s']:>12.1f}"
                f"{row['ratio']:>8.2f}  {'met' if row['goal_met'] else 'NOT met'}"
            )
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": _cpu_count()}
        path.write_text(json.dumps({"goal_ratio": GOAL, "machine": machine, "rows": rows}, indent=2) + "\n")
        self.stdout.write(f"wrote {path}")


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
