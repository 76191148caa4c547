"""Markdown tables of the measurements in ``benchmarks/results/*.json``.

Every benchmark and evaluation command writes its latest figures to a JSON file there; this module
turns those files into the tables of the documentation (``docs/benchmarks.md``, through the MkDocs
hook in ``docs/hooks.py``), so a number in the docs is always the one in the file. Pure standard
library: the docs build needs neither Django nor the models.

    python -m benchmarks.tables                      # Markdown of every results file on stdout
    python -m benchmarks.tables --output tables.md   # ... into a file

Files with a known shape (``models.json``, ``pipeline.json``, ``serving*.json``,
``sentiment_eval.json``, ``preference_eval.json``, ``evaluation_<dataset>.json``) get tables made
for them; any other JSON file is rendered generically (nested dicts flattened into dotted keys,
lists of records into tables). If a known file's shape changed so that its renderer fails, the
generic renderer takes over rather than failing the docs build.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Accuracy goals of the sentiment model per language (the JSON holds the measurement only).
SENTIMENT_ACCURACY_GOALS = {"zh": 0.88, "en": 0.80}
SENTIMENT_PRODUCT_F1_GOAL = 0.85  # English product reviews never trained on (issue #18)
# NDCG@10 goal of the learned profile on the standard MovieLens split (issue #16).
EVALUATION_NDCG_GOALS = {"movielens": 0.12}

# The command that (re)writes each file; evaluation_<dataset>.json is handled in ``producer``.
PRODUCERS = {
    "first_run.json": "bash benchmarks/first_run.sh /tmp/first-run 8131",
    "models.json": "python manage.py stylerec_benchmark_models",
    "pipeline.json": "python manage.py stylerec_benchmark_pipeline --n 200",
    "serving.json": "python manage.py stylerec_benchmark_serving",
    "serving_1m.json": (
        "python manage.py stylerec_benchmark_serving --products 1000000 --customers 100000 "
        "--output benchmarks/results/serving_1m.json"
    ),
    "serving_pool60.json": (
        "python manage.py stylerec_benchmark_serving --candidate-pool 60 "
        "--output benchmarks/results/serving_pool60.json"
    ),
    "serving_rerun.json": (
        "python manage.py stylerec_benchmark_serving --no-worker "
        "--output benchmarks/results/serving_rerun.json"
    ),
    # The serving code before this session's clean-up of its Python costs, run beside it.
    "serving_before_dabb172.json": (
        "git worktree add /tmp/old dabb172 && cd /tmp/old && python manage.py stylerec_benchmark_serving "
        "--no-worker --output serving_before_dabb172.json"
    ),
    "serving_before_dabb172_rerun.json": (
        "git worktree add /tmp/old dabb172 && cd /tmp/old && python manage.py stylerec_benchmark_serving "
        "--no-worker --output serving_before_dabb172_rerun.json"
    ),
    "sentiment_eval.json": "python manage.py stylerec_eval_text",
    "preference_eval.json": "python manage.py stylerec_eval_text",
    "load.json": "python manage.py stylerec_load_test --seconds 30",
    "peers_movielens.json": "make peers",
    "styled.json": "python manage.py stylerec_benchmark_styled --products 200",
    "attack.json": "python manage.py stylerec_attack_sim --accounts 50 --target auto --cleanup",
    "attack_without_trust.json": (
        "python manage.py stylerec_attack_sim --accounts 50 --target auto --cleanup --without-trust "
        "--output benchmarks/results/attack_without_trust.json"
    ),
}

TITLES = {
    "first_run.json": "The first make demo from a fresh clone",
    "models.json": "Model throughput, memory and int8",
    "pipeline.json": "Artifact pipeline vs raw model",
    "serving.json": "Serving latency and HNSW recall",
    "serving_1m.json": "Serving latency and HNSW recall at 1M products",
    "serving_pool60.json": "Serving latency and HNSW recall, candidate pool 60",
    "serving_rerun.json": "Serving latency and HNSW recall, second run (no worker)",
    "serving_before_dabb172.json": "Serving latency, the code before this change (dabb172), same machine",
    "serving_before_dabb172_rerun.json": (
        "Serving latency, the code before this change (dabb172), same machine, second run"
    ),
    "sentiment_eval.json": "Sentiment model accuracy and text speed",
    "preference_eval.json": "Preference extraction check set",
    "load.json": "Load test: a product page with blocks and the recommendations API on gunicorn",
    "peers_movielens.json": "RecBole peers on the MovieLens split (scored by stylerec's metric code)",
    "styled.json": "Styled images: colour fidelity, clean background and style strength, old vs new",
    "attack.json": "Shilling attack: the target in ordinary customers' blocks, before and after",
    "attack_without_trust.json": "Shilling attack, control: every customer fully trusted",
}

METHOD_METRICS = ("hr", "ndcg", "precision", "recall", "f1")
METRIC_LABELS = {"hr": "HR", "ndcg": "NDCG", "precision": "P", "recall": "R", "f1": "F1"}


# --- formatting ----------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 4) -> str:
    """One scalar as table text: floats to ``digits`` decimals (trailing zeros dropped), booleans
    as yes/no, None as an en dash, lists of scalars comma-joined."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 1000 else str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and abs(value) < 10 ** (-digits + 1):
            return f"{value:.3g}"
        if value.is_integer() and abs(value) < 1e15:
            return fmt(int(value))
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        if all(not isinstance(item, (dict, list, tuple)) for item in value):
            return ", ".join(fmt(item, digits) for item in value) if value else "–"
        return escape(json.dumps(value, ensure_ascii=False))
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False))
    text = str(value)
    if text != text.strip():
        return escape(json.dumps(text, ensure_ascii=False))  # keep meaningful spaces visible
    return escape(text)


def fixed(value: Any, digits: int = 4) -> str:
    """A metric with a fixed number of decimals, so that a column of them lines up."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}f}"
    return fmt(value, digits)


def escape(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def code(text: Any) -> str:
    return f"`{text}`" if text not in (None, "") else "–"


def met(flag: Any) -> str:
    if flag is None:
        return "–"
    return "met" if flag else "**missed**"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    """A Markdown table; cells that are not already strings go through ``fmt``."""
    lines = ["| " + " | ".join(headers) + " |"]
    separators = [{"r": "---:", "l": ":---", "c": ":---:"}.get(a, "---") for a in (align or ())]
    separators += ["---"] * (len(headers) - len(separators))
    lines.append("| " + " | ".join(separators) + " |")
    for row in rows:
        cells = [cell if isinstance(cell, str) else fmt(cell) for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def heading(level: int, text: str, anchor: str | None = None) -> str:
    return "#" * level + " " + text + (f" {{#{anchor}}}" if anchor else "")


# --- generic rendering ---------------------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def _is_records(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) for item in value)
        and all(_is_scalar(v) or _scalar_list(v) for item in value for v in item.values())
    )


def _scalar_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) pairs of nested dicts; lists of scalars stay whole values, lists of
    records are left for ``render_generic`` to tabulate (returned as one value)."""
    if isinstance(data, dict):
        pairs: list[tuple[str, Any]] = []
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                pairs.extend(flatten(value, name))
            else:
                pairs.append((name, value))
        return pairs
    return [(prefix or "value", data)]


