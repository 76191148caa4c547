import ast
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from stylerec import models as stylerec_models
from stylerec.checks import check_database_engine, check_models
from stylerec.conf import DEFAULTS, stylerec_settings
from stylerec.ml import registry
from stylerec.ranking import types as ranking_types

ROOT = Path(__file__).resolve().parents[2]


def _messages(check_id: str) -> list:
    """The messages of one id from all registered checks, as `manage.py check` runs them."""
    return [message for message in run_checks() if message.id == check_id]


def test_non_postgres_database_is_a_clear_error():
    with override_settings(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    ):
        errors = check_database_engine()
    assert [e.id for e in errors] == ["stylerec.E001"]
    assert "PostgreSQL" in errors[0].msg


def test_missing_model_path_names_the_setting(tmp_path):
    missing = str(tmp_path / "no-such-model")
    with override_settings(STYLEREC={"TEXT_ENCODER_OPTIONS": {"model": missing}}):
        errors = [e for e in check_models() if e.id == "stylerec.E004"]
    assert len(errors) == 1 and "TEXT_ENCODER_OPTIONS" in errors[0].msg and missing in errors[0].msg


def test_unimportable_model_class_is_reported():
    with override_settings(STYLEREC={"IMAGE_ENCODER": "stylerec.ml.nowhere.Encoder"}):
        errors = [e for e in check_models() if e.id == "stylerec.E003"]
    assert [e.msg.split("]")[0] for e in errors] == ["STYLEREC['IMAGE_ENCODER'"]


def test_default_configuration_passes_all_checks():
    assert [e for e in run_checks() if e.level >= 40] == []


def _django_setup_fails(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_secret_key_and_database():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = _django_setup_fails(env)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr
    env["SECRET_KEY"] = "x" * 50
    result = _django_setup_fails(env)
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr


@pytest.mark.django_db
def test_no_missing_migrations():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize(("key", "meant"), [("DEFUALT_K", "DEFAULT_K"), ("default_k", "DEFAULT_K")])
def test_misspelled_key_is_an_error_naming_the_closest_valid_key(key, meant):
    with override_settings(STYLEREC={key: 4}):
        errors = _messages("stylerec.E008")
    assert len(errors) == 1 and repr(key) in errors[0].msg and repr(meant) in errors[0].hint


def test_product_model_inside_stylerec_points_at_the_top_level_setting():
    with override_settings(STYLEREC={"PRODUCT_MODEL": "shop.Product"}):
        errors = _messages("stylerec.E008")
    assert len(errors) == 1 and "STYLEREC_PRODUCT_MODEL" in errors[0].hint


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DEFAULT_K", "8"),
        ("DEFAULT_K", True),  # bool is an int subclass, but not a count
        ("AUTO_COMPUTE", 1),
        ("TEXT_ENCODER_OPTIONS", ["model"]),
        ("TEXT_ENCODER", 42),  # also must not crash check_models' import
        ("MODEL_DIR", 3),
        ("TASK_ROUTES", []),
        ("CACHE_TIMEOUT", 1.5),
    ],
)
def test_wrong_type_is_an_error_with_the_default_as_hint(key, value):
    with override_settings(STYLEREC={key: value}):
        errors = _messages("stylerec.E009")
    assert len(errors) == 1 and repr(key) in errors[0].msg and repr(DEFAULTS[key]) in errors[0].hint


@pytest.mark.parametrize(
    "overrides",
    [
        {"MODEL_DIR": None, "TASK_ROUTES": None, "PRODUCT_URL_NAME": None},
        {"MODEL_DIR": "/tmp/models", "TASK_ROUTES": {}, "PRODUCT_URL_NAME": "shop:product"},
        {"CACHE_TIMEOUT": 0, "PRECOMPUTE_STYLED_TOP_N": 0, "DEFAULT_K": 50, "DEVICE": "cpu"},
    ],
)
def test_valid_values_pass_the_settings_checks(overrides):
    with override_settings(STYLEREC=overrides):
        problems = [m for m in run_checks() if m.id.startswith("stylerec.") and m.level >= 40]
    assert problems == []


