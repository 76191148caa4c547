"""``stylerec_load_test`` end to end, for about three seconds: gunicorn on loopback against the
test database, the product page and the recommendations API under load, ``load.json`` written,
no model in a web process, and nothing the synthetic visitors did left behind."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from stylerec.models import Interaction
from tests.factories import make_product


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # gunicorn's workers read what this test committed
def test_load_test_command_measures_both_endpoints(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("DEBUG", "1")  # the settings would serve with DEBUG on: the command turns it off
    products = [
        make_product(direction={i % 2: 1.0, 10 + i: 0.3}, title=f"Shirt {i}", popularity=float(10 - i))
        for i in range(8)
    ]
    output = tmp_path / "load.json"
    call_command(
        "stylerec_load_test",
        seconds=3,
        warmup=1,
        concurrency=4,
        processes=2,
        workers=2,
        output=output,
    )
    report = json.loads(output.read_text())
    assert report["product_id"] == products[0].pk
    assert set(report["endpoints"]) == {"product_page", "recommendations_api"}
    page, api = report["endpoints"]["product_page"], report["endpoints"]["recommendations_api"]
    assert page["path"] == f"/p/{products[0].pk}/" and api["path"].startswith(
        "/api/stylerec/recommendations/"
    )
    for row in (page, api):
        assert row["requests"] > 0 and row["errors"] == 0, row
        assert row["statuses"] == {"200": row["requests"]}
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["requests_per_s"] > 0
        # What the gunicorn processes themselves spent per answer (read from /proc at the phase edges).
        assert row["server_cpu_ms_per_request"] > 0 and 0 < row["server_cores_busy"] <= report["cpu_count"]
    assert page["goals"] == {"requests_per_s": 100.0, "p99_ms": 100.0}
    assert api["goals"] == {"requests_per_s": 300.0}
    assert report["server"]["bind"].startswith("127.0.0.1:")
    assert len(report["web_workers"]) == 2
    assert report["debug"] is False and all(w["debug"] is False for w in report["web_workers"])
    assert report["no_model_in_web_process"] is True
    assert all(w["ml_modules"] == [] and w["models_built"] == [] for w in report["web_workers"])
    # The synthetic visitors' views are erased again, and their sessions.
    assert report["visitors_erased"]["sessions"] == 4
    assert not Interaction.objects.exists()


def test_seconds_are_bounded(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="at most 60"):
        call_command("stylerec_load_test", seconds=61)
