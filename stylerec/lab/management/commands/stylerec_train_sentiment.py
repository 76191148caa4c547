"""Train the sentiment model (``stylerec.ml.sentiment.TrainedHeadSentiment``).

The package ships a head trained on the bundled reviews (``stylerec/data/sentiment/``), so a store
need not train. This command is for a store that wants its own: on its labelled reviews
(``--csv``) or again on the bundled ones.

    python manage.py stylerec_train_sentiment                      # bundled reviews; skipped when up to date
    python manage.py stylerec_train_sentiment --csv reviews.csv    # a store's own labelled reviews
    python manage.py stylerec_train_sentiment --recipe fast        # CPU recipe (default without CUDA)
    python manage.py stylerec_train_sentiment --recipe full        # full fine-tune (default with CUDA)
    python manage.py stylerec_train_sentiment --estimate-only      # how long it would take here
    python manage.py stylerec_train_sentiment --warm-start stylerec/data/sentiment --epochs 0
        # keep the shipped encoder layers (or train N more epochs from them), refit the rest

Saves ``STYLEREC['MODEL_DIR']/sentiment/<version>/`` (heads.json, <lang>.npz,
<lang>.encoder.safetensors, manifest.json); the loader takes the newest version there, and the
shipped head for a language the version has none for. Before training it prints how long the run
should take on this machine (a few timed batches, extrapolated).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from stylerec.ml.base import ModelLoadError


class Command(BaseCommand):
    help = "Train the sentiment model on the bundled labelled reviews or on a store's own CSV."

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipe",
            choices=("fast", "full"),
            default=None,
            help="fast: top encoder layers on the CPU (minutes); full: every layer (GPU). "
            "Default: full when CUDA is present, else fast",
        )
        parser.add_argument(
            "--csv",
            default=None,
            help="train on a CSV of labelled reviews: columns text,label (1/0, positive/negative) "
            "or text,rating (1-5: 4-5 positive, 1-2 negative, 3 dropped)",
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="training reviews per language (default: all)"
        )
        parser.add_argument(
            "--test-limit", type=int, default=None, help="held-out reviews scored per language (default: all)"
        )
        parser.add_argument("--force", action="store_true", help="train even if an up-to-date head exists")
        parser.add_argument(
            "--languages",
            default=None,
            help="comma-separated, from zh,en (default: both, or those in the CSV)",
        )
        parser.add_argument("--output-dir", default=None, help="default: STYLEREC['MODEL_DIR']/sentiment")
        parser.add_argument(
            "--estimate-only", action="store_true", help="print how long training would take, then stop"
        )
        parser.add_argument(
            "--warm-start",
            default=None,
            help="a version directory (or a folder of versions) whose encoder layers to start from",
        )
        parser.add_argument(
            "--epochs",
            type=int,
            default=None,
            help="fine-tuning epochs (default: the recipe's); 0 with --warm-start keeps its layers",
        )
        parser.add_argument(
            "--train-layers",
            type=int,
            default=None,
            help="top encoder layers to fine-tune (default: the recipe's; each is 3.5 MB in fp16)",
        )

    def handle(
        self,
        *args,
        recipe=None,
        csv=None,
        limit=None,
        test_limit=None,
        force=False,
        languages=None,
        output_dir=None,
        estimate_only=False,
        warm_start=None,
        epochs=None,
        train_layers=None,
        **options,
    ):
        from pathlib import Path

        from stylerec.lab.datasets import DatasetUnavailable, csv_reviews
        from stylerec.lab.sentiment_training import RECIPES, default_recipe, train_head
        from stylerec.ml.base import model_dir
        from stylerec.ml.sentiment import FORMAT, find_head

        recipe = recipe or default_recipe()
        data = None
        source = "bundled"
        if csv:
            try:
                data = csv_reviews(csv)
            except (OSError, ValueError) as exc:
                raise CommandError(f"--csv {csv}: {exc}") from exc
            source = f"csv:{Path(csv).name}"
            for lang, split in data.items():
                self.stdout.write(
                    f"{csv}: {lang}: {len(split['train'])} training and {len(split['test'])} held-out reviews"
                )
        if languages:
            langs = tuple(lang.strip() for lang in languages.split(",") if lang.strip())
        else:
            langs = tuple(data) if data is not None else ("zh", "en")
        unknown = [lang for lang in langs if lang not in RECIPES[recipe]]
        if unknown or not langs:
            raise CommandError(f"unknown languages {unknown}; choose from {sorted(RECIPES[recipe])}")
        if data is not None:
            missing = [lang for lang in langs if lang not in data]
            if missing:
                raise CommandError(f"{csv} has too few labelled reviews in {missing} to train on")
        target = Path(output_dir) if output_dir else model_dir() / "sentiment"
        if epochs is not None and epochs < 0:
            raise CommandError("--epochs must be 0 or more")
        if epochs == 0 and not warm_start:
            raise CommandError("--epochs 0 keeps fine-tuned layers: give them with --warm-start")
        if train_layers is not None and train_layers < 1:
            raise CommandError("--train-layers must be 1 or more")
        fresh = warm_start is None and epochs is None and train_layers is None
        if (
            fresh
            and not force
            and not estimate_only
            and data is None
            and limit is None
            and test_limit is None
        ):
            try:
                existing = find_head(target)
                manifest = json.loads((existing / "manifest.json").read_text(encoding="utf-8"))
            except (ModelLoadError, OSError, ValueError):
                manifest = None
            if (
                manifest
                and manifest.get("format") == FORMAT
                and manifest.get("limit") is None
                and manifest.get("source", "bundled") == "bundled"
                and manifest.get("recipe") == recipe
                and set(langs) <= set(manifest.get("languages", []))
                and all(manifest.get("recipes", {}).get(lang) == RECIPES[recipe][lang] for lang in langs)
            ):
                self.stdout.write(f"sentiment head {existing.name} is up to date (use --force to retrain)")
                return
        try:
            version_dir = train_head(
                output_dir=target,
                languages=langs,
                recipe=recipe,
                limit=limit,
                test_limit=test_limit,
                data=data,
                source=source,
                progress=lambda msg: self.stdout.write(msg),
                show_progress=True,
                estimate_only=estimate_only,
                warm_start=Path(warm_start) if warm_start else None,
                epochs=epochs,
                train_layers=train_layers,
            )
        except DatasetUnavailable as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if version_dir is None:
            return
        manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
        for lang, m in manifest["metrics"].items():
            self.stdout.write(
                self.style.SUCCESS(
                    f"{lang}: held-out n={m['n']} accuracy={m['accuracy']:.4f} macro-F1={m['macro_f1']:.4f}"
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"saved {version_dir} ({manifest['size_bytes'] / 1e6:.1f} MB) "
                f"in {manifest['train_seconds']:.0f} s "
                f"(estimated {manifest['estimated_seconds']:.0f} s)"
            )
        )
