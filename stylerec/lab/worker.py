"""A real Celery worker in a subprocess, for lab commands and the worker tests.

``celery_worker`` starts ``celery -A <app> worker`` (solo pool, one task at a time, no gossip,
mingle or heartbeat) in a session of its own, with the settings module
``stylerec.lab.worker_settings``: the caller's settings module plus what the worker must share with
the caller, passed as JSON through the environment (its database, which under pytest or a
benchmark is a temporary one the settings module alone does not name; the broker; the cache;
``STYLEREC``). On leaving the block the worker's whole process group is killed, whatever happened.

``celery_broker`` points this process's Celery app at a broker for the duration of a block (a
per-use key prefix keeps parallel runs apart) and deletes what was left under that prefix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

SETTINGS_MODULE = "stylerec.lab.worker_settings"
BASE_ENV = "STYLEREC_WORKER_BASE_SETTINGS"
OVERRIDES_ENV = "STYLEREC_WORKER_OVERRIDES"
DATABASE_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT")


def caller_settings_module() -> str:
    """The settings module this process runs with (``settings.SETTINGS_MODULE`` is None while a
    test overrides settings)."""
    module = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        raise RuntimeError("DJANGO_SETTINGS_MODULE is not set: a subprocess could not load these settings")
    return module


def current_database() -> dict[str, Any]:
    """The connection fields of the database this process uses now (a test or benchmark database
    included), for a worker's ``DATABASES["default"]``."""
    db = connection.settings_dict
    return {key: db[key] for key in DATABASE_KEYS if db.get(key) is not None}


@contextmanager
def celery_worker(
    *,
    overrides: dict[str, Any],
    queues: Sequence[str],
    log_path: Path,
    name: str = "w",
    app: str = "config",
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """A Celery worker consuming ``queues`` with the caller's settings and ``overrides`` (JSON;
    ``DATABASES`` and ``CACHES`` entries are merged into the settings' entries of the same alias);
    its output goes to ``log_path``. Its process group is killed on leaving the block."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        BASE_ENV: caller_settings_module(),
        OVERRIDES_ENV: json.dumps(overrides),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "info",
        "--queues",
        ",".join(queues),
        "--hostname",
        f"{name}-{uuid.uuid4().hex[:6]}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--prefetch-multiplier",
        "1",
    ]
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd or Path.cwd(),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one below
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:  # exited meanwhile
                    pass
            proc.wait(timeout=10)
    finally:
        log.close()


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextmanager
def celery_broker(url: str, **transport: Any) -> Iterator[dict[str, Any]]:
    """This process's Celery app sends to ``url`` (not eagerly) inside the block; yields the
    transport options (with a fresh ``global_keyprefix``) a worker must use too. Afterwards the
    app's own settings are back and the keys under the prefix are deleted (Redis)."""
    from celery import current_app
    from kombu import pools

    options = {"global_keyprefix": f"stylerec-lab-{uuid.uuid4().hex[:10]}:", **transport}
    values = {"broker_url": url, "task_always_eager": False, "broker_transport_options": options}
    changes = current_app.conf.changes
    before = {key: changes[key] for key in values if key in changes}

    def reset_pools() -> None:  # connections made for the other broker must not be reused
        if current_app._pool is not None:
            current_app._pool.force_close_all()
        current_app._pool = None
        current_app.amqp._producer_pool = None
        pools.reset()

    current_app.conf.update(values)
    reset_pools()
    try:
        yield options
    finally:
        for key in values:  # removed, not written back: later Django settings changes still apply
            if key in before:
                changes[key] = before[key]
            else:
                changes.pop(key, None)
        reset_pools()
        if url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(match=f"{options['global_keyprefix']}*"))
            if keys:
                client.delete(*keys)
