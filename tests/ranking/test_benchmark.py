import json

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_serving_benchmark_smoke_run(tmp_path):
    output = tmp_path / "serving.json"
    call_command(
        "stylerec_benchmark_serving",
        "--in-current-database",
        "--products",
        "500",
        "--customers",
        "50",
        "--requests",
        "10",
        "--recall-queries",
        "5",
        "--clusters",
        "8",
        "--candidate-pool",
        "30",
        "--output",
        str(output),
        stdout=open(tmp_path / "out.txt", "w"),
    )
    report = json.loads(output.read_text())
    assert report["products"] == 500 and report["requests"] == 10 and report["candidate_pool"] == 30
    assert report["items_per_request_min"] == 10  # the 10% category filter still fills top-10
    assert 0.0 <= report["recall_at_10"]["category_filter"] <= 1.0
    assert report["uncached_ms"]["p50"] > 0 and report["cached_ms"]["p50"] > 0
    assert report["cache_hits_in_uncached_pass"] == 0 and report["cache_misses_in_cached_pass"] == 0
    # side by side: the floor, blocks from pools, the cold path without one, and the worker's cost
    assert report["floor_ms"]["p50"] > 0 and report["cold_ms"]["p50"] > 0
    assert report["uncached_from_pool_share"] == 1.0 and report["cold_from_pool_share"] == 0.0
    assert (
        report["pool_builds"]["customers"] == 30
        and report["pool_builds"]["bytes_on_disk_per_10k_customers"] > 0
    )
    assert report["event_to_response_events"] > 0 and report["event_to_response_ms"]["p50"] > 0
    assert "recall@10 10% filter" in (tmp_path / "out.txt").read_text()
