"""stylerec.embedded: the development-only PostgreSQL + pgvector shipped in the package (issue #14;
it lived in the demo's config/). The demo's settings use it through config/embedded_db.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from stylerec import embedded

START = """
import sys
from stylerec.embedded import embedded_database
entry = embedded_database("hoststore", sys.argv[1])
import psycopg
with psycopg.connect(host=entry["HOST"], user="postgres", dbname="hoststore") as conn:
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    print(conn.execute("SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector").fetchone()[0] < 0.01)
"""


def test_the_data_folder_comes_from_the_environment_first(monkeypatch, tmp_path):
    monkeypatch.delenv(embedded.DATA_DIR_ENV, raising=False)
    assert embedded.data_dir_of(tmp_path) == tmp_path
    assert embedded.data_dir_of() == embedded.DEFAULT_DATA_DIR
    monkeypatch.setenv(embedded.DATA_DIR_ENV, str(tmp_path / "shared"))
    assert embedded.data_dir_of(tmp_path) == tmp_path / "shared"


def test_the_demo_uses_the_packaged_helper():
    from config import embedded_db

    assert embedded_db.embedded.embedded_database is embedded.embedded_database
    assert embedded.stop(Path("/nonexistent/pgdata")) is False


@pytest.fixture
def data_dir():
    """A fresh data folder that PostgreSQL's own user can reach (as root, pgserver runs the server
    as another user, and pytest's tmp_path sits in a folder only root may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="stylerec-embedded-"))
    folder.chmod(0o755)
    yield folder / "pgdata"
    embedded.stop(folder / "pgdata")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_the_server_outlives_the_process_that_started_it_until_stopped(data_dir, monkeypatch):
    monkeypatch.delenv(embedded.DATA_DIR_ENV, raising=False)
    data = data_dir
    env = {k: v for k, v in os.environ.items() if k != embedded.DATA_DIR_ENV}
    started = subprocess.run(
        [sys.executable, "-c", START, str(data)], env=env, capture_output=True, text=True, timeout=240
    )
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.strip().endswith("True")  # pgvector works in it
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    try:
        os.kill(pid, 0)  # the starting process has exited; its server has not (cleanup_mode=None)
    finally:
        assert embedded.stop(data) is True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the embedded server did not stop")
