"""Settings of the Celery workers that ``stylerec.lab.worker.celery_worker`` starts.

The caller's settings module (``STYLEREC_WORKER_BASE_SETTINGS``), then what the worker must share
with the caller (``STYLEREC_WORKER_OVERRIDES``, JSON): a ``DATABASES`` entry's fields are merged
into the base's entry of the same alias (a database name, a host), a ``CACHES`` entry replaces the
base's entry of its alias (the other aliases stay), any other setting replaces the base's.
"""

import importlib
import json
import os
from typing import Any

_base = importlib.import_module(os.environ["STYLEREC_WORKER_BASE_SETTINGS"])
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})


def _apply(overrides: dict[str, Any]) -> None:
    for name, value in overrides.items():
        if name == "DATABASES":
            base = dict(globals().get(name) or {})
            globals()[name] = {**base, **{alias: {**base.get(alias, {}), **e} for alias, e in value.items()}}
        elif name == "CACHES":
            globals()[name] = {**(globals().get(name) or {}), **value}
        else:
            globals()[name] = value


_apply(json.loads(os.environ.get("STYLEREC_WORKER_OVERRIDES") or "{}"))