@pytest.mark.parametrize(("key", "value"), [("MAX_K", -1), ("DEFAULT_K", 0), ("CACHE_TIMEOUT", -5)])
def test_value_below_minimum_is_an_error(key, value):
    with override_settings(STYLEREC={key: value}):
        errors = _messages("stylerec.E010")
    assert len(errors) == 1 and repr(key) in errors[0].msg and errors[0].hint


def test_default_k_above_max_k_is_an_error():
    with override_settings(STYLEREC={"DEFAULT_K": 60}):
        errors = _messages("stylerec.E011")
    assert len(errors) == 1 and "MAX_K" in errors[0].msg and errors[0].hint
    with override_settings(STYLEREC={"MAX_K": -1}):  # one error (E010) for one mistake
        assert _messages("stylerec.E011") == []


def test_unknown_device_is_an_error():
    with override_settings(STYLEREC={"DEVICE": "gpu"}):
        errors = _messages("stylerec.E012")
    assert len(errors) == 1 and "'gpu'" in errors[0].msg


def test_stylerec_not_a_dict_is_an_error_and_reads_fall_back_to_defaults():
    with override_settings(STYLEREC="x"):
        errors = _messages("stylerec.E007")
        assert stylerec_settings.DEFAULT_K == DEFAULTS["DEFAULT_K"]
    assert len(errors) == 1 and "must be a dict" in errors[0].msg


def test_check_ids_are_unique():
    source = (ROOT / "stylerec" / "checks.py").read_text()
    ids = [
        keyword.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "id" and isinstance(keyword.value, ast.Constant)
    ]
    assert ids and all(i.startswith(("stylerec.E0", "stylerec.W0")) for i in ids)
    assert [i for i, count in Counter(ids).items() if count > 1] == []


def test_model_path_with_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "head").mkdir()
    with override_settings(STYLEREC={"SENTIMENT_MODEL_OPTIONS": {"model": "~/head"}}):
        assert [e for e in check_models() if e.id == "stylerec.E004"] == []
    with override_settings(STYLEREC={"MODEL_DIR": "~/models"}):
        from stylerec.ml.base import model_dir

        assert model_dir() == tmp_path / "models"


def test_signal_without_weight_field_is_an_error(monkeypatch):
    monkeypatch.setattr(ranking_types, "SIGNALS", (*ranking_types.SIGNALS, "novelty"))
    errors = _messages("stylerec.E013")
    assert len(errors) == 1 and "novelty" in errors[0].msg and "w_novelty" in errors[0].hint


def test_weight_field_without_signal_is_an_error(monkeypatch):
    monkeypatch.setattr(ranking_types, "SIGNALS", tuple(s for s in ranking_types.SIGNALS if s != "freshness"))
    errors = _messages("stylerec.E014")
    assert len(errors) == 1 and "w_freshness" in errors[0].msg


def test_product_model_must_inherit_abstract_product(monkeypatch):
    monkeypatch.setattr(stylerec_models, "get_product_model", lambda: User)
    errors = _messages("stylerec.E015")
    assert len(errors) == 1 and "auth.User" in errors[0].msg and "AbstractProduct" in errors[0].hint


def test_product_model_not_installed_is_an_error(monkeypatch):
    def not_installed():
        raise ImproperlyConfigured("STYLEREC_PRODUCT_MODEL refers to 'shop.Nope'")

    monkeypatch.setattr(stylerec_models, "get_product_model", not_installed)
    errors = _messages("stylerec.E016")
    assert len(errors) == 1 and "shop.Nope" in errors[0].msg and errors[0].hint


def test_conf_imports_nothing_from_stylerec():
    # conf is imported by nearly every module; an import back into stylerec makes a cycle.
    tree = ast.parse((ROOT / "stylerec" / "conf.py").read_text())
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ]
    assert [name for name in imported if name and name.startswith("stylerec")] == []


def test_override_settings_drops_loaded_models(monkeypatch):
    monkeypatch.setitem(registry._loaded, "text", object())
    with override_settings(STYLEREC={"DEFAULT_K": 4}):
        assert "text" not in registry._loaded


def test_checks_other_than_check_models_import_no_heavy_library():
    code = (
        "import sys, django; django.setup()\n"
        "from stylerec import checks\n"
        "checks.check_settings(); checks.check_ranking_signals(); checks.check_product_model()\n"
        "checks.check_database_engine()\n"
        "print(sorted({'torch', 'transformers', 'onnxruntime'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=os.environ, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
