"""The demo's embedded PostgreSQL (with pgvector), used when no DATABASE_URL is set.

The helper ships in the package (``stylerec.embedded``, development only); the demo keeps its data
in the git-ignored ``var/pgdata`` (``STYLEREC_PGDATA`` overrides it). The server outlives the
process that started it, so ``manage.py`` calls, the test run and the demo share it; stop it with
``make db-stop`` (``python -m config.embedded_db stop``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from stylerec import embedded

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "var" / "pgdata"


def embedded_database(name: str, data_dir: Path | None = None) -> dict[str, Any]:
    """Start (or reuse) the demo's embedded server; a Django DATABASES entry for ``name``."""
    return embedded.embedded_database(name, data_dir or DEFAULT_DATA_DIR)


def stop(data_dir: Path | None = None) -> bool:
    """Stop the demo's embedded server if it runs; True when one was stopped."""
    return embedded.stop(data_dir or DEFAULT_DATA_DIR)


if __name__ == "__main__":  # python -m config.embedded_db stop
    if sys.argv[1:] == ["stop"]:
        print("stopped" if stop() else "not running")
    else:
        print(embedded_database(os.environ.get("STYLEREC_DB_NAME", "stylerec")))
