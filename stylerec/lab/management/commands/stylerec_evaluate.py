"""Offline evaluation: stylerec (default and learned weights) against popularity, item-kNN,
BPR and ALS under temporal leave-one-out, ranked against the full catalog.

    python manage.py stylerec_evaluate                      # MovieLens-100K, the README table
    python manage.py stylerec_evaluate --dataset store      # the store's own interactions
    python manage.py stylerec_evaluate --dataset demo       # the demo's simulated histories
    python manage.py stylerec_evaluate --dataset movielens --max-users 60 --quick   # smoke run

Writes benchmarks/results/evaluation_<dataset>.json and .html.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stylerec.lab.evaluation import baselines, report
from stylerec.lab.evaluation.datasets import DATASETS, DatasetUnavailable, dataset_load
from stylerec.lab.evaluation.runner import evaluation_run


def database_migrate(stdout=None) -> bool:
    """Apply unapplied migrations (a fresh clone after ``make install`` has none applied), saying
    so; True when it migrated. The commands read the base RankingProfile from the database."""
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    if stdout is not None:
        stdout.write("the database has unapplied migrations: running `manage.py migrate` first")
    call_command("migrate", interactive=False, verbosity=0)
    return True


def base_profile_load(name: str | None):
    """The named profile, else the active one, else the model defaults (unsaved)."""
    from stylerec.models import RankingProfile
    from stylerec.ranking.profiles import profile_default

    if name:
        profile = RankingProfile.objects.filter(name=name).first()
        if profile is None:
            raise CommandError(f"no RankingProfile named {name!r}")
        return profile
    return RankingProfile.objects.filter(is_active=True).first() or profile_default()


def dataset_arguments(parser, *, default: str) -> None:
    """The options both commands share: which data, how much, which item vectors, which base."""
    parser.add_argument("--dataset", choices=DATASETS, default=default)
    parser.add_argument("--max-users", type=int, default=0, help="MovieLens: the first N users (0 = all)")
    parser.add_argument(
        "--encoder", choices=("text", "genres"), default="text",
        help="MovieLens item vectors: the project text encoder on title + genres, or genre one-hot",
    )  # fmt: skip
    parser.add_argument("--profile", default=None, help="base RankingProfile name (default: the active one)")


class Command(BaseCommand):
    help = "Evaluate stylerec against baselines (temporal leave-one-out, full-catalog ranking)."

    def add_arguments(self, parser):
        dataset_arguments(parser, default="movielens")
        parser.add_argument(
            "--methods", default=",".join(baselines.BASELINES),
            help=f"baselines to run beside stylerec, comma-separated from {', '.join(baselines.BASELINES)}",
        )  # fmt: skip
        parser.add_argument("--quick", action="store_true", help="one small configuration per baseline")
        parser.add_argument(
            "--include-sentiment", action="store_true",
            help="show the sentiment model's per-language accuracy and macro-F1 from sentiment_eval.json",
        )  # fmt: skip
        parser.add_argument("--output-dir", type=Path, default=None, help="default: benchmarks/results")

    def handle(self, *args, **options):
        methods = [m.strip() for m in options["methods"].split(",") if m.strip()]
        unknown = set(methods) - set(baselines.BASELINES)
        if unknown:
            raise CommandError(f"unknown methods: {', '.join(sorted(unknown))}")
        database_migrate(self.stdout)  # the base profile (and store data) come from the database
        try:
            dataset = dataset_load(
                name=options["dataset"], max_users=options["max_users"] or None, encoder=options["encoder"]
            )
        except DatasetUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if dataset.label == "simulated":
            self.stdout.write(
                self.style.WARNING("SIMULATED data: the demo's generated histories, not real customers.")
            )
        self.stdout.write(f"item vectors: {dataset.content_source}")
        try:
            result = evaluation_run(
                dataset=dataset,
                base_profile=base_profile_load(options["profile"]),
                methods=methods,
                grids=baselines.QUICK_GRIDS if options["quick"] else None,
                progress=lambda message: self.stdout.write(f"  {message}"),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["include_sentiment"]:
            result["sentiment"] = report.sentiment_summary(options["output_dir"])
            if not result["sentiment"]:
                self.stdout.write("no sentiment_eval.json yet: run `manage.py stylerec_eval_text` first")
        json_path, html_path = report.report_write(result, directory=options["output_dir"])
        self.stdout.write("")
        self.stdout.write(report.report_table(result))
        for row in result.get("sentiment") or []:
            self.stdout.write(
                f"sentiment {row['name']}: accuracy {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}"
            )
        best = result["best_baseline"]
        if best:
            learned = result["methods"]["stylerec (learned)"]["test"]["ndcg@10"]
            baseline = result["methods"][best]["test"]["ndcg@10"]
            verdict = "meets" if learned >= baseline else "does NOT reach"
            self.stdout.write(
                f"\nstylerec (learned) NDCG@10 {learned:.4f} {verdict} the best baseline, "
                f"{best} ({baseline:.4f})"
            )
        self.stdout.write(f"wrote {json_path} and {html_path}")
