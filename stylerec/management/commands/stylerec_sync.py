"""Bring an existing catalog up to date, in one command, with progress and ETA:

    manage.py stylerec_sync                 # here and now
    manage.py stylerec_sync --async         # the batches to the Celery workers, signals here
    manage.py stylerec_sync --styled        # also the best sellers' styled images (slow on a CPU)

1. ``stylerec_backfill``: style vectors, product text and image vectors, style scores, review
   sentiment, then the customer profiles built before them (and those never built);
2. ``stylerec_refresh_signals``: popularity and item-item neighbours.

Both commands are called as they are (nothing is copied here); each is safe to interrupt and to
run again, so this is also what a store without Celery runs from cron.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from stylerec.management.commands.stylerec_backfill import ORDER

STYLED = "styled"


class Command(BaseCommand):
    help = (
        "Bring the catalog up to date: vectors, style scores, review sentiment, customer profiles, "
        "popularity and neighbours (stylerec_backfill, then stylerec_refresh_signals)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--styled", action="store_true", help="Also make the best sellers' styled images."
        )
        parser.add_argument("--async", dest="run_async", action="store_true", help="Hand batches to workers.")
        parser.add_argument("--force", action="store_true", help="Recompute even what is up to date.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = [kind for kind in ORDER if kind != STYLED or options["styled"]]
        started = time.monotonic()
        self.step(1, f"artifacts and customer profiles ({', '.join(kinds)})")
        backfill = {"kind": ",".join(kinds), "no_progress": options["no_progress"], "force": options["force"]}
        if options["run_async"]:
            backfill["run_async"] = True
        call_command("stylerec_backfill", stdout=self.stdout, stderr=self.stderr, **backfill)
        self.step(2, "popularity and item-item neighbours")
        call_command("stylerec_refresh_signals", stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(
            self.style.SUCCESS(f"Synced in {time.monotonic() - started:.0f} s.")
            + " Blocks still empty? python manage.py stylerec_doctor"
        )

    def step(self, number: int, what: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"[{number}/2] {what}"))
