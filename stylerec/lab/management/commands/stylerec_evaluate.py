"""Offline evaluation: stylerec (default and learned weights) against popularity, item-kNN,
BPR and ALS under temporal leave-one-out, ranked against the full catalog.

    python manage.py stylerec_evaluate                      # MovieLens-100K, the README table
    python manage.py stylerec_evaluate --dataset store      # the store's own interactions
    python manage.py stylerec_evaluate --dataset demo       # the demo's simulated histories
    python manage.py stylerec_evaluate --dataset movielens --max-users 60 --quick   # smoke run
    python manage.py stylerec_evaluate --export-recbole var/peers    # the split for RecBole (make peers)
    python manage.py stylerec_evaluate --score-peers var/peers/rankings.json   # score the peers' lists

Writes benchmarks/results/evaluation_<dataset>.json and .html, with the RecBole peers of
benchmarks/results/peers_<dataset>.json when that file was made on the same split.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stylerec.lab.evaluation import baselines, peers, report
from stylerec.lab.evaluation.datasets import DATASETS, DatasetUnavailable, dataset_load
from stylerec.lab.evaluation.protocol import split_leave_one_out
from stylerec.lab.evaluation.runner import KS, evaluation_run


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
        parser.add_argument(
            "--export-recbole", type=Path, default=None, metavar="DIR",
            help="write the split as RecBole atomic files under DIR and stop (make peers)",
        )  # fmt: skip
        parser.add_argument(
            "--score-peers", type=Path, default=None, metavar="RANKINGS",
            help="score the RecBole peers' top-100 lists (run_peers.py's rankings.json) and write "
            "peers_<dataset>.json, then stop",
        )  # fmt: skip

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
        split = split_leave_one_out(log=dataset.log, n_users=dataset.n_users, n_items=dataset.n_items)
        directory = options["output_dir"] or report.results_dir()
        peers_path = directory / peers.PEERS_FILE.format(dataset=dataset.split_of or dataset.name)
        if options["export_recbole"]:
            path = peers.split_export_recbole(split=split, directory=options["export_recbole"])
            self.stdout.write(f"wrote {path} ({len(split.eval_users)} customers' train, validation and test)")
            return
        if options["score_peers"]:
            scored = peers.peers_score(
                rankings_file=options["score_peers"], split=split, n_items=dataset.n_items, ks=KS,
                item_vectors=dataset.item_content,
            )  # fmt: skip
            peers_path.parent.mkdir(parents=True, exist_ok=True)
            peers_path.write_text(json.dumps(scored, indent=1) + "\n", encoding="utf-8")
            for name, peer in scored["models"].items():
                test = peer["test"]
                self.stdout.write(
                    f"{name:<22} NDCG@10 {test['ndcg@10']:.4f}  HR@10 {test['hr@10']:.4f}  "
                    f"{peer['seconds']} s"
                )
            self.stdout.write(f"wrote {peers_path}")
            return
        peer_results = peers.peers_load(path=peers_path, split=split)
        if peer_results is None:
            self.stdout.write(f"no RecBole peers for this split in {peers_path} (`make peers` makes them)")
        else:
            self.stdout.write(
                f"RecBole peers from {peers_path} (scored {peer_results.get('generated_at', '?')}; "
                "`make peers` re-trains them)"
            )
        try:
            result = evaluation_run(
                dataset=dataset,
                base_profile=base_profile_load(options["profile"]),
                methods=methods,
                grids=baselines.QUICK_GRIDS if options["quick"] else None,
                progress=lambda message: self.stdout.write(f"  {message}"),
                peers=peer_results,
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
        comparison = result["peers"]
        if comparison["available"]:
            best_peer = comparison["best_peer"]
            for key in peers.PER_USER:
                ci = comparison["learned_minus_peer"][best_peer][key]
                self.stdout.write(
                    f"stylerec (learned) - {best_peer}, {key}: {ci['mean']:+.4f} "
                    f"(95% CI {ci['low']:+.4f} to {ci['high']:+.4f}, paired bootstrap over customers)"
                )
        self.stdout.write(f"wrote {json_path} and {html_path}")
