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
from contextlib import nullcontext
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stylerec.conf import stylerec_settings
from stylerec.ml.base import ModelLoadError
from stylerec.models import Review
from stylerec.services import artifacts, queue, styled
from stylerec.services.aggregates import product_sentiment_aggregate

# Styles first (their vectors feed nothing here, but they are few), then what pages need most.
# "profiles" is not an artifact: customers' profiles, rebuilt from the vectors, style scores and
# review sentiment computed before it (a profile built before them holds nothing of them).
PROFILES = "profiles"
ORDER = ("style", "product_text", "product_image", "product_styles", "review", PROFILES, "styled")


class Command(BaseCommand):
    help = (
        "Compute missing or stale artifacts (vectors, style scores, review sentiment, styled images) "
        "and rebuild the customer profiles built before them."
    )

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
        self.bar = self.overall_progress(kinds)
        try:
            self.kinds_backfill(kinds)
        finally:
            if self.bar is not None:
                self.bar.close()

    def overall_progress(self, kinds: list[str]) -> Any:
        """One progress line for the whole run, with an overall ETA: the rows every artifact kind
        asked for needs, counted up front (none in --async mode: the workers do the work)."""
        if self.options["run_async"] or self.options["no_progress"]:
            return None
        total = 0
        for kind in kinds:
            if kind == PROFILES:
                from stylerec.services.profiles import customers_needing_refresh

                total += len(customers_needing_refresh(force=self.options["force"]))
                continue
            spec = artifacts.KIND_BY_OPTION[kind]
            ids = self.styled_ids() if spec.name == artifacts.STYLED else self.ids_needing_work(spec.name)
            total += len(ids)
            if kind == "review":  # then the rating aggregate of every reviewed product
                total += Review.objects.values("product_id").distinct().count()
        from tqdm import tqdm

        return tqdm(total=total, desc="backfill", unit="item", file=sys.stderr, smoothing=0.05)

    def ids_needing_work(self, kind: str) -> list[int]:
        return artifacts.artifacts_needing_work(
            kind=kind, force=self.options["force"], limit=self.options["limit"]
        )

    def kinds_backfill(self, kinds: list[str]) -> None:
        options = self.options
        for kind in ORDER:
            if kind not in kinds:
                continue
            if kind == PROFILES:
                self.profiles_backfill()
                continue
            self.kind_backfill(artifacts.KIND_BY_OPTION[kind])
            if kind == "review" and not options["run_async"]:
                self.aggregates_backfill()

    def kind_backfill(self, spec: Any) -> None:
        """One artifact kind. A kind without rows loads no model; a kind whose model cannot be
        loaded (not trained yet, or no model stack on this machine) is reported and skipped, so
        the kinds after it, the profiles and stylerec_sync's signals still run."""
        if spec.name != artifacts.STYLED and not spec.queryset().exists():
            self.stdout.write(f"{spec.name}: nothing to compute")
            return
        try:
            self.artifacts_backfill(
                spec.name, ids=self.styled_ids() if spec.name == artifacts.STYLED else None
            )
        except (ModelLoadError, ImportError) as exc:
            self.stderr.write(self.style.WARNING(f"{spec.name}: skipped, its model cannot be loaded: {exc}"))

    def progress(self, total: int, desc: str) -> Any:
        """The run's one progress line, now showing ``desc``; a line of its own when there is none
        (profiles rebuilt alone)."""
        from tqdm import tqdm

        if self.bar is not None:
            self.bar.set_postfix_str(desc, refresh=True)
            # A kind may find more work than counted up front (rows added meanwhile).
            return nullcontext(self.bar)  # ``with`` must not close the run's one bar
        return tqdm(total=total, desc=desc, unit="item", file=sys.stderr, disable=self.options["no_progress"])

    def artifacts_backfill(self, kind: str, ids: list[int] | None = None) -> None:
        force = self.options["force"]
        if ids is None:
            ids = self.ids_needing_work(kind)
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

    def profiles_backfill(self) -> None:
        """Rebuild the profiles older than the newest artifact, and those never built."""
        from stylerec.services.profiles import customer_profile_refresh, customers_needing_refresh
        from stylerec.services.recommendations import recommendations_invalidate

        customers = customers_needing_refresh(force=self.options["force"])
        if self.options["limit"] is not None:
            customers = customers[: self.options["limit"]]
        if self.options["run_async"]:
            sent = sum(queue.task_enqueue(queue.PROFILE_REFRESH, c.user_id, c.session_key) for c in customers)
            self.stdout.write(f"{PROFILES}: {len(customers)} to rebuild, {sent} enqueued")
            return
        with self.progress(len(customers), PROFILES) as bar:
            for customer in customers:
                customer_profile_refresh(user_id=customer.user_id, session_key=customer.session_key)
                recommendations_invalidate(user_id=customer.user_id, session_key=customer.session_key)
                bar.update(1)
        self.stdout.write(self.style.SUCCESS(f"{PROFILES}: {len(customers)} customer profiles rebuilt"))

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