def render_generic(data: Any, level: int = 3) -> str:
    """Any JSON: scalar fields as a key/value table, each list of records as its own table, other
    nested lists as JSON in a cell."""
    scalars: list[tuple[str, Any]] = []
    record_tables: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in flatten(data):
        if _is_records(value):
            record_tables.append((key, value))
        else:
            scalars.append((key, value))
    parts: list[str] = []
    if scalars:
        parts.append(table(["field", "value"], [(code(k), fmt(v)) for k, v in scalars]))
    for key, records in record_tables:
        columns: list[str] = []
        for record in records:
            columns.extend(k for k in record if k not in columns)
        parts.append(heading(level, code(key)))
        parts.append(table(columns, [[record.get(c) for c in columns] for record in records]))
    return "\n\n".join(parts) if parts else "_(empty)_"


# --- specific renderers --------------------------------------------------------------------------


def render_models(data: dict[str, Any], level: int) -> str:
    m = data.get("machine", {})
    env = (
        f"Run {data['created']}: batch sizes {fmt(data.get('batch_sizes'))}, median of "
        f"{data.get('repeats')} timed calls after one warm-up; {m.get('cpu_count')} CPU cores, "
        f"torch {m.get('torch')} ({m.get('torch_threads')} threads), onnxruntime {m.get('onnxruntime')}, "
        f"CUDA: {m.get('cuda') or 'none'}; load average {fmt(m.get('load_average_at_start'))} at the "
        f"start, {fmt(m.get('load_average_at_end'))} at the end."
    )
    for kind, run in (data.get("reruns") or {}).items():
        rm = run.get("machine", {})
        env += (
            f" The {kind} rows were rerun {run.get('created')} (batch sizes {fmt(run.get('batch_sizes'))}, "
            f"{run.get('repeats')} timed calls, load average {fmt(rm.get('load_average_at_start'))} at the "
            f"start, {fmt(rm.get('load_average_at_end'))} at the end)."
        )
    summary = table(
        ["kind", "goal items/s", "best items/s", "precision", "at batch", "input px", "goal"],
        [
            (
                kind,
                row.get("goal_items_per_s"),
                row.get("best_items_per_s"),
                " ".join(str(x) for x in (row.get("precision", "fp32"), row.get("backend")) if x),
                row.get("at_batch_size"),
                row.get("input_px"),
                met(row.get("met")),
            )
            for kind, row in data["summary"].items()
        ],
        align="lrrlrrl",
    )
    results = []
    for row in data["results"]:
        notes = [f"{k} {fmt(v)}" for k, v in (row.get("accuracy") or {}).items()]
        if row.get("note"):
            notes.append(escape(row["note"]))
        results.append(
            (
                row.get("kind"),
                code(row.get("version")),
                row.get("device"),
                f"{row.get('precision')} ({row['backend']})" if row.get("backend") else row.get("precision"),
                row.get("input_px"),
                row.get("batch_size") or None,
                row.get("items_per_s"),
                row.get("load_s"),
                row.get("peak_rss_mb"),
                "; ".join(notes),
            )
        )
    detail = table(
        [
            "kind",
            "version",
            "device",
            "precision",
            "input px",
            "batch",
            "items/s",
            "load s",
            "peak RSS MB",
            "accuracy change / note",
        ],
        results,
        align="llllrrrrrl",
    )
    return "\n\n".join(
        [
            env,
            heading(level, "Best speed against the goals"),
            summary,
            heading(level, "Every measurement"),
            detail,
        ]
    )


def render_pipeline(data: dict[str, Any], level: int) -> str:
    goal = data.get("goal_ratio")
    m = data.get("machine", {})
    intro = (
        f"Goal: the pipeline keeps at least {fmt(goal)} of the raw model's speed. "
        f"Machine: {m.get('cpus')} CPUs ({m.get('machine')}), Python {m.get('python')}."
    )
    rows = [
        (
            code(row.get("kind")),
            code(row.get("model")),
            row.get("device"),
            row.get("n"),
            row.get("batch_size"),
            row.get("raw_items_per_s"),
            row.get("pipeline_items_per_s"),
            row.get("ratio"),
            met(row.get("goal_met")),
        )
        for row in data["rows"]
    ]
    return (
        intro
        + "\n\n"
        + table(
            [
                "artifact",
                "model",
                "device",
                "items",
                "batch",
                "raw model items/s",
                "pipeline items/s",
                "ratio",
                f"goal ≥ {fmt(goal)}",
            ],
            rows,
            align="lllrrrrrl",
        )
    )


