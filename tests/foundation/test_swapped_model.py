"""Both product-model set-ups: the default (here) and a host's own model (in a subprocess, because
the swappable setting is read when Django loads its apps)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stylerec.models import Product, get_product_model

ROOT = Path(__file__).resolve().parents[2]


def test_default_setup_uses_stylerecs_product():
    assert get_product_model() is Product
    assert not Product._meta.swapped


@pytest.mark.slow
@pytest.mark.slow
def test_swapped_host_model_works_end_to_end():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.swapped_store.settings", STYLEREC_SWAPPED_RUN="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/swapped_store",
            "--ds=tests.swapped_store.settings",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout
