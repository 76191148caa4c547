import json

import pytest
from django.core.management import call_command

from tests.pipeline.test_worker import REDIS_DB


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
        "--no-worker",  # the worker's measurement: test_serving_benchmark_times_events_through_a_worker
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
    # the product-keyed blocks, which have no stored pool: a known customer viewing a product
    for block in ("similar", "bought_together"):
        assert 0 < report[f"{block}_uncached_ms"]["p50"] <= report[f"{block}_uncached_ms"]["p99"]
        assert report["p99_over_floor"][block] > 0
        assert report["goals"][f"{block}_uncached_p99_ms"] > 0
        assert report["goals_met"][f"{block}_uncached_p99_ms"] in (True, False)
    assert report["product_blocks_items_mean"]["similar"] == 10  # the trending fallback fills it
    assert (
        report["pool_builds"]["customers"] == 30
        and report["pool_builds"]["bytes_on_disk_per_10k_customers"] > 0
    )
    assert report["event_to_response_in_process_events"] > 0
    assert report["event_to_response_in_process_ms"]["p50"] > 0
    assert report["event_to_response_in_process_immediate_share"] == 1.0  # eager: the next response
    assert report["event_to_response_ms"] is None and report["goals_met"]["event_to_response_p99_ms"] is None
    assert report["event_to_response_mode"] == "not measured (--no-worker)"
    # index sizes and memory
    assert report["index_sizes_mb"]["hnsw"]["stylerec_product_text_hnsw"] > 0
    assert report["index_sizes_mb"]["product_table_total"] >= report["index_sizes_mb"]["product_table"] > 0
    assert report["rss_mb"]["benchmark_peak"] > 0
    assert report["rss_mb"]["postgres_backend"] is not None or report["rss_mb"]["postgres_note"]
    assert "recall@10 10% filter" in (tmp_path / "out.txt").read_text()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)  # the worker reads what this process committed
def test_serving_benchmark_times_events_through_a_worker(tmp_path):
    """Event → changed response with Redis and a real Celery worker subprocess on this database."""
    output = tmp_path / "serving.json"
    call_command(
        "stylerec_benchmark_serving",
        "--in-current-database",
        *("--products", "500", "--customers", "60", "--clusters", "8", "--candidate-pool", "30"),
        *("--requests", "5", "--recall-queries", "2", "--worker-events", "5"),
        *("--cache-url", f"redis://127.0.0.1:6379/{REDIS_DB}"),
        *("--output", str(output)),
        stdout=open(tmp_path / "out.txt", "w"),
    )
    report = json.loads(output.read_text())
    assert report["event_to_response_mode"].startswith("worker:")
    assert report["event_to_response_events"] == 5 and report["event_to_response_misses"] == 0
    # the change is the worker's (its pool rebuild), not the event's own effect on serving
    assert report["event_to_response_changed_before_worker"] == 0
    assert 0 < report["event_to_response_ms"]["p50"] <= report["event_to_response_ms"]["p99"] < 5000
    assert report["event_to_response_in_process_events"] > 0
    assert report["goals_met"]["event_to_response_p99_ms"] in (True, False)