def render_serving(data: dict[str, Any], level: int) -> str:
    goals = data.get("goals", {})
    goals_met = data.get("goals_met", {})
    hnsw = data.get("hnsw", {})
    rows = [
        ("products / customers", f"{fmt(data['products'])} / {fmt(data['customers'])}", "", ""),
        ("vectors", escape(str(data.get("vector_field", ""))), "", ""),
        ("category filter keeps", fmt(data.get("category_filter_share")), "", ""),
        ("k / candidate pool", f"{fmt(data.get('k'))} / {fmt(data.get('candidate_pool'))}", "", ""),
        (
            "HNSW m / ef_construction / ef_search / iterative scan",
            f"{fmt(hnsw.get('m'))} / {fmt(hnsw.get('ef_construction'))} / {fmt(hnsw.get('ef_search'))}"
            f" / {fmt(hnsw.get('iterative_scan'))}",
            "",
            "",
        ),
        (
            "COPY products / HNSW build / COPY customers (s)",
            f"{fmt(data.get('copy_products_s'))} / {fmt(data.get('hnsw_build_s'))} / "
            f"{fmt(data.get('copy_customers_s'))}",
            "",
            "",
        ),
        ("timed requests", fmt(data.get("requests")), "", ""),
        *_serving_pool_rows(data, goals, goals_met),
        (
            "uncached p50 / p99 (ms)",
            f"{fmt(data['uncached_ms']['p50'])} / {fmt(data['uncached_ms']['p99'])}",
            f"p99 ≤ {fmt(goals.get('uncached_p99_ms'))} ms",
            met(goals_met.get("uncached_p99_ms")),
        ),
        (
            "cached p50 / p99 (ms)",
            f"{fmt(data['cached_ms']['p50'])} / {fmt(data['cached_ms']['p99'])}",
            f"p50 ≤ {fmt(goals.get('cached_p50_ms'))} ms",
            met(goals_met.get("cached_p50_ms")),
        ),
        *_serving_django_cache_rows(data),
        ("recall@10, no filter", fmt(data["recall_at_10"].get("no_filter")), "", ""),
        (
            "recall@10, category filter",
            fmt(data["recall_at_10"].get("category_filter")),
            f"≥ {fmt(goals.get('recall_at_10_filtered'))}",
            met(goals_met.get("recall_at_10_filtered")),
        ),
        ("recall queries", fmt(data.get("recall_queries")), "", ""),
        ("planner uses HNSW for the filtered query", fmt(data.get("filtered_plan_uses_hnsw")), "", ""),
        ("fewest items in a response", fmt(data.get("items_per_request_min")), "", ""),
        ("cache backend", fmt(data.get("cache_backend")), "", ""),
        (
            "CPUs / 1-minute load average (start, end)",
            f"{fmt(data.get('cpu_count'))} / {fmt(data.get('load_average_1m'))}",
            "",
            "",
        ),
    ]
    return table(["measure", "value", "goal", ""], rows)


def _serving_django_cache_rows(data: dict[str, Any]) -> list:
    djangos = data.get("cached_ms_djangos_redis_backend")
    if not djangos:
        return []
    return [
        (
            "cached p50 / p99 (ms), the same hits through Django's own RedisCache",
            f"{fmt(djangos['p50'])} / {fmt(djangos['p99'])}",
            "",
            "",
        )
    ]


def _serving_pool_rows(data: dict[str, Any], goals: dict[str, Any], goals_met: dict[str, Any]) -> list:
    """The floor and the candidate-pool measures, when the file has them (issue #15 onwards)."""
    if "floor_ms" not in data:
        return []

    def pair(value: dict[str, Any]) -> str:
        return f"{fmt(value['p50'])} / {fmt(value['p99'])}"

    ratio = data.get("p99_over_floor", {})
    builds = data.get("pool_builds", {})
    storage = data.get("pool_storage", {})
    category = data.get("category_filter", {})
    return [
        ("floor: one bare filtered HNSW top-k, p50 / p99 (ms)", pair(data["floor_ms"]), "", ""),
        (
            "uncached from a pool, p99 ÷ floor p99",
            fmt(ratio.get("uncached")),
            f"≤ {fmt(goals.get('uncached_p99_over_floor'))}",
            met(goals_met.get("uncached_p99_over_floor")),
        ),
        ("uncached, share served from a pool", fmt(data.get("uncached_from_pool_share")), "", ""),
        (
            "cold (no pool: direct path) p50 / p99 (ms)",
            pair(data["cold_ms"]),
            f"p99 ≤ {fmt(goals.get('cold_p99_ms'))} ms",
            met(goals_met.get("cold_p99_ms")),
        ),
        ("cold p99 ÷ floor p99", fmt(ratio.get("cold")), "", ""),
        *_serving_product_block_rows(data, goals, goals_met, pair),
        (
            "10% category: floor / uncached p99 (ms), share from a pool",
            f"{fmt(category.get('floor_ms', {}).get('p99'))} / "
            f"{fmt(category.get('uncached_ms', {}).get('p99'))}, {fmt(category.get('from_pool_share'))}",
            "",
            "",
        ),
        (
            "pool builds: customers/s, ms per customer p50 / p99",
            f"{fmt(builds.get('customers_per_s'))}, {pair(builds['ms_per_customer'])}"
            if "ms_per_customer" in builds
            else "",
            "",
            "",
        ),
        (
            "pools on disk per 10k customers (bytes)",
            fmt(builds.get("bytes_on_disk_per_10k_customers")),
            "",
            "",
        ),
        (
            "read: context / context + pool (PostgreSQL) / cache GET of a pool, p50 (ms)",
            f"{fmt(storage.get('context_read_ms_p50'))} / {fmt(storage.get('context_and_pool_read_ms_p50'))}"
            f" / {fmt(storage.get('cache_get_of_the_pool_ms_p50'))}",
            "",
            "",
        ),
        *_serving_event_rows(data, goals, goals_met, pair),
        *_serving_size_rows(data),
    ]


NOT_MEASURED = "not measured"
PRODUCT_BLOCKS = ("similar", "bought_together")  # the command's: keyed by the viewed product, no pool


def _serving_product_block_rows(
    data: dict[str, Any], goals: dict[str, Any], goals_met: dict[str, Any], pair: Callable[[Any], str]
) -> list:
    """The product-keyed blocks (no stored pool: the direct path), uncached, for a known customer
    viewing a random product; "not measured" in files written before they were."""
    ratio = data.get("p99_over_floor", {})
    items = data.get("product_blocks_items_mean", {})
    rows = []
    for block in PRODUCT_BLOCKS:
        measured = data.get(f"{block}_uncached_ms")
        goal = goals.get(f"{block}_uncached_p99_ms", goals.get("uncached_p99_ms"))
        rows.append(
            (
                f"{block} (viewed product, no pool) p50 / p99 (ms), p99 ÷ floor p99, items",
                f"{pair(measured)}, {fmt(ratio.get(block))}, {fmt(items.get(block))}"
                if measured
                else NOT_MEASURED,
                f"p99 ≤ {fmt(goal)} ms",
                met(goals_met.get(f"{block}_uncached_p99_ms")),
            )
        )
    return rows


