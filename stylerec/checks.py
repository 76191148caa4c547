"""System checks: PostgreSQL with pgvector, the STYLEREC settings, model settings and vector sizes,
the ranking signals' weight fields and the product model.

Every message has its own id, so that a host can silence exactly one (SILENCED_SYSTEM_CHECKS):
E001 default database not PostgreSQL, E002 no pgvector, E003 model class does not import, E004 model
path missing, E005 vector size mismatch, E006 a checked database not PostgreSQL, E007 STYLEREC not a
dict, E008 unknown STYLEREC key, E009 setting of the wrong type, E010 setting below its minimum,
E011 DEFAULT_K above MAX_K, E012 unknown DEVICE, E013 signal without weight field, E014 weight field
without signal, E015 product model not an AbstractProduct, E016 product model not installed, E017
PRICE_FORMATTER not an importable callable, E018 the host's product migrations do not depend on
stylerec's 0001_vector_extension, E019 READ_DATABASE_ALIAS names no database in DATABASES, W001
model output size unreadable, W002 the broker's visibility timeout is shorter than the longest
stylerec task's hard time limit.

Checks run at every start-up, so none may import torch or transformers (only ``check_models``
imports the configured classes, whose modules import heavy libraries lazily).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from stylerec import models as stylerec_models
from stylerec.conf import DEFAULTS, SETTING_TYPES, stylerec_settings
from stylerec.ml.dims import IMAGE_DIM, TEXT_DIM
from stylerec.ml.registry import KINDS
from stylerec.ranking import types as ranking_types

# The database column each model kind's output is stored in, and its frozen size.
FROZEN_DIMS = {"text": TEXT_DIM, "image": IMAGE_DIM}

# Integer settings are counts and sizes, so at least 1; a 0 here means "none" (no caching, nothing
# styled ahead of time). One that also takes None (EVENT_RETENTION_DAYS) is checked when not None.
MINIMUM_VALUES: dict[str, int] = {
    name: 0 if name in ("CACHE_TIMEOUT", "PRECOMPUTE_STYLED_TOP_N") else 1
    for name, types in SETTING_TYPES.items()
    if types in ((int,), (type(None), int))
}
DEVICE_CHOICES = ("auto", "cpu", "cuda")


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
                    id="stylerec.E006",
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
        if not (_has_setting_type(class_setting) and _has_setting_type(options_setting)):
            continue  # stylerec.E009 reports it; importing a non-string would crash the check
        options = getattr(stylerec_settings, options_setting) or {}
        try:
            cls = stylerec_settings.import_class(class_setting)
        except ImportError as exc:
            problems.append(
                Error(
                    f"STYLEREC['{class_setting}'] = {getattr(stylerec_settings, class_setting)!r} "
                    f"cannot be imported: {exc}",
                    hint=f"Give the dotted path of a class, or remove it to use {DEFAULTS[class_setting]!r}.",
                    id="stylerec.E003",
                )
            )
            continue
        for key in ("model", "path", "model_dir"):
            value = options.get(key)
            if isinstance(value, str) and _looks_like_path(value) and not Path(value).expanduser().exists():
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
    # A hub id is "org/name"; "~" is expanded wherever a path is used (ml.base.model_dir too).
    return value.startswith(("/", "./", "../", "~")) or value.count("/") > 1


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """STYLEREC is a dict of known keys, each of its default's type and in range: a typo or a
    wrong type would otherwise be ignored, or fail far from the setting, at the first request."""
    configured = getattr(settings, "STYLEREC", None)
    if configured is None:
        return []
    if not isinstance(configured, dict):
        return [
            Error(
                f"STYLEREC must be a dict, not {type(configured).__name__}; the defaults are used.",
                hint='Write STYLEREC = {"SETTING": value, ...} with only the settings you change.',
                id="stylerec.E007",
            )
        ]
    return [
        *_unknown_key_errors(configured),
        *_type_errors(configured),
        *_value_errors(),
        *_read_alias_errors(),
    ]


def _read_alias_errors() -> list[Error]:
    alias = stylerec_settings.READ_DATABASE_ALIAS
    if not _has_setting_type("READ_DATABASE_ALIAS") or alias is None or alias in settings.DATABASES:
        return []
    return [
        Error(
            f"STYLEREC['READ_DATABASE_ALIAS'] is {alias!r}, which is not a key of DATABASES.",
            hint="Name the replica's alias as written in DATABASES, or leave the setting out to "
            "serve from the default database.",
            id="stylerec.E019",
        )
    ]


def _unknown_key_errors(configured: dict[Any, Any]) -> list[Error]:
    return [
        Error(
            f"STYLEREC[{key!r}] is not a stylerec setting and is ignored.",
            hint=_unknown_key_hint(key),
            id="stylerec.E008",
        )
        for key in configured
        if key not in DEFAULTS
    ]


def _unknown_key_hint(key: Any) -> str:
    if key == "PRODUCT_MODEL":  # a swappable model must be a top-level setting for Django to see it
        return "Set the top-level setting STYLEREC_PRODUCT_MODEL instead."
    # Upper-cased so that "default_k" finds DEFAULT_K as well as "DEFUALT_K" does.
    close = difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)
    if close:
        return f"Did you mean {close[0]!r}?"
    return "The valid keys are those of stylerec.conf.DEFAULTS, listed in the README."


def _type_errors(configured: dict[Any, Any]) -> list[Error]:
    return [
        Error(
            f"STYLEREC[{name!r}] must be {_type_names(name)}, not {type(value).__name__} ({value!r}).",
            hint=f"Use a value of type {_type_names(name)}, like the default {DEFAULTS[name]!r}.",
            id="stylerec.E009",
        )
        for name, value in configured.items()
        if name in DEFAULTS and not _has_type(value, name)
    ]


def _has_type(value: Any, name: str) -> bool:
    # bool is a subclass of int, yet DEFAULT_K = True is a mistake, not a count.
    if isinstance(value, bool) and bool not in SETTING_TYPES[name]:
        return False
    return isinstance(value, SETTING_TYPES[name])


def _has_setting_type(name: str) -> bool:
    return _has_type(getattr(stylerec_settings, name), name)


def _type_names(name: str) -> str:
    return " or ".join("None" if kind is type(None) else kind.__name__ for kind in SETTING_TYPES[name])


def _value_errors() -> list[Error]:
    """Range and choice errors, for settings of the right type only (the rest are E009)."""
    errors = []
    for name, minimum in MINIMUM_VALUES.items():
        value = getattr(stylerec_settings, name)
        if _has_setting_type(name) and value is not None and value < minimum:
            errors.append(
                Error(
                    f"STYLEREC[{name!r}] is {value!r}; it must be at least {minimum}.",
                    hint=f"The default is {DEFAULTS[name]!r}.",
                    id="stylerec.E010",
                )
            )
    return errors + _k_order_errors() + _device_errors() + _price_formatter_errors()


def _k_order_errors() -> list[Error]:
    default_k, max_k = stylerec_settings.DEFAULT_K, stylerec_settings.MAX_K
    # A MAX_K of the wrong type or below 1 is reported already (E009, E010).
    if not _has_setting_type("MAX_K") or max_k < MINIMUM_VALUES["MAX_K"]:
        return []
    if not _has_setting_type("DEFAULT_K") or default_k <= max_k:
        return []
    return [
        Error(
            f"STYLEREC['DEFAULT_K'] ({default_k}) is larger than STYLEREC['MAX_K'] ({max_k}).",
            hint="Lower DEFAULT_K or raise MAX_K: every request is capped at MAX_K.",
            id="stylerec.E011",
        )
    ]


def _device_errors() -> list[Error]:
    device = stylerec_settings.DEVICE
    if not _has_setting_type("DEVICE") or device in DEVICE_CHOICES:
        return []
    return [
        Error(
            f"STYLEREC['DEVICE'] is {device!r}; it must be one of {', '.join(map(repr, DEVICE_CHOICES))}.",
            hint="Use 'auto' to take CUDA when torch sees it and the CPU otherwise.",
            id="stylerec.E012",
        )
    ]


def _price_formatter_errors() -> list[Error]:
    path = stylerec_settings.PRICE_FORMATTER
    if not _has_setting_type("PRICE_FORMATTER"):
        return []
    try:
        formatter = stylerec_settings.import_class("PRICE_FORMATTER")
    except ImportError as exc:
        problem = f"cannot be imported: {exc}"
    else:
        if callable(formatter):
            return []
        problem = "is not callable"
    return [
        Error(
            f"STYLEREC['PRICE_FORMATTER'] = {path!r} {problem}",
            hint="Give the dotted path of a callable (amount, *, currency) -> str, or remove it to use "
            f"{DEFAULTS['PRICE_FORMATTER']!r}.",
            id="stylerec.E017",
        )
    ]


@register(Tags.models)
def check_ranking_signals(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Each ranking signal has its weight field RankingProfile.w_<signal>, and each w_ field a signal:
    the two are tied only by that name, so a signal added on one side alone is caught here."""
    weighted = {
        field.name.removeprefix("w_")
        for field in stylerec_models.RankingProfile._meta.get_fields()
        if field.name.startswith("w_")
    }
    signals = set(ranking_types.SIGNALS)
    errors = []
    if unweighted := sorted(signals - weighted):
        errors.append(
            Error(
                f"Ranking signals without a weight field on RankingProfile: {', '.join(unweighted)}.",
                hint=f"Add {', '.join(f'w_{name}' for name in unweighted)} to RankingProfile "
                "(a FloatField) and make a migration.",
                id="stylerec.E013",
            )
        )
    if orphans := sorted(weighted - signals):
        errors.append(
            Error(
                "RankingProfile weight fields without a ranking signal: "
                f"{', '.join(f'w_{name}' for name in orphans)}.",
                hint="Add the signal to stylerec.ranking.types.SIGNALS, or remove the field and make "
                "a migration.",
                id="stylerec.E014",
            )
        )
    return errors


