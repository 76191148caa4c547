"""Compute every missing or stale artifact, in batches; safe to interrupt and run again.

    manage.py stylerec_backfill                      # everything, here and now
    manage.py stylerec_backfill --kind product_image --force --batch-size 64
    manage.py stylerec_backfill --async              # hand the batches to the workers

"Stale" is decided per row by the input hash (inputs + model version), so after a model upgrade a
plain run recomputes exactly what that model made. Each batch's results are committed as it
finishes: an interrupted run resumes where it stopped. Failed rows are retried only with --force
or once their inputs change.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stylerec.conf import stylerec_settings
from stylerec.models import Review
from stylerec.services import artifacts, queue, styled
from stylerec.services.aggregates import product_sentiment_aggregate

# Styles first (their vectors feed nothing here, but they are few), then what pages need most.
ORDER = ("style", "product_text", "product_image", "product_styles", "review", "styled")


class Command(BaseCommand):
    help = "Compute missing or stale artifacts: vectors, style scores, review sentiment, styled images."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--kind", default=",".join(ORDER), help=f"Comma-separated, of: {', '.join(ORDER)}."
        )
        parser.add_argument("--limit", type=int, default=None, help="At most N objects per kind.")
        parser.add_argument(
            "--force", action="store_true", help="Recompute even what is up to date or failed."
        )
        parser.add_argument(
            "--async", dest="run_async", action="store_true", help="Enqueue batches for workers."
        )
        parser.add_argument("--batch-size", type=int, default=None, help="Default: STYLEREC['BATCH_SIZE'].")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = [kind.strip() for kind in options["kind"].split(",") if kind.strip()]
        unknown = sorted(set(kinds) - set(ORDER))
        if unknown:
            raise CommandError(f"Unknown --kind {', '.join(unknown)}; choose from {', '.join(ORDER)}.")
        self.batch_size = options["batch_size"] or int(stylerec_settings.BATCH_SIZE)
        if self.batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.options = options
        for kind in ORDER:
            if kind not in kinds:
                continue
            name = artifacts.KIND_BY_OPTION[kind].name
            self.artifacts_backfill(name, ids=self.styled_ids() if name == artifacts.STYLED else None)
            if kind == "review" and not options["run_async"]:
                self.aggregates_backfill()

    def progress(self, total: int, desc: str) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="item", file=sys.stderr, disable=self.options["no_progress"])

    def artifacts_backfill(self, kind: str, ids: list[int] | None = None) -> None:
        force = self.options["force"]
        if ids is None:
            ids = artifacts.artifacts_needing_work(kind=kind, force=force, limit=self.options["limit"])
        if self.options["run_async"]:
            artifacts.artifacts_mark(kind=kind, ids=ids)
            sent = sum(
                queue.task_enqueue(queue.ARTIFACTS_COMPUTE, kind, ids[i : i + self.batch_size], force)
                for i in range(0, len(ids), self.batch_size)
            )
            self.stdout.write(f"{kind}: {len(ids)} to compute, {sent} batches enqueued")
            return
        totals = {"done": 0, "failed": 0, "skipped": 0, "discarded": 0}
        with self.progress(len(ids), kind) as bar:
            for start in range(0, len(ids), self.batch_size):
                part = ids[start : start + self.batch_size]
                report = artifacts.artifacts_compute(kind=kind, ids=part, force=force)
                for key, value in report.as_dict().items():
                    if key in totals:
                        totals[key] += value
                bar.update(len(part))
        self.summary(kind, len(ids), totals)

    def styled_ids(self) -> list[int]:
        """Only best sellers are made ahead of time (the rest when a page asks for them), plus the
        existing styled images that need work."""
        ids = styled.styled_images_precompute(
            top_n=int(stylerec_settings.PRECOMPUTE_STYLED_TOP_N), enqueue=False
        )
        ids = sorted(set(ids) | set(styled.styled_images_needing_work(force=self.options["force"])))
        return ids if self.options["limit"] is None else ids[: self.options["limit"]]

    def aggregates_backfill(self) -> None:
        product_ids = sorted(set(Review.objects.values_list("product_id", flat=True)))
        with self.progress(len(product_ids), "aggregates") as bar:
            for product_id in product_ids:
                product_sentiment_aggregate(product_id=product_id)
                bar.update(1)
        self.stdout.write(f"aggregates: {len(product_ids)} products with reviews updated")

    def summary(self, kind: str, total: int, totals: dict[str, int]) -> None:
        style = self.style.SUCCESS if not totals["failed"] else self.style.WARNING
        self.stdout.write(
            style(
                f"{kind}: {total} needed work, {totals['done']} computed, {totals['failed']} failed, "
                f"{totals['skipped']} already done, {totals['discarded']} changed meanwhile"
            )
        )