def _serving_event_rows(
    data: dict[str, Any], goals: dict[str, Any], goals_met: dict[str, Any], pair: Callable[[Any], str]
) -> list:
    """Event → changed response through a real worker, and in eager mode (in-process). Files
    written before the worker's measurement hold the eager figure under ``event_to_response_ms``."""
    if "event_to_response_in_process_ms" in data:
        worker, worker_mode = data.get("event_to_response_ms"), data.get("event_to_response_mode", "")
        eager = data["event_to_response_in_process_ms"]
        eager_mode = data.get("event_to_response_in_process_mode", "")
        immediate = data.get("event_to_response_in_process_immediate_share")
        worker_met = goals_met.get("event_to_response_p99_ms")
    else:  # an older file: the in-process figure only
        worker, worker_mode = None, NOT_MEASURED
        eager, eager_mode = data.get("event_to_response_ms"), data.get("event_to_response_mode", "")
        immediate, worker_met = None, None
    goal = f"p99 ≤ {fmt(goals.get('event_to_response_p99_ms'))} ms"
    return [
        (
            "event → changed response, worker (Redis + Celery): p50 / p99 (ms), events, misses",
            f"{pair(worker)}, {fmt(data.get('event_to_response_events'))}, "
            f"{fmt(data.get('event_to_response_misses'))}"
            if worker
            else NOT_MEASURED,
            goal,
            met(worker_met) if worker else met(None),
        ),
        ("event → response through the worker, measured", escape(str(worker_mode)), "", ""),
        (
            "event → changed response, eager (in-process): p50 / p99 (ms), next response changed",
            f"{pair(eager)}, {fmt(immediate)}" if eager else NOT_MEASURED,
            "",
            "",
        ),
        ("event → response in-process, measured", escape(str(eager_mode)), "", ""),
    ]


def _serving_size_rows(data: dict[str, Any]) -> list:
    """HNSW index and product table sizes, peak RSS of the benchmark and its PostgreSQL backend."""
    sizes, rss = data.get("index_sizes_mb"), data.get("rss_mb")
    hnsw = ", ".join(f"{name} {fmt(mb)}" for name, mb in (sizes or {}).get("hnsw", {}).items())
    backend = (
        f"{fmt(rss.get('postgres_backend'))} (peak {fmt(rss.get('postgres_backend_peak'))})"
        if rss and rss.get("postgres_backend") is not None
        else escape(str((rss or {}).get("postgres_note", NOT_MEASURED)))
    )
    return [
        (
            "HNSW indexes / product table / with indexes and TOAST (MB)",
            f"{hnsw or '–'} / {fmt(sizes.get('product_table'))} / {fmt(sizes.get('product_table_total'))}"
            if sizes
            else NOT_MEASURED,
            "",
            "",
        ),
        (
            "RSS: benchmark peak / PostgreSQL serving backend (MB)",
            f"{fmt(rss.get('benchmark_peak'))} / {backend}" if rss else NOT_MEASURED,
            "",
            "",
        ),
    ]


LOAD_ENDPOINTS = {"product_page": "product page with blocks", "recommendations_api": "recommendations API"}


def render_load(data: dict[str, Any], level: int) -> str:
    server, generator = data.get("server", {}), data.get("load_generator", {})
    intro = (
        f"Run {data.get('created')}: {fmt(data.get('seconds'))} s of load after "
        f"{fmt(data.get('warmup_seconds'))} s of warm-up (not measured), half the time on each endpoint; "
        f"{fmt(data.get('concurrency'))} visitors "
        f"(keep-alive connections, each with its own session) from {fmt(generator.get('processes'))} "
        f"load-generator processes; gunicorn {fmt(server.get('gunicorn'))}, {fmt(server.get('workers'))} "
        f"{fmt(server.get('worker_class'))} workers × {fmt(server.get('threads'))} threads on "
        f"{fmt(server.get('bind'))}; settings {code(data.get('settings'))} (DEBUG {fmt(data.get('debug'))}), "
        f"cache {code(str(data.get('cache_backend', '')).rsplit('.', 1)[-1])}, database "
        f"{code(data.get('database'))}, product {fmt(data.get('product_id'))}; "
        f"{fmt(data.get('cpu_count'))} CPUs, 1-minute load average {fmt(data.get('load_average_1m'))} "
        "(start, end)."
    )
    rows = []
    for name, row in data["endpoints"].items():
        goals = row.get("goals", {})
        goal = " at ".join(
            part
            for part in (
                f"≥ {fmt(goals['requests_per_s'])} req/s" if "requests_per_s" in goals else "",
                f"p99 ≤ {fmt(goals['p99_ms'])} ms" if "p99_ms" in goals else "",
            )
            if part
        )
        ok = all(row.get("goals_met", {}).values()) if row.get("goals_met") else None
        rows.append(
            (
                LOAD_ENDPOINTS.get(name, name),
                code(row.get("path")),
                fmt(row.get("requests")),
                fmt(row.get("requests_per_s")),
                fmt(row.get("p50_ms")),
                fmt(row.get("p99_ms")),
                fmt(row.get("errors")),
                fmt(row.get("server_cpu_ms_per_request")),
                fmt(row.get("server_cores_busy")),
                goal,
                met(ok),
            )
        )
    workers = data.get("web_workers") or []
    loaded = sorted({m for w in workers for m in [*w.get("ml_modules", []), *w.get("models_built", [])]})
    rows.append(
        (
            "no model in a web process",
            f"{len(workers)} workers",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "none loaded" if not loaded else "loaded: " + ", ".join(loaded),
            met(data.get("no_model_in_web_process")),
        )
    )
    parts = [
        intro,
        table(
            [
                "endpoint",
                "path",
                "requests",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "server CPU ms / request",
                "server cores busy",
                "goal",
                "",
            ],
            rows,
            align="llrrrrrrrll",
        ),
    ]
    if data.get("note"):
        parts.append(escape(str(data["note"])))
    return "\n\n".join(parts)