@register(Tags.models)
def check_product_model(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """STYLEREC_PRODUCT_MODEL is an installed AbstractProduct subclass: any other model fails only
    later, with related-name clashes or missing fields that do not point at the setting."""
    try:
        product_model = stylerec_models.get_product_model()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Use 'app_label.ModelName' of an installed model, or remove the setting.",
                id="stylerec.E016",
            )
        ]
    if issubclass(product_model, stylerec_models.AbstractProduct):
        return []
    return [
        Error(
            f"STYLEREC_PRODUCT_MODEL is {product_model._meta.label!r}, which does not inherit "
            "stylerec.models.AbstractProduct.",
            hint="Make the product model a subclass of stylerec.models.AbstractProduct, or remove "
            "STYLEREC_PRODUCT_MODEL to use stylerec.Product.",
            id="stylerec.E015",
        )
    ]


VECTOR_EXTENSION_MIGRATION = ("stylerec", "0001_vector_extension")


@register(Tags.models)
def check_product_migrations(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A host's migrations that give its product table vector columns run after stylerec's
    ``0001_vector_extension``: otherwise ``migrate`` fails half-way with 'type "vector" does not
    exist' on a database where pgvector was not enabled yet. Read from the migration files only
    (no database)."""
    try:
        product_model = stylerec_models.get_product_model()
    except ImproperlyConfigured:
        return []  # stylerec.E016
    label = product_model._meta.app_label
    if label == VECTOR_EXTENSION_MIGRATION[0]:
        return []
    from django.db.migrations.loader import MigrationLoader

    try:
        graph = MigrationLoader(None, ignore_no_migrations=True).graph
    except Exception:  # a broken migration graph is Django's to report, at migrate
        return []
    model_name = product_model._meta.model_name
    assert model_name is not None, "Options sets model_name on every model class"
    return product_migration_errors(graph=graph, label=label, model_name=model_name)


def product_migration_errors(*, graph: Any, label: str, model_name: str) -> list[Error]:
    """E018 for each migration of app ``label`` that adds vector columns to ``model_name`` without
    ``VECTOR_EXTENSION_MIGRATION`` among its dependencies (direct or not)."""
    import sys

    from pgvector.django import VectorField

    errors = []
    for key, migration in sorted(graph.nodes.items()):
        if key[0] != label or not _adds_vector_columns(migration, model_name, VectorField):
            continue
        if VECTOR_EXTENSION_MIGRATION in graph.forwards_plan(key):
            continue
        module = sys.modules.get(type(migration).__module__)
        where = getattr(module, "__file__", None) or f"{label}/migrations/{key[1]}.py"
        errors.append(
            Error(
                f"Migration {key[0]}.{key[1]} adds vector columns to {label}.{model_name} but does not "
                "depend on stylerec's 0001_vector_extension: migrate would fail with "
                "'type \"vector\" does not exist'.",
                hint=f'Add ("stylerec", "0001_vector_extension") to the dependencies of {where}.',
                id="stylerec.E018",
            )
        )
    return errors


def _adds_vector_columns(migration: Any, model_name: str, vector_field: type) -> bool:
    from django.db.migrations import operations

    for op in migration.operations:
        if isinstance(op, operations.CreateModel) and op.name_lower == model_name:
            if any(isinstance(field, vector_field) for _, field in op.fields):
                return True
        elif isinstance(op, operations.AddField) and op.model_name_lower == model_name:
            if isinstance(op.field, vector_field):
                return True
    return False


# Brokers that hand an unacknowledged message to another worker after a visibility timeout, and
# the timeout kombu uses when none is configured.
VISIBILITY_TIMEOUT_DEFAULTS = {"redis": 3600, "rediss": 3600, "sentinel": 3600, "sqs": 1800}


@register()
def check_visibility_timeout(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """W002 when the host's Celery app uses a broker with a visibility timeout (Redis, SQS) shorter
    than the longest hard time limit of stylerec's tasks: a task still running would be handed to a
    second worker and run twice at once, over and over for a long one."""
    from stylerec.services.queue import celery_app

    app = celery_app()
    if app is None:  # no Celery app: stylerec runs its tasks in-process, no broker
        return []
    scheme = str(app.conf.broker_url or "").split("://", 1)[0].split("+")[0].lower()
    if scheme not in VISIBILITY_TIMEOUT_DEFAULTS:
        return []
    options = app.conf.broker_transport_options or {}
    timeout = float(options.get("visibility_timeout", VISIBILITY_TIMEOUT_DEFAULTS[scheme]))
    longest = longest_task_time_limit(app)
    if longest is None or timeout >= longest[1]:
        return []
    from stylerec.task_limits import visibility_timeout_for

    name, limit = longest
    return [
        Warning(
            f"The broker's visibility_timeout ({timeout:g} s) is shorter than the hard time limit of "
            f"the task {name} ({limit:g} s): a message still being worked on is handed to another "
            "worker, and the task runs twice at once.",
            hint=(
                'Set CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] to at least '
                f"{visibility_timeout_for(int(limit))} (2 × the longest hard limit: its run plus its wait "
                "in the worker; docs/operations.md)."
            ),
            id="stylerec.W002",
        )
    ]


def longest_task_time_limit(app: Any) -> tuple[str, float] | None:
    """(name, seconds) of the stylerec task with the longest hard time limit (its own, else the
    app's ``task_time_limit``); None when none has one."""
    default = app.conf.task_time_limit
    limits = [
        (name, float(task.time_limit if task.time_limit is not None else default))
        for name, task in app.tasks.items()
        if name.startswith("stylerec.") and (task.time_limit is not None or default is not None)
    ]
    return max(limits, key=lambda item: item[1]) if limits else None
