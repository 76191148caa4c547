"""System checks: PostgreSQL with pgvector, vector sizes, model settings. Ids: stylerec.E00x."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.checks import Error, Tags, Warning, register
from django.db import connections

from stylerec.conf import stylerec_settings
from stylerec.ml.dims import IMAGE_DIM, TEXT_DIM
from stylerec.ml.registry import KINDS

# The database column each model kind's output is stored in, and its frozen size.
FROZEN_DIMS = {"text": TEXT_DIM, "image": IMAGE_DIM}


@register(Tags.database)
def check_database(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            errors.append(
                Error(
                    f"stylerec needs PostgreSQL with pgvector; database {alias!r} is {connection.vendor}.",
                    hint="Point DATABASE_URL at PostgreSQL with pgvector, or unset it (embedded server).",
                    id="stylerec.E001",
                )
            )
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            if cursor.fetchone() is None:
                errors.append(
                    Error(
                        f"The PostgreSQL server of database {alias!r} does not have the pgvector extension.",
                        hint="Install pgvector (https://github.com/pgvector/pgvector) on the server.",
                        id="stylerec.E002",
                    )
                )
    return errors


@register()
def check_database_engine(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from django.conf import settings

    engine = settings.DATABASES.get("default", {}).get("ENGINE", "")
    if "postgresql" not in engine and "postgis" not in engine:
        return [
            Error(
                f"stylerec needs PostgreSQL with pgvector; the default database uses {engine!r}.",
                hint="Set DATABASES['default'] (or DATABASE_URL) to a PostgreSQL server with pgvector.",
                id="stylerec.E001",
            )
        ]
    return []


@register()
def check_models(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """Model classes import, configured model paths exist, and output sizes fit the columns.

    Cheap by design: a class may expose ``output_dim(**options)`` that reads a config file; no
    weights are loaded here."""
    problems: list[Error | Warning] = []
    for kind, (class_setting, options_setting) in KINDS.items():
        options = getattr(stylerec_settings, options_setting) or {}
        try:
            cls = stylerec_settings.import_class(class_setting)
        except ImportError as exc:
            problems.append(
                Error(
                    f"STYLEREC['{class_setting}'] = {getattr(stylerec_settings, class_setting)!r} "
                    f"cannot be imported: {exc}",
                    id="stylerec.E003",
                )
            )
            continue
        for key in ("model", "path", "model_dir"):
            value = options.get(key)
            if isinstance(value, str) and _looks_like_path(value) and not Path(value).exists():
                problems.append(
                    Error(
                        f"STYLEREC['{options_setting}']['{key}'] points at {value!r}, which does not exist.",
                        hint="Fix the path, or remove the option to use the offline default.",
                        id="stylerec.E004",
                    )
                )
        frozen = FROZEN_DIMS.get(kind)
        output_dim = getattr(cls, "output_dim", None)
        if frozen is not None and callable(output_dim):
            try:
                dim = output_dim(**options)
            except Exception as exc:  # a broken config is reported, never a crash at start-up
                problems.append(
                    Warning(f"Could not read the output size of {class_setting}: {exc}", id="stylerec.W001")
                )
                continue
            if dim is not None and dim != frozen:
                problems.append(
                    Error(
                        f"{class_setting} produces {dim}-d vectors but the database stores {frozen}-d ones.",
                        hint="Change stylerec.ml.dims and make a migration, or use a model of that size.",
                        id="stylerec.E005",
                    )
                )
    return problems


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~")) or value.count("/") > 1