def render_sentiment(data: dict[str, Any], level: int) -> str:
    intro = (
        f"Model `{data.get('model')}`, text encoder `{data.get('text_encoder')}`; split: {data.get('split')}."
    )
    accuracy = table(
        ["language", "held-out n", "accuracy", "macro-F1", "goal", ""],
        [
            (
                lang,
                row.get("n"),
                row.get("accuracy"),
                row.get("macro_f1"),
                _goal_text(SENTIMENT_ACCURACY_GOALS.get(lang)),
                met(_at_least(row.get("accuracy"), SENTIMENT_ACCURACY_GOALS.get(lang))),
            )
            for lang, row in data["languages"].items()
        ],
        align="lrrrll",
    )
    speed = table(
        ["language", "texts", "mean chars", "text encoder texts/s", "sentiment texts/s"],
        [
            (
                lang,
                row.get("n_texts"),
                row.get("mean_chars"),
                row.get("text_encoder_texts_per_s"),
                row.get("sentiment_texts_per_s"),
            )
            for lang, row in (data.get("speed") or {}).items()
        ],
        align="lrrrr",
    )
    parts = [intro, heading(level, "Held-out accuracy"), accuracy]
    checks = data.get("check_sets") or {}
    if checks:
        parts.append(heading(level, "Review check sets (never trained on)"))
        rows = []
        for name, row in checks.items():
            for who, m in row.items():
                if isinstance(m, dict):
                    rows.append(
                        (
                            name if who == "model" else "",
                            "stylerec" if who == "model" else who,
                            m.get("n"),
                            m.get("accuracy"),
                            m.get("macro_f1"),
                            m.get("auc"),
                            m.get("majority"),
                            m.get("neutral_share"),
                        )
                    )
        parts.append(
            table(
                ["set", "model", "n", "accuracy", "macro-F1", "AUC", "majority class", "neutral"],
                rows,
                align="llrrrrrr",
            )
        )
        parts.append(
            "Sources: "
            + "; ".join(f"{code(name)}: {row.get('source')}" for name, row in checks.items())
            + "."
        )
    parts += [heading(level, "Speed (batched)"), speed]
    training = data.get("training")
    if training:
        env = data.get("environment", {})
        parts.append(heading(level, "Training run"))
        rows: list[tuple[str, str]] = [
            (code("version"), fmt(training.get("version"))),
            (code("device"), fmt(training.get("device"))),
            (code("train_seconds"), fmt(training.get("train_seconds"))),
        ]
        for lang, info in (training.get("data") or {}).items():
            rows.append(
                (
                    code(f"data.{lang}"),
                    f"{fmt(info.get('train_examples'))} train / "
                    f"{fmt(info.get('test_examples'))} test examples",
                )
            )
        for key, value in flatten(training.get("recipes") or {}, "recipes"):
            rows.append((code(key), fmt(value)))
        for key, value in flatten(env, "environment"):
            rows.append((code(key), fmt(value)))
        parts.append(table(["field", "value"], rows))
    return "\n\n".join(parts)


def render_preferences(data: dict[str, Any], level: int) -> str:
    intro = (
        f"Extractor `{data.get('extractor')}` on {fmt(data.get('n_sentences'))} check-set sentences; "
        "micro precision / recall over (kind, key, polarity)."
    )
    subsets = [key for key in ("all", "en", "zh", "mixed") if isinstance(data.get(key), dict)]
    subsets += [k for k, v in data.items() if isinstance(v, dict) and "precision" in v and k not in subsets]
    scores = table(
        ["subset", "precision", "recall", "F1", "tp", "fp", "fn"],
        [
            (
                s,
                data[s].get("precision"),
                data[s].get("recall"),
                data[s].get("f1"),
                data[s].get("tp"),
                data[s].get("fp"),
                data[s].get("fn"),
            )
            for s in subsets
        ],
        align="lrrrrrr",
    )
    parts = [intro, scores]
    errors = data.get("errors") or []
    if errors:
        parts.append(heading(level, "Sentences with a miss or an extra mention"))
        parts.append(
            table(
                ["sentence", "missed", "extra"],
                [
                    (
                        escape(e.get("text", "")),
                        "; ".join(" ".join(fmt(x) for x in m) for m in e.get("missed") or []) or "–",
                        "; ".join(" ".join(fmt(x) for x in m) for m in e.get("extra") or []) or "–",
                    )
                    for e in errors
                ],
            )
        )
    return "\n\n".join(parts)


def render_evaluation(data: dict[str, Any], level: int) -> str:
    k = 10 if 10 in data.get("ks", [10]) else data["ks"][-1]
    d = data.get("data", {})
    label = data.get("label", "")
    intro = (
        f"Data set `{data.get('dataset')}` ({'**SIMULATED**' if label == 'simulated' else label}): "
        f"{fmt(d.get('customers'))} customers ({fmt(d.get('evaluated_customers'))} evaluated), "
        f"{fmt(d.get('items'))} items, {fmt(d.get('interactions'))} interactions; item vectors: "
        f"{escape(str(d.get('content_vectors', '–')))}. Generated {data.get('generated_at')} in "
        f"{fmt(data.get('seconds'))} s. Protocol: {escape(str(data.get('protocol', '')))}."
    )
    notes = d.get("notes") or []
    if notes:
        intro += " Notes: " + "; ".join(escape(str(n)) for n in notes) + "."
    headers = ["method"] + [f"{METRIC_LABELS[m]}@{k}" for m in METHOD_METRICS]
    headers += ["MRR", f"Cov@{k}", f"Div@{k}"]
    rows = []
    for name, method in data["methods"].items():
        test = method.get("test", {})
        values = [test.get(f"{m}@{k}") for m in METHOD_METRICS]
        values += [test.get("mrr"), test.get(f"coverage@{k}"), test.get(f"diversity@{k}")]
        rows.append([name] + [fixed(v) for v in values])
    parts = [
        intro,
        heading(level, f"Test stage, K = {k}"),
        table(headers, rows, align="l" + "r" * (len(headers) - 1)),
    ]
    best = data.get("best_baseline")
    methods = data["methods"]
    if best in methods and "stylerec (learned)" in methods:
        ours = methods["stylerec (learned)"]["test"].get(f"ndcg@{k}")
        theirs = methods[best]["test"].get(f"ndcg@{k}")
        parts.append(
            f"Best baseline (by test NDCG@{k}): {best}. NDCG@{k} of stylerec (learned) {fixed(ours)} "
            f"against {fixed(theirs)}."
        )
    parts.extend(_render_peers_comparison(data, level))
    ks = data.get("ks", [])
    if ks:
        parts.append(heading(level, "NDCG by K (test stage)"))
        parts.append(
            table(
                ["method"] + [f"NDCG@{x}" for x in ks],
                [
                    [name] + [fixed(m.get("test", {}).get(f"ndcg@{x}")) for x in ks]
                    for name, m in methods.items()
                ],
                align="l" + "r" * len(ks),
            )
        )
    tuned = [(name, m.get("params") or {}) for name, m in methods.items() if m.get("tuning")]
    if tuned:
        parts.append(heading(level, "Hyper-parameters chosen on validation"))
        parts.append(
            table(
                ["method", "parameters", "grid size"],
                [
                    (
                        name,
                        ", ".join(f"{k_} {fmt(v)}" for k_, v in params.items()) or "–",
                        len(methods[name]["tuning"]),
                    )
                    for name, params in tuned
                ],
            )
        )
    learned = data.get("learned_profile")
    if learned:
        parts.append(heading(level, "Learned profile"))
        weights = learned.get("weights", {})
        parts.append(
            table(
                list(weights) + ["bias", "MMR λ", "max per category"],
                [
                    list(weights.values())
                    + [learned.get("bias"), learned.get("mmr_lambda"), learned.get("max_per_category")]
                ],
                align="r" * (len(weights) + 3),
            )
        )
    ablation = data.get("ablation") or []
    if ablation:
        parts.append(heading(level, f"Ablation: learned profile refitted without one signal (test NDCG@{k})"))
        parts.append(
            table(
                ["signal removed", f"NDCG@{k}", "Δ"],
                [
                    (a.get("signal"), fixed(a.get(f"ndcg@{k}")), _signed(a.get(f"delta_ndcg@{k}")))
                    if a.get("available", True)
                    else (a.get("signal"), "–", "not in the data")
                    for a in ablation
                ],
                align="lrr",
            )
        )
    sentiment = data.get("sentiment") or []
    if sentiment:
        parts.append(heading(level, "Sentiment model"))
        parts.append(render_generic({"sentiment": sentiment}, level + 1))
    return "\n\n".join(parts)


