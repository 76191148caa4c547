"""Debian's Chromium as Playwright drives it here, for the browser tests and the docs' pictures
(never `playwright install`: it downloads, and nothing may download at run time)."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
