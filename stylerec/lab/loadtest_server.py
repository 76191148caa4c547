"""The gunicorn side of ``stylerec_load_test``: the WSGI application and a gunicorn config module.

gunicorn runs ``stylerec.lab.loadtest_server:application`` with ``-c
python:stylerec.lab.loadtest_server``; the command sets two environment variables:

* ``STYLEREC_LOADTEST_DATABASE``: JSON merged into ``DATABASES["default"]`` before Django starts,
  so the web workers use the very database the command runs against (under pytest that is the test
  database, whose name the settings module alone does not give);
* ``STYLEREC_LOADTEST_DEBUG``: "0" serves with ``DEBUG`` off whatever the settings say (a store
  serves so; DEBUG keeps every query in memory and slows each request), "1" keeps the settings';
* ``STYLEREC_LOADTEST_PROBE_DIR``: where each worker, as it exits, writes which heavy model
  libraries it imported and which stylerec models it built. A web process must have none: models
  run in workers, never while serving a page.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ML_MODULES = ("torch", "transformers", "onnxruntime", "sklearn", "sentence_transformers")

# --- gunicorn settings (read by ``-c python:stylerec.lab.loadtest_server``) -----------------------
worker_class = "gthread"  # threads keep connections alive; gunicorn's sync workers close each one
keepalive = 5
accesslog = None
graceful_timeout = 5


def worker_exit(server: Any, worker: Any) -> None:
    """Record what this web worker loaded (gunicorn calls this in the worker, as it exits)."""
    probe_dir = os.environ.get("STYLEREC_LOADTEST_PROBE_DIR")
    if not probe_dir:
        return
    registry = sys.modules.get("stylerec.ml.registry")
    report = {
        "pid": os.getpid(),
        "ml_modules": [name for name in ML_MODULES if name in sys.modules],
        "models_built": sorted(getattr(registry, "_loaded", {})) if registry is not None else [],
        "debug": _debug(),
    }
    Path(probe_dir, f"worker-{os.getpid()}.json").write_text(json.dumps(report), encoding="utf-8")


def _debug() -> bool | None:
    try:
        from django.conf import settings

        return bool(settings.DEBUG)
    except Exception:  # noqa: BLE001 - settings not configured: nothing to report
        return None


# --- the WSGI application ---------------------------------------------------------------------------


def _application() -> Any:
    from django.conf import settings

    override = os.environ.get("STYLEREC_LOADTEST_DATABASE")
    if override:
        settings.DATABASES["default"].update(json.loads(override))  # before Django connects
    if os.environ.get("STYLEREC_LOADTEST_DEBUG") == "0":
        settings.DEBUG = False
    if getattr(settings, "WSGI_APPLICATION", None):
        from django.utils.module_loading import import_string

        return import_string(settings.WSGI_APPLICATION)  # the host's, with its own wrapping
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def __getattr__(name: str) -> Any:
    # Built on first access: gunicorn imports this module as its config too, in the master, which
    # must not start Django.
    if name == "application":
        app = _application()
        globals()["application"] = app
        return app
    raise AttributeError(name)