def _render_peers_comparison(data: dict[str, Any], level: int) -> list[str]:
    """The RecBole peers' settings and wall times, and stylerec (learned) minus each peer with its
    paired bootstrap interval (the evaluation JSON's ``peers``)."""
    comparison = data.get("peers") or {}
    if not comparison.get("available"):
        return []
    methods = data["methods"]
    best = comparison["best_peer"]
    env = comparison.get("environment") or {}
    parts = [
        heading(level, "RecBole peers: same split, same metric code"),
        f"RecBole {env.get('recbole', '?')} (torch {env.get('torch', '?')}, {env.get('threads', '?')} CPU "
        f"threads), scored {comparison.get('generated_at', '?')}. Protocol: "
        f"{escape(str(comparison.get('protocol', '')))}.",
        table(
            ["peer", "hyper-parameters", "wall time (s)"],
            [
                (
                    name,
                    ", ".join(f"{k_} {fmt(v)}" for k_, v in (methods[name].get("params") or {}).items())
                    or "–",
                    fmt(methods[name].get("seconds")),
                )
                for name in comparison["learned_minus_peer"]
                if name in methods
            ],
            align="llr",
        ),
    ]
    rows = []
    for name, by_metric in comparison["learned_minus_peer"].items():
        cells = [name + (" (best peer)" if name == best else "")]
        for key in ("ndcg@10", "hr@10"):
            ci = by_metric[key]
            cells.append(f"{_signed(ci['mean'])} [{_signed(ci['low'])}, {_signed(ci['high'])}]")
        rows.append(cells)
    first = next(iter(comparison["learned_minus_peer"].values()))["ndcg@10"]
    parts += [
        heading(level, "stylerec (learned) minus each peer, paired bootstrap"),
        f"Per-customer differences on test, {first['resamples']} resamples of the customers (seed "
        f"{first['seed']}), {round(first['level'] * 100)}% percentile interval in brackets.",
        table(["peer", "Δ NDCG@10 [CI]", "Δ HR@10 [CI]"], rows, align="lrr"),
    ]
    return parts


def render_peers(data: dict[str, Any], level: int) -> str:
    """``peers_<dataset>.json``: each peer's settings, wall time and test metrics (the per-user
    values it also holds feed the bootstrap in the evaluation report)."""
    env = data.get("environment") or {}
    rows = [
        (
            name,
            ", ".join(f"{k_} {fmt(v)}" for k_, v in (peer.get("params") or {}).items()) or "–",
            fmt(peer.get("seconds")),
            fixed(peer["test"].get("ndcg@10")),
            fixed(peer["test"].get("hr@10")),
        )
        for name, peer in data["models"].items()
    ]
    return "\n\n".join(
        [
            f"RecBole {env.get('recbole', '?')}, scored {data.get('generated_at', '?')} on split "
            f"`{data.get('split')}`. {escape(str(data.get('protocol', '')))}.",
            table(["peer", "hyper-parameters", "wall time (s)", "NDCG@10", "HR@10"], rows, align="llrrr"),
        ]
    )


def _signed(value: Any) -> str:
    if value is None:
        return "–"
    return ("+" if value > 0 else "") + fixed(value)


def _goal_text(goal: float | None) -> str:
    return f"≥ {fmt(goal)}" if goal is not None else ""


def _at_least(value: Any, goal: float | None) -> bool | None:
    if goal is None or value is None:
        return None
    return bool(value >= goal)


Renderer = Callable[[dict[str, Any], int], str]


def render_styled(data: dict[str, Any], level: int) -> str:
    """Old (art filter) and new (faithful) styled images side by side; the per-pair rows stay in
    the file."""
    summary, goals, method = data["summary"], data["goals"], data.get("method", {})
    old, new = summary["old"], summary["new"]
    intro = (
        f"Run {data.get('created')}: {fmt(data['products'])} products × {fmt(data['styles'])} styles "
        f"({fmt(data['pairs'])} pairs) from {code(data.get('source'))}, {fmt(data.get('duration_s'))} s. "
        f"Old: {method.get('old', '')}. New: {method.get('new', '')}. "
        f"Both after a {method.get('images', '')}; "
        f"measured inside and outside the {method.get('mask', 'mask')}; style strength = "
        f"{method.get('style_strength', '')}."
    )
    rows = []
    for key, label, goal in (
        (
            "delta_e_inside",
            "colour change inside the product, mean ΔE2000",
            f"≤ {fmt(goals['delta_e_inside_max'])}",
        ),
        ("delta_e_outside", "background change, mean ΔE2000", f"≤ {fmt(goals['delta_e_outside_max'])}"),
        (
            "style_strength",
            "style strength (0 photo, 1 style)",
            f"≥ {fmt(goals['strength_share_of_old_min'])} × old",
        ),
    ):
        rows.append(
            (
                label,
                goal,
                f"{fixed(old[key]['mean'], 2)} (p90 {fixed(old[key]['p90'], 2)})",
                f"{fixed(new[key]['mean'], 2)} (p90 {fixed(new[key]['p90'], 2)})",
                met(summary["goals_met_by_new"][key]),
            )
        )
    parts = [intro, table(["", "goal (new)", "old", "new", ""], rows)]
    parts.append(
        f"New strength / old: {fixed(summary['new_strength_share_of_old'], 3)}; pairs within the colour "
        f"goal: old {fixed(old['pairs_delta_e_inside_within_goal'], 3)}, new "
        f"{fixed(new['pairs_delta_e_inside_within_goal'], 3)}; within the background goal: old "
        f"{fixed(old['pairs_delta_e_outside_within_goal'], 3)}, new "
        f"{fixed(new['pairs_delta_e_outside_within_goal'], 3)}."
    )
    mask = summary.get("product_mask")
    if mask:
        iou = mask["iou_vs_true_silhouette"]
        parts.append(
            f"`product_mask` against the true silhouette: IoU mean {fixed(iou['mean'], 3)}; share of "
            f"photos below 0.9: {fixed(mask['iou_below_0_9_share'], 3)}; photos without a mask: "
            f"{fmt(summary.get('photos_without_a_mask'))}."
        )
    parts.append(heading(level, "Per style"))
    parts.append(
        table(
            ["style", "ΔE inside old", "new", "ΔE outside old", "new", "strength old", "new"],
            (
                (
                    code(row["style"]),
                    fixed(row["old"]["delta_e_inside"], 2),
                    fixed(row["new"]["delta_e_inside"], 2),
                    fixed(row["old"]["delta_e_outside"], 2),
                    fixed(row["new"]["delta_e_outside"], 2),
                    fixed(row["old"]["style_strength"], 3),
                    fixed(row["new"]["style_strength"], 3),
                )
                for row in summary["per_style"]
            ),
            align=["l", "r", "r", "r", "r", "r", "r"],
        )
    )
    return "\n\n".join(parts)


