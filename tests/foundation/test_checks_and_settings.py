import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from stylerec.checks import check_database_engine, check_models

ROOT = Path(__file__).resolve().parents[2]


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
