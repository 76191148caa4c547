"""Measure the text-side models on fixed held-out data and record the numbers.

    python manage.py stylerec_eval_text                # everything
    python manage.py stylerec_eval_text --limit 300    # quick: 300 test reviews per language

Sentiment: the configured SENTIMENT_MODEL on the fixed test split of ``stylerec.lab.datasets``
(accuracy, macro-F1 per language), and on the product-review check sets beside VADER (English) and
SnowNLP (Chinese): accuracy, macro-F1, AUC, the majority class's share and the neutral share.
Preferences: the configured PREFERENCE_EXTRACTOR on
``stylerec/data/preference_checkset.jsonl`` (micro precision / recall over (key, polarity)).
Speed: texts per second of the TEXT_ENCODER and the sentiment model on real reviews, batched.

Writes ``benchmarks/results/sentiment_eval.json`` and ``preference_eval.json``.
"""

from __future__ import annotations

import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from stylerec.ml.base import ModelLoadError


def default_output_dir() -> Path:
    return Path(getattr(settings, "BASE_DIR", Path.cwd())) / "benchmarks" / "results"


def throughput(fn, texts: list[str], repeats: int = 2) -> float:
    """Texts per second of ``fn(texts)``, best of ``repeats`` after one warm-up call."""
    fn(texts[:8])
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - started)
    return round(len(texts) / best, 1)


class Command(BaseCommand):
    help = "Evaluate the sentiment model and the preference extractor; write benchmarks/results/*.json."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=None, help="test reviews per language (default: all)"
        )
        parser.add_argument(
            "--output-dir", type=Path, default=None, help="default: <BASE_DIR>/benchmarks/results"
        )
        parser.add_argument(
            "--speed-texts", type=int, default=256, help="reviews per language timed for speed"
        )
        parser.add_argument("--show-errors", action="store_true", help="list the check-set sentences missed")

    def handle(self, *args, limit=None, output_dir=None, speed_texts=256, show_errors=False, **options):
        import torch

        from stylerec.lab.datasets import LANGUAGES, labelled_reviews
        from stylerec.lab.sentiment_training import evaluate_check_sets, evaluate_sentiment
        from stylerec.ml import registry
        from stylerec.ml.preferences import evaluate_preferences, preference_checkset

        out_dir = output_dir or default_output_dir()
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            sentiment = registry.get("sentiment")
            encoder = registry.get("text")
        except ModelLoadError as exc:
            raise CommandError(str(exc)) from exc
        environment = {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "cuda": torch.cuda.is_available(),
        }

        languages = {}
        speed = {}
        self.stdout.write(f"Sentiment: {sentiment.version}")
        self.stdout.write(f"{'language':<10}{'n':>7}{'accuracy':>10}{'macro-F1':>10}")
        for language in LANGUAGES:
            result = evaluate_sentiment(sentiment, language=language, limit=limit)
            languages[language] = result
            self.stdout.write(
                f"{language:<10}{result['n']:>7}{result['accuracy']:>10.4f}{result['macro_f1']:>10.4f}"
            )
            sample = [t for t, _ in labelled_reviews(language=language, split="test")[:speed_texts]]
            speed[language] = {
                "n_texts": len(sample),
                "mean_chars": round(sum(map(len, sample)) / max(1, len(sample)), 1),
                "text_encoder_texts_per_s": throughput(encoder.encode, sample),
                "sentiment_texts_per_s": throughput(sentiment.predict, sample, repeats=1),
            }
        check_sets = evaluate_check_sets(sentiment, limit=limit)
        self.stdout.write("Check sets (never trained on): accuracy / macro-F1 / AUC")
        for name, row in check_sets.items():
            (baseline,) = [k for k in row if k not in ("language", "source", "model")]
            m, b = row["model"], row[baseline]
            self.stdout.write(
                f"  {name:<13} n={m['n']:<5} model {m['accuracy']:.4f} / {m['macro_f1']:.4f} / {m['auc']:.4f}"
                f"   {baseline} {b['accuracy']:.4f} / {b['macro_f1']:.4f} / {b['auc']:.4f}"
                f"   majority {m['majority']:.4f}, neutral {m['neutral_share']:.1%}"
            )
        self.stdout.write(f"Speed ({environment['torch_threads']} torch threads, batched, texts/s):")
        for language, s in speed.items():
            self.stdout.write(
                f"  {language}: text encoder {s['text_encoder_texts_per_s']}, "
                f"sentiment {s['sentiment_texts_per_s']} (mean {s['mean_chars']} chars)"
            )
        now = datetime.now(UTC).isoformat()
        sentiment_report = {
            "created": now,
            "model": sentiment.version,
            "split": "fixed held-out test split of stylerec.lab.datasets (hash of text, 20%)",
            "limit": limit,
            "languages": languages,
            "check_sets": check_sets,
            "text_encoder": encoder.version,
            "speed": speed,
            "environment": environment,
        }
        manifest = getattr(sentiment, "manifest", None)
        if manifest:
            sentiment_report["training"] = {
                k: manifest.get(k)
                for k in (
                    "version",
                    "created",
                    "source",
                    "recipe",
                    "recipes",
                    "seed",
                    "split",
                    "embedders",
                    "base_models",
                    "device",
                    "threads",
                    "data",
                    "warm_start",
                    "metrics",
                    "sample_metrics",
                    "size_bytes",
                    "train_seconds",
                )
            }
        (out_dir / "sentiment_eval.json").write_text(
            json.dumps(sentiment_report, indent=2, ensure_ascii=False)
        )

        extractor = registry.get("preferences")
        rows = preference_checkset()
        report = evaluate_preferences(extractor, rows)
        self.stdout.write(f"Preferences: {extractor.version} on {len(rows)} check-set sentences")
        self.stdout.write(f"{'subset':<10}{'precision':>10}{'recall':>10}{'F1':>10}")
        for group in ("all", "en", "zh", "mixed"):
            if group in report:
                g = report[group]
                self.stdout.write(f"{group:<10}{g['precision']:>10.4f}{g['recall']:>10.4f}{g['f1']:>10.4f}")
        if show_errors:
            for error in report["errors"]:
                self.stdout.write(f"  {error['text']}  missed={error['missed']} extra={error['extra']}")
        (out_dir / "preference_eval.json").write_text(
            json.dumps(
                {"created": now, "extractor": extractor.version, **report}, indent=2, ensure_ascii=False
            )
        )
        self.stdout.write(
            self.style.SUCCESS(f"wrote {out_dir / 'sentiment_eval.json'} and preference_eval.json")
        )
