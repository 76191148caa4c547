"""Measure styled images: colour fidelity, background change and style strength, old vs new.

    python manage.py stylerec_benchmark_styled --products 200
    python manage.py stylerec_benchmark_styled --products 20 --presets 3,12 --source fashion-mnist

Writes a summary to stdout, everything to benchmarks/results/styled.json and a contact sheet
(photo | old | new) to docs/screenshots/styled_images.png; see ``stylerec.lab.styled_benchmark``
for how each number is made.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Benchmark styled images: the art filter of before against the faithful transfer."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=200, help="how many products (default 200)")
        parser.add_argument(
            "--source",
            choices=("auto", "db", "fashion-mnist"),
            default="auto",
            help="the store's products and styles (db), rendered Fashion-MNIST photos with the "
            "network's fixed styles (fashion-mnist), or db when it has both (auto)",
        )
        parser.add_argument(
            "--presets", default=None, help="fashion-mnist: comma-separated fixed styles (default all 26)"
        )
        parser.add_argument(
            "--strength", type=float, default=1.0, help="fashion-mnist: the new images' strength (default 1)"
        )
        parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--output", default="benchmarks/results/styled.json", help="JSON file to write")
        parser.add_argument(
            "--sheet", default="docs/screenshots/styled_images.png", help="contact sheet PNG ('' for none)"
        )
        parser.add_argument("--sheet-products", type=int, default=4)
        parser.add_argument(
            "--pairs", action="store_true", help="also write every product x style pair's figures (large)"
        )
        parser.add_argument(
            "--sheet-styles",
            default=None,
            help="comma-separated style slugs for the sheet (default: 3 of them)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from stylerec.lab import styled_benchmark as bench
        from stylerec.lab.benchmark import machine_info
        from stylerec.ml.transfer import OnnxStyleTransfer

        started = time.time()
        load_at_start = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
        count = options["products"]
        if count < 1:
            raise CommandError("--products must be at least 1")
        source = options["source"]
        products: list[Any] = []
        styles: list[Any] = []
        if source in ("auto", "db"):
            products, styles = _store_products_and_styles(count)
            if source == "db" and not (products and styles):
                raise CommandError("the database has no active products with a photo and active styles")
        if not (products and styles):
            source = "fashion-mnist"
            presets = (
                [int(p) for p in options["presets"].split(",")]
                if options["presets"]
                else range(bench.PRESETS)
            )
            products = bench.fashion_products(count, seed=options["seed"])
            styles = bench.preset_styles(list(presets), options["strength"])
        else:
            source = "db"
        transfer = OnnxStyleTransfer(device="cpu", threads=options["threads"])
        art_filter = OnnxStyleTransfer(device="cpu", threads=options["threads"], faithful=False)
        slugs = [new.slug for _, new in styles]
        sheet_styles = (
            options["sheet_styles"].split(",")
            if options["sheet_styles"]
            else [slugs[i] for i in sorted({0, len(slugs) // 2, len(slugs) - 1})][:3]
        )
        self.stdout.write(f"{len(products)} products x {len(styles)} styles from {source} ...")
        report = bench.run(
            products,
            styles,
            transfer=transfer,
            art_filter=art_filter,
            sheet_products=options["sheet_products"],
            sheet_styles=sheet_styles,
            log=lambda msg: self.stdout.write(msg),
        )
        summary = bench.summarise(report)
        result = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_s": round(time.time() - started, 1),
            "source": source,
            "products": len(products),
            "styles": len(styles),
            "pairs": len(report.results),
            "machine": {**machine_info(), "load_average_at_start": load_at_start},
            "method": {
                "old": f"{art_filter.version}: the network's output mixed with the photo at the style's "
                "strength"
                + (
                    f" ({bench.OLD_PRESET_STRENGTH}, preserve_color off: the demo's settings of before)"
                    if source == "fashion-mnist"
                    else " and preserve_color"
                ),
                "new": f"{transfer.version}: the style's lightness pattern inside the product's mask, "
                f"a*/b* and background kept, colour budget {transfer.colour_budget:g} x strength"
                + (f" ({options['strength']:g})" if source == "fashion-mnist" else " (each style's)"),
                "images": f"JPEG quality {bench.JPEG_QUALITY} round trip, as stored",
                "photo_side_px": bench.PHOTO_SIDE if source == "fashion-mnist" else None,
                "mask": "true silhouette of the rendered photo"
                if source == "fashion-mnist"
                else "product_mask's silhouette of the photo",
                "style_strength": "Gram projection of multi-scale L* gradient statistics from the photo "
                "toward the network's raw rendering (0 photo, 1 style)",
            },
            "goals": bench.GOALS,
            "summary": summary,
        }
        if options["pairs"]:
            result["results"] = [
                {"product": r.product, "style": r.style, "old": _rounded(r.old), "new": _rounded(r.new)}
                for r in report.results
            ]
        path = Path(options["output"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        old, new = summary["old"], summary["new"]
        for label, key in (
            ("colour change inside the product (mean ΔE2000)", "delta_e_inside"),
            ("background change (mean ΔE2000)", "delta_e_outside"),
            ("style strength (0 photo, 1 style)", "style_strength"),
        ):
            self.stdout.write(f"{label}: old {old[key]['mean']:.2f}  new {new[key]['mean']:.2f}")
        self.stdout.write(f"new strength / old: {summary['new_strength_share_of_old']}")
        self.stdout.write(f"goals met by the new images: {summary['goals_met_by_new']}")
        if "product_mask" in summary:
            self.stdout.write(f"product_mask IoU: {summary['product_mask']['iou_vs_true_silhouette']}")
        if options["sheet"] and report.sheet:
            sheet_path = Path(options["sheet"])
            sheet_path.parent.mkdir(parents=True, exist_ok=True)
            bench.contact_sheet(report.sheet).save(sheet_path, optimize=True)
            self.stdout.write(f"wrote {sheet_path}")
        self.stdout.write(self.style.SUCCESS(f"wrote {path}"))


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 3) for key, value in values.items()}


def _store_products_and_styles(count: int) -> tuple[list[Any], list[Any]]:
    """The store's first ``count`` active products with a photo and its active styles, as
    (old spec, new spec) pairs (the same settings: the old image is the art filter's), or two empty
    lists when the database has none (or no tables yet)."""
    from django.db import DatabaseError

    from stylerec.lab.styled_benchmark import Product
    from stylerec.models import Style, get_product_model
    from stylerec.services.artifacts import image_file_load, style_spec

    try:
        styles = [style_spec(s) for s in Style.objects.filter(is_active=True).order_by("slug")]
        styles = [s for s in styles if s.transfer_preset is not None or s.reference_image is not None]
        rows = list(
            get_product_model().objects.filter(is_active=True).exclude(image="").order_by("pk")[:count]
        )
    except DatabaseError:
        return [], []
    products = []
    for row in rows:
        try:
            products.append(Product(f"{row.pk}", image_file_load(row.image)))
        except Exception:  # noqa: BLE001 - a broken photo is left out, as the pipeline does
            continue
    return products, [(spec, spec) for spec in styles]