def renderer_for(name: str) -> Renderer | None:
    if name == "models.json":
        return render_models
    if name == "styled.json":
        return render_styled
    if name == "pipeline.json":
        return render_pipeline
    if name.startswith("serving") and name.endswith(".json"):
        return render_serving
    if name == "sentiment_eval.json":
        return render_sentiment
    if name == "preference_eval.json":
        return render_preferences
    if name == "load.json":
        return render_load
    if name.startswith("evaluation_") and name.endswith(".json"):
        return render_evaluation
    if name.startswith("peers_") and name.endswith(".json"):
        return render_peers
    return None


def producer(name: str) -> str | None:
    if name in PRODUCERS:
        return PRODUCERS[name]
    if name.startswith("evaluation_"):
        dataset = name.removeprefix("evaluation_").removesuffix(".json")
        return f"python manage.py stylerec_evaluate --dataset {dataset}"
    if name.startswith("serving"):
        return f"python manage.py stylerec_benchmark_serving --output benchmarks/results/{name}"
    return None


def title(name: str) -> str:
    if name in TITLES:
        return TITLES[name]
    if name.startswith("evaluation_"):
        return "Offline evaluation, " + name.removeprefix("evaluation_").removesuffix(".json")
    return Path(name).stem.replace("_", " ").capitalize()


# --- the whole page ------------------------------------------------------------------------------


