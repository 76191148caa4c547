"""Explain an empty or poor recommendation block: what is missing, and what to run.

    manage.py stylerec_doctor

Exits with status 1 when a finding explains an empty block (a problem), 0 otherwise. The checks
are in ``stylerec.diagnostics``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stylerec.diagnostics import INFO, OK, PROBLEM, WARNING, diagnose

MARKS = {OK: "ok     ", INFO: "info   ", WARNING: "warning", PROBLEM: "PROBLEM"}


class Command(BaseCommand):
    help = (
        "Explain why a recommendation block is empty or poor: products, vectors, profiles, styles, workers."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        findings = diagnose()
        styles: dict[str, Callable[[str], str]] = {
            OK: self.style.SUCCESS,
            INFO: str,
            WARNING: self.style.WARNING,
            PROBLEM: self.style.ERROR,
        }
        for finding in findings:
            self.stdout.write(
                styles[finding.level](f"[{MARKS[finding.level]}] {finding.topic}: {finding.message}")
            )
            if finding.hint and finding.level != OK:
                self.stdout.write(f"            -> {finding.hint}")
        problems = sum(finding.level == PROBLEM for finding in findings)
        if problems:
            raise CommandError(f"{problems} problem(s) found.", returncode=1)
        self.stdout.write(self.style.SUCCESS("No problem found."))
