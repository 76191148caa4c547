"""``python manage.py stylerec_attack_sim --accounts 50 --target auto``: the shilling attack of
issue #13 on the current database, its effect on ordinary customers' blocks before and after,
written to ``benchmarks/results/attack.json`` (``stylerec.lab.attack``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stylerec.lab.attack import RESULTS_FILE, attack_cleanup, attack_run, report_write


def _target(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise CommandError("--target takes a product id or 'auto'") from exc


class Command(BaseCommand):
    help = (
        "Simulate a shilling attack (fake accounts pushing one product) on this database and "
        "measure how often the target reaches ordinary customers' blocks, before and after."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=50, help="fake accounts (default 50)")
        parser.add_argument("--target", default="auto", help="product id, or 'auto' (default)")
        parser.add_argument("--popular", type=int, default=5, help="popular products pushed along (5)")
        parser.add_argument("--customers", type=int, default=200, help="ordinary customers measured, at most")
        parser.add_argument("--spam-reviews", type=int, default=45, help="extra reviews by one account")
        parser.add_argument(
            "--cleanup", action="store_true", help="delete the fake accounts and their data afterwards"
        )
        parser.add_argument(
            "--cleanup-only", action="store_true", help="only delete fake accounts left by earlier runs"
        )
        parser.add_argument(
            "--without-trust",
            action="store_true",
            help="the control: count every customer as fully trusted while measuring (as before the "
            "trust weights); write it elsewhere: --output benchmarks/results/attack_without_trust.json",
        )
        parser.add_argument("--output", type=Path, default=RESULTS_FILE)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["cleanup_only"]:
            self.stdout.write(f"removed: {attack_cleanup()}")
            return
        if opts["accounts"] < 1:
            raise CommandError("--accounts must be at least 1")
        try:
            report = attack_run(
                accounts=opts["accounts"],
                target=_target(opts["target"]),
                popular=opts["popular"],
                customers=opts["customers"],
                spam_reviews=opts["spam_reviews"],
                cleanup=opts["cleanup"],
                without_trust=opts["without_trust"],
                progress=self.stdout.write,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        path = report_write(report, opts["output"])
        for row in report["blocks"]:
            self.stdout.write(
                f"{row['block']:>16}: {row['before_customer_ratio']:.3f} -> {row['after_customer_ratio']:.3f}"
            )
        verdict = "met" if report["goal_met"] else "NOT met"
        self.stdout.write(
            f"target {report['target']}: worst block after {report['after_max_customer_ratio']:.3f} "
            f"(goal <= {report['goal_max_customer_ratio']}: {verdict}); wrote {path}"
        )
        if opts["verbosity"] > 1:
            self.stdout.write(json.dumps(report["http_statuses"], indent=2))