def load_results(results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """{file name: parsed JSON} of every ``*.json`` in ``results_dir``, sorted by name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(results_dir.glob("*.json"))
    }


def anchor(name: str) -> str:
    return Path(name).stem.replace("_", "-").replace(".", "-").lower()


def render_file(name: str, data: Any, level: int = 2) -> str:
    """One results file as a Markdown section (heading, producing command, tables)."""
    parts = [heading(level, f"{title(name)} (`{name}`)", anchor(name))]
    command = producer(name)
    parts.append(f"`benchmarks/results/{name}`" + (f", written by `{command}`." if command else "."))
    render = renderer_for(name)
    body = None
    if render is not None and isinstance(data, dict):
        try:
            body = render(data, level + 1)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            body = None  # an unexpected shape: show it generically below
    parts.append(body if body is not None else render_generic(data, level + 1))
    return "\n\n".join(parts)


def render_summary(results: dict[str, Any]) -> str:
    """The headline table: each goal, its measurement and whether it is met, from whichever files
    exist. Rows whose file is missing or lacks the field are left out."""
    rows: list[tuple[str, str, str, str, str]] = []

    def add(what: str, goal: str, value: str, ok: bool | None, source: str) -> None:
        rows.append((what, goal, value, met(ok), f"[`{source}`](#{anchor(source)})"))

    def attempt(fn: Callable[[], None]) -> None:
        try:
            fn()
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            pass

    sentiment = results.get("sentiment_eval.json")
    if isinstance(sentiment, dict):
        for lang, label in (("zh", "Chinese reviews"), ("en", "English film snippets")):

            def _sentiment(lang: str = lang, label: str = label) -> None:
                row = sentiment["languages"][lang]
                goal = SENTIMENT_ACCURACY_GOALS[lang]
                add(
                    f"Sentiment accuracy, {label} (held out)",
                    f"≥ {fmt(goal)}",
                    f"{fmt(row['accuracy'])} (macro-F1 {fmt(row['macro_f1'])})",
                    row["accuracy"] >= goal,
                    "sentiment_eval.json",
                )

            attempt(_sentiment)

        def _product_reviews() -> None:
            row = sentiment["check_sets"]["en-products"]
            m, vader = row["model"], row["vader"]
            add(
                "Sentiment, English product reviews (check set)",
                f"macro-F1 ≥ {fmt(SENTIMENT_PRODUCT_F1_GOAL)}, above VADER",
                f"{fmt(m['macro_f1'])} (accuracy {fmt(m['accuracy'])}; VADER {fmt(vader['accuracy'])})",
                m["macro_f1"] >= SENTIMENT_PRODUCT_F1_GOAL and m["accuracy"] > vader["accuracy"],
                "sentiment_eval.json",
            )

        attempt(_product_reviews)

    preferences = results.get("preference_eval.json")
    if isinstance(preferences, dict):

        def _preferences() -> None:
            add(
                f"Preference extraction, {fmt(preferences['n_sentences'])}-sentence check set",
                "reported",
                f"P {fmt(preferences['all']['precision'])} / R {fmt(preferences['all']['recall'])}",
                None,
                "preference_eval.json",
            )

        attempt(_preferences)

    models = results.get("models.json")
    if isinstance(models, dict):
        for kind, row in (models.get("summary") or {}).items():

            def _model(kind: str = kind, row: dict[str, Any] = row) -> None:
                px = f", {row['input_px']} px" if row.get("input_px") else ""
                add(
                    f"Model speed: {kind}{px}",
                    f"≥ {fmt(row['goal_items_per_s'])}/s",
                    f"{fmt(row['best_items_per_s'])}/s (batch {row['at_batch_size']})",
                    row["met"],
                    "models.json",
                )

            attempt(_model)

    pipeline = results.get("pipeline.json")
    if isinstance(pipeline, dict):
        for row in pipeline.get("rows") or []:

            def _pipeline(row: dict[str, Any] = row) -> None:
                add(
                    f"Pipeline vs raw model, `{row['kind']}`",
                    f"≥ {fmt(pipeline['goal_ratio'])}",
                    fmt(row["ratio"]),
                    row["goal_met"],
                    "pipeline.json",
                )

            attempt(_pipeline)

    for name in sorted(n for n in results if n.startswith("serving")):
        serving = results[name]

        def _serving(name: str = name, serving: Any = serving) -> None:
            pool = f"pool {serving['candidate_pool']}"
            goals, ok = serving["goals"], serving["goals_met"]
            add(
                f"Serving uncached p99 ({fmt(serving['products'])} products, {pool})",
                f"≤ {fmt(goals['uncached_p99_ms'])} ms",
                f"{fmt(serving['uncached_ms']['p99'])} ms",
                ok["uncached_p99_ms"],
                name,
            )
            add(
                f"Serving cached p50 ({pool})",
                f"≤ {fmt(goals['cached_p50_ms'])} ms",
                f"{fmt(serving['cached_ms']['p50'])} ms",
                ok["cached_p50_ms"],
                name,
            )
            add(
                f"HNSW recall@10 with the category filter ({pool})",
                f"≥ {fmt(goals['recall_at_10_filtered'])}",
                fmt(serving["recall_at_10"]["category_filter"]),
                ok["recall_at_10_filtered"],
                name,
            )

        attempt(_serving)

    for name in sorted(n for n in results if n.startswith("evaluation_")):
        evaluation = results[name]

        def _evaluation(name: str = name, evaluation: Any = evaluation) -> None:
            best = evaluation["best_baseline"]
            methods = evaluation["methods"]
            ours = methods["stylerec (learned)"]["test"]["ndcg@10"]
            theirs = methods[best]["test"]["ndcg@10"]
            simulated = " (SIMULATED data)" if evaluation.get("label") == "simulated" else ""
            add(
                f"NDCG@10 on {evaluation['dataset']}{simulated}, stylerec (learned) vs best baseline",
                "≥ best baseline",
                f"{fmt(ours)} vs {fmt(theirs)} ({best})",
                ours >= theirs,
                name,
            )
            goal = EVALUATION_NDCG_GOALS.get(evaluation["dataset"])
            if goal is not None:
                add(f"NDCG@10 on {evaluation['dataset']}, stylerec (learned)", f"≥ {fmt(goal)}", fmt(ours),
                    ours >= goal, name)  # fmt: skip
            comparison = evaluation.get("peers") or {}
            if comparison.get("available"):
                peer = comparison["best_peer"]
                for key, metric in (("ndcg@10", "NDCG@10"), ("hr@10", "HR@10")):
                    ci = comparison["learned_minus_peer"][peer][key]
                    add(
                        f"{metric} on {evaluation['dataset']}, stylerec (learned) − best RecBole peer",
                        "95% CI above 0",
                        f"{_signed(ci['mean'])} [{_signed(ci['low'])}, {_signed(ci['high'])}] vs {peer}",
                        ci["low"] > 0,
                        name,
                    )

        attempt(_evaluation)

    attack = results.get("attack.json")
    if isinstance(attack, dict):

        def _attack() -> None:
            add(
                f"Shilling: {fmt(attack['accounts'])} fake accounts, the target's worst block "
                f"({fmt(attack['customers_measured'])} customers)",
                f"≤ {fmt(attack['goal_max_customer_ratio'])} of customers",
                fmt(attack["after_max_customer_ratio"]),
                attack["goal_met"],
                "attack.json",
            )

        attempt(_attack)

    load = results.get("load.json")
    if isinstance(load, dict):

        def _load() -> None:
            for name, row in load["endpoints"].items():
                goals = row["goals"]
                add(
                    f"Load test, {LOAD_ENDPOINTS.get(name, name)} ({fmt(load['cpu_count'])} CPUs, shared)",
                    f"≥ {fmt(goals['requests_per_s'])} req/s"
                    + (f", p99 ≤ {fmt(goals['p99_ms'])} ms" if "p99_ms" in goals else ""),
                    f"{fmt(row['requests_per_s'])} req/s, p99 {fmt(row['p99_ms'])} ms",
                    all(row["goals_met"].values()),
                    "load.json",
                )
            add(
                "No model in a web process (load test)",
                "none",
                "none" if load["no_model_in_web_process"] else "loaded",
                load["no_model_in_web_process"],
                "load.json",
            )

        attempt(_load)

    styled = results.get("styled.json")
    if isinstance(styled, dict):

        def _styled() -> None:
            summary, goals = styled["summary"], styled["goals"]
            new, verdicts = summary["new"], summary["goals_met_by_new"]
            add(
                "Styled images: colour change inside the product (mean ΔE2000)",
                f"≤ {fmt(goals['delta_e_inside_max'])}",
                f"{fixed(new['delta_e_inside']['mean'], 2)} (art filter before: "
                f"{fixed(summary['old']['delta_e_inside']['mean'], 2)})",
                verdicts["delta_e_inside"],
                "styled.json",
            )
            add(
                "Styled images: background change (mean ΔE2000)",
                f"≤ {fmt(goals['delta_e_outside_max'])}",
                f"{fixed(new['delta_e_outside']['mean'], 2)} (before: "
                f"{fixed(summary['old']['delta_e_outside']['mean'], 2)})",
                verdicts["delta_e_outside"],
                "styled.json",
            )
            add(
                "Styled images: style strength kept",
                f"≥ {fmt(goals['strength_share_of_old_min'])} of before",
                fixed(summary["new_strength_share_of_old"], 3),
                verdicts["style_strength"],
                "styled.json",
            )

        attempt(_styled)

    if not rows:
        return ""
    return table(["what", "goal", "measured", "", "file"], rows)


def render_markdown(results_dir: Path = RESULTS_DIR, level: int = 2) -> str:
    """The whole measurements section: the headline table, then one section per results file."""
    results = load_results(results_dir)
    if not results:
        return f"_No results files in `{results_dir}`._\n"
    parts = []
    summary = render_summary(results)
    if summary:
        parts += [heading(level, "At a glance", "at-a-glance"), summary]
    parts += [render_file(name, data, level) for name, data in results.items()]
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--output", type=Path, default=None, help="write here instead of stdout")
    args = parser.parse_args(argv)
    markdown = render_markdown(args.results_dir)
    if args.output:
        args.output.write_text(markdown, encoding="utf-8")
    else:
        sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
