"""Train the offline sentiment head (``stylerec.ml.sentiment.TrainedHeadSentiment``).

    python manage.py stylerec_train_sentiment              # once; skipped when a full head exists
    python manage.py stylerec_train_sentiment --force      # retrain anyway (a new version)
    python manage.py stylerec_train_sentiment --limit 500  # quick head on 500 reviews per language

Saves ``STYLEREC['MODEL_DIR']/sentiment/<version>/`` (head.pkl, manifest.json and ``zh/``, the
fine-tuned Chinese checkpoint); the loader takes the newest version. English embeddings are cached
beside it. The Chinese fine-tuning is the slow part on a CPU (~20 minutes on 2 cores; it uses CUDA
when present).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from stylerec.ml.base import ModelLoadError


class Command(BaseCommand):
    help = "Train the sentiment models on the bundled labelled Chinese and English reviews."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=None, help="training reviews per language (default: all)"
        )
        parser.add_argument(
            "--test-limit", type=int, default=None, help="held-out reviews scored per language (default: all)"
        )
        parser.add_argument("--force", action="store_true", help="train even if a full head already exists")
        parser.add_argument(
            "--languages", default="zh,en", help="comma-separated, from zh,en (default: both)"
        )
        parser.add_argument("--output-dir", default=None, help="default: STYLEREC['MODEL_DIR']/sentiment")

    def handle(
        self, *args, limit=None, test_limit=None, force=False, languages="zh,en", output_dir=None, **options
    ):
        from pathlib import Path

        from stylerec.lab.datasets import DatasetUnavailable
        from stylerec.lab.sentiment_training import RECIPES, train_head
        from stylerec.ml.base import model_dir
        from stylerec.ml.sentiment import FORMAT, find_head

        langs = tuple(lang.strip() for lang in languages.split(",") if lang.strip())
        unknown = [lang for lang in langs if lang not in RECIPES]
        if unknown or not langs:
            raise CommandError(f"unknown languages {unknown}; choose from {sorted(RECIPES)}")
        target = Path(output_dir) if output_dir else model_dir() / "sentiment"
        if not force and limit is None and test_limit is None:
            try:
                existing = find_head(target)
                manifest = json.loads((existing / "manifest.json").read_text(encoding="utf-8"))
            except (ModelLoadError, OSError, ValueError):
                manifest = None
            if (
                manifest
                and manifest.get("format") == FORMAT
                and manifest.get("limit") is None
                and set(langs) <= set(manifest.get("languages", []))
                and all(manifest.get("recipes", {}).get(lang) == RECIPES[lang] for lang in langs)
            ):
                self.stdout.write(f"sentiment head {existing.name} is up to date (use --force to retrain)")
                return
        try:
            version_dir = train_head(
                output_dir=target,
                languages=langs,
                limit=limit,
                test_limit=test_limit,
                progress=lambda msg: self.stdout.write(msg),
                show_progress=True,
            )
        except DatasetUnavailable as exc:
            raise CommandError(str(exc)) from exc
        manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
        for lang, m in manifest["metrics"].items():
            self.stdout.write(
                self.style.SUCCESS(
                    f"{lang}: held-out n={m['n']} accuracy={m['accuracy']:.4f} macro-F1={m['macro_f1']:.4f}"
                )
            )
        self.stdout.write(self.style.SUCCESS(f"saved {version_dir}"))
