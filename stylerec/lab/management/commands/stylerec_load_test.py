"""Load test: gunicorn on 127.0.0.1 with the current settings, a product page with its blocks and
the recommendations API under a bounded load, ``benchmarks/results/load.json``.

    python manage.py stylerec_load_test --seconds 30

Steps: start gunicorn (``stylerec.lab.loadtest_server``: the host's WSGI application on the
database this command uses, gthread workers with keep-alive) on a free loopback port; wait until
it answers; run the load generator (``stylerec.lab.loadgen``: processes of threads, each thread a
visitor with one keep-alive connection and its own session). It warms up first (every visitor
opens the product page and the API: sessions are made, caches filled; not measured), then drives
the product page for half the time and the API for the other half. Last, it stops gunicorn, reads
what each web worker loaded (no model may run in a web process), erases everything the synthetic
visitors left (their events, profiles and sessions: ``services.privacy.customer_erase``) unless
``--keep-data``, and writes requests/s, p50, p99 and errors per endpoint with the goals beside
them. At most 60 seconds of load; never anything but loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.urls import reverse

HOST = "127.0.0.1"
MAX_SECONDS = 60
START_TIMEOUT_S = 60
GOALS: dict[str, dict[str, float]] = {
    "product_page": {"requests_per_s": 100.0, "p99_ms": 100.0},
    "recommendations_api": {"requests_per_s": 300.0},
}
NOTE = (
    "One machine runs gunicorn, PostgreSQL, Redis and the load generator: they share its CPUs, so "
    "requests/s is a floor for a web node of this size; server_cpu_ms_per_request (the gunicorn "
    "processes' own CPU time per answered request) is what a web node spends. Each visitor "
    "reloads one product page: a reload is not a new view (REPEAT_VIEW_SECONDS), so its blocks "
    "are served from the cache; the API's answers are cached between the visitor's events."
)


def settings_module() -> str:
    """The settings module gunicorn must load: this process's (``lab.worker``)."""
    from stylerec.lab.worker import caller_settings_module

    try:
        return caller_settings_module()
    except RuntimeError as exc:
        raise CommandError(str(exc)) from exc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def process_tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` and its children so far (Linux ``/proc``;
    None where there is none): what the gunicorn master and its workers have spent."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                        # after "(comm)": state ppid ... utime stime are fields 12 and 13 from there
                        fields = handle.read().rsplit(")", 1)[1].split()
                except OSError:  # exited meanwhile
                    continue
                stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except (OSError, ValueError, AttributeError):
        return None
    family = {pid}
    for child, (parent, _) in stats.items():
        if parent == pid:
            family.add(child)
    return sum(stats[p][1] for p in family if p in stats) / ticks if pid in stats else None


class CpuSampler(threading.Thread):
    """Reads the server's CPU seconds at given wall-clock moments (the phases' edges), from a
    thread, while the load generators run."""

    def __init__(self, *, pid: int, moments: list[float]) -> None:
        super().__init__(daemon=True)
        self.pid, self.moments = pid, moments
        self.samples: list[float | None] = []

    def run(self) -> None:
        for moment in self.moments:
            time.sleep(max(0.0, moment - time.time()))
            self.samples.append(process_tree_cpu_seconds(self.pid))


def load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def summarise(phase: dict[str, Any], seconds: float, goals: dict[str, float]) -> dict[str, Any]:
    latencies = phase["latencies_ms"]
    row: dict[str, Any] = {
        "requests": phase["requests"],
        "requests_per_s": round(phase["requests"] / seconds, 1) if seconds > 0 else None,
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) or 0.0, 2) if latencies else None,
        "errors": phase["errors"],
        "statuses": dict(sorted(phase["statuses"].items())),
    }
    met = {}
    if "requests_per_s" in goals:
        met["requests_per_s"] = (
            row["requests_per_s"] is not None and row["requests_per_s"] >= goals["requests_per_s"]
        )
    if "p99_ms" in goals:
        met["p99_ms"] = row["p99_ms"] is not None and row["p99_ms"] <= goals["p99_ms"]
    row["goals"] = goals
    row["goals_met"] = met
    return row


class Command(BaseCommand):
    help = "Load-test a product page with blocks and the recommendations API on a local gunicorn."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seconds", type=float, default=30.0, help=f"Measured load, at most {MAX_SECONDS}."
        )
        parser.add_argument("--warmup", type=float, default=None, help="Unmeasured warm-up (default: 10%%).")
        parser.add_argument("--concurrency", type=int, default=8, help="Visitors (keep-alive connections).")
        parser.add_argument("--processes", type=int, default=2, help="Load-generator processes.")
        parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: CPUs).")
        parser.add_argument("--threads", type=int, default=2, help="Threads per gunicorn worker.")
        parser.add_argument("--product-id", type=int, default=None, help="Default: the most popular product.")
        parser.add_argument("--output", type=Path, default=Path("benchmarks/results/load.json"))
        parser.add_argument(
            "--keep-data", action="store_true", help="Keep the visitors' events and sessions."
        )
        parser.add_argument(
            "--keep-debug",
            action="store_true",
            help="Serve with the settings' DEBUG (default: DEBUG off, as a store serves).",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        seconds = float(opts["seconds"])
        self.keep_debug = bool(opts["keep_debug"])
        if not 0 < seconds <= MAX_SECONDS:
            raise CommandError(f"--seconds must be above 0 and at most {MAX_SECONDS}")
        warmup = float(opts["warmup"]) if opts["warmup"] is not None else max(1.0, round(seconds / 10, 1))
        warmup = min(warmup, 10.0)
        concurrency = max(1, int(opts["concurrency"]))
        processes = max(1, min(int(opts["processes"]), concurrency))
        workers = int(opts["workers"] or os.cpu_count() or 2)
        product, paths = self._targets(opts["product_id"])

        port = free_port()
        probe_dir = Path(tempfile.mkdtemp(prefix="stylerec-load-"))
        server = self._start_gunicorn(
            port=port, workers=workers, threads=int(opts["threads"]), probe_dir=probe_dir
        )
        started = time.monotonic()
        load_start = load_average()
        try:
            # The API creates no session for a visitor without one: the probe leaves nothing behind.
            self._wait_until_up(port, paths["recommendations_api"], server, probe_dir)
            self.stdout.write(f"gunicorn up on {HOST}:{port} after {time.monotonic() - started:.1f} s")
            phases: list[dict[str, Any]] = [
                {"name": "product_page", "path": paths["product_page"], "seconds": seconds / 2},
                {"name": "recommendations_api", "path": paths["recommendations_api"], "seconds": seconds / 2},
            ]
            measured = self._drive(
                port=port,
                phases=phases,
                warmup=warmup,
                concurrency=concurrency,
                processes=processes,
                server_pid=server.pid,
            )
        finally:
            self._stop(server)
        load_end = load_average()
        web_workers = [
            json.loads(path.read_text(encoding="utf-8")) for path in sorted(probe_dir.glob("worker-*.json"))
        ]
        log_tail = (probe_dir / "gunicorn.log").read_text(encoding="utf-8", errors="replace")[-2000:]
        cleaned = {} if opts["keep_data"] else self._erase_visitors(measured["sessions"])

        endpoints = {
            phase["name"]: {
                "path": phase["path"],
                **summarise(measured["phases"][phase["name"]], phase["seconds"], GOALS[phase["name"]]),
                **server_cpu(measured, index, phase),
            }
            for index, phase in enumerate(phases)
        }
        no_model = bool(web_workers) and not any(w["ml_modules"] or w["models_built"] for w in web_workers)
        report = {
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "seconds": seconds,
            "warmup_seconds": warmup,
            "concurrency": concurrency,
            "load_generator": {
                "processes": processes,
                "threads": concurrency,
                "client": "http.client keep-alive",
            },
            "server": {
                "gunicorn": _version("gunicorn"),
                "workers": workers,
                "threads": int(opts["threads"]),
                "worker_class": "gthread",
                "bind": f"{HOST}:{port}",
            },
            "settings": settings_module(),
            # what the web workers served with (they report it as they exit)
            "debug": any(bool(w.get("debug")) for w in web_workers),
            "database": connection.settings_dict.get("NAME"),
            "cache_backend": settings.CACHES.get("default", {}).get("BACKEND", ""),
            "product_id": product.pk,
            "endpoints": endpoints,
            "web_workers": web_workers,
            "no_model_in_web_process": no_model,
            "goals": {**GOALS, "no_model_in_web_process": True},
            "goals_met": {
                **{name: all(row["goals_met"].values()) for name, row in endpoints.items()},
                "no_model_in_web_process": no_model,
            },
            "cpu_count": os.cpu_count(),
            "load_average_1m": [
                load_start[0] if load_start else None,
                load_end[0] if load_end else None,
            ],
            "visitors_erased": cleaned,
            "note": NOTE,
        }
        if not web_workers:
            report["gunicorn_log_tail"] = log_tail
        output: Path = opts["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        for name, row in endpoints.items():
            verdict = "met" if all(row["goals_met"].values()) else "not met"
            self.stdout.write(
                f"{name}: {row['requests_per_s']} req/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
                f"{row['errors']} errors (goals {row['goals']}: {verdict})"
            )
        self.stdout.write(f"no model in a web process: {no_model}; wrote {output}")

    # --- steps ---------------------------------------------------------------------------------

    def _targets(self, product_id: int | None) -> tuple[Any, dict[str, str]]:
        from stylerec.models import get_product_model
        from stylerec.views import product_url_for

        products = get_product_model().objects.filter(is_active=True)
        product = (
            products.filter(pk=product_id).first()
            if product_id
            else products.order_by("-popularity", "-sales_count", "pk").first()
        )
        if product is None:
            raise CommandError(
                "No active product to load-test"
                + (f" with id {product_id}" if product_id else ": build a catalog first (build_demo_catalog)")
            )
        page = product_url_for(product)
        if page == "/":
            raise CommandError(
                "The product has no page URL: give the product model get_absolute_url() or set "
                'STYLEREC["PRODUCT_URL_NAME"].'
            )
        api = reverse("stylerec:api-recommendations") + "?block=for_you"
        return product, {"product_page": page, "recommendations_api": api}

    def _start_gunicorn(self, *, port: int, workers: int, threads: int, probe_dir: Path) -> subprocess.Popen:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module(),
            "STYLEREC_LOADTEST_PROBE_DIR": str(probe_dir),
            "STYLEREC_LOADTEST_DATABASE": json.dumps(
                {key: db.get(key) for key in ("NAME", "HOST", "PORT", "USER", "PASSWORD")}
            ),
            "PYTHONUNBUFFERED": "1",
            "STYLEREC_LOADTEST_DEBUG": "1" if self.keep_debug else "0",
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:stylerec.lab.loadtest_server",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--error-logfile",
            str(probe_dir / "gunicorn.log"),
            "stylerec.lab.loadtest_server:application",
        ]
        return subprocess.Popen(
            command, env=env, cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _wait_until_up(self, port: int, path: str, server: subprocess.Popen, probe_dir: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if server.poll() is not None:
                log = (probe_dir / "gunicorn.log").read_text(encoding="utf-8", errors="replace")
                raise CommandError(f"gunicorn exited ({server.returncode}):\n{log[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                raise CommandError(f"{path} answered {exc.code} on the load-test server") from exc
            except OSError:
                pass
            time.sleep(0.25)
        raise CommandError(f"gunicorn did not answer within {START_TIMEOUT_S} s")

    def _drive(
        self,
        *,
        port: int,
        phases: list[dict[str, Any]],
        warmup: float,
        concurrency: int,
        processes: int,
        server_pid: int,
    ) -> dict[str, Any]:
        start_at = time.time() + 1.0  # every generator process is running by then
        edges = [start_at + warmup]
        for phase in phases:
            edges.append(edges[-1] + phase["seconds"])
        sampler = CpuSampler(pid=server_pid, moments=edges)
        sampler.start()
        shares = [
            concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)
        ]
        children = []
        for threads in shares:
            plan = {
                "port": port,
                "threads": threads,
                "start_at": start_at,
                "warmup": warmup,
                "cookie_name": settings.SESSION_COOKIE_NAME,
                "phases": phases,
            }
            child = subprocess.Popen(
                [sys.executable, "-m", "stylerec.lab.loadgen", json.dumps(plan)],
                stdout=subprocess.PIPE,
                cwd=os.getcwd(),
                text=True,
            )
            children.append(child)
        total = 1.0 + warmup + sum(p["seconds"] for p in phases) + 30.0  # + the slowest request's timeout
        merged: dict[str, Any] = {
            "phases": {
                p["name"]: {"latencies_ms": [], "statuses": {}, "errors": 0, "requests": 0} for p in phases
            },
            "sessions": [],
        }
        for child in children:
            try:
                out, _ = child.communicate(timeout=total)
            except subprocess.TimeoutExpired as exc:
                child.kill()
                raise CommandError("a load generator did not finish in time") from exc
            if child.returncode != 0:
                raise CommandError(f"a load generator failed ({child.returncode})")
            result = json.loads(out)
            merged["sessions"].extend(result["sessions"])
            for name, phase in result["phases"].items():
                into = merged["phases"][name]
                into["latencies_ms"].extend(phase["latencies_ms"])
                into["requests"] += phase["requests"]
                into["errors"] += phase["errors"]
                for status, n in phase["statuses"].items():
                    into["statuses"][status] = into["statuses"].get(status, 0) + n
        sampler.join(timeout=5)
        merged["server_cpu_samples"] = sampler.samples
        return merged

    def _stop(self, server: subprocess.Popen) -> None:
        if server.poll() is None:
            server.terminate()  # graceful: the workers exit and write their probes
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    def _erase_visitors(self, session_keys: list[str]) -> dict[str, Any]:
        """Everything the synthetic visitors left behind: their events, profiles and preferences
        (the privacy service's erasure of their pseudonyms), then their sessions."""
        from stylerec.customers import session_customer_key
        from stylerec.services.privacy import customer_erase

        store_class = import_module(settings.SESSION_ENGINE).SessionStore
        stores = [store_class(session_key=key) for key in dict.fromkeys(session_keys)]
        pseudonyms = [key for key in (session_customer_key(store) for store in stores) if key]
        erased = customer_erase(user_id=None, session_keys=pseudonyms) if pseudonyms else {}
        for store in stores:
            store.delete()
        return {"sessions": len(stores), **(erased.get("erased", {}) if isinstance(erased, dict) else {})}


def server_cpu(measured: dict[str, Any], index: int, phase: dict[str, Any]) -> dict[str, Any]:
    """The gunicorn processes' CPU time over the phase, per answered request and as cores busy."""
    samples = measured.get("server_cpu_samples") or []
    requests = measured["phases"][phase["name"]]["requests"]
    if len(samples) <= index + 1 or samples[index] is None or samples[index + 1] is None or not requests:
        return {"server_cpu_ms_per_request": None, "server_cores_busy": None}
    spent = samples[index + 1] - samples[index]
    return {
        "server_cpu_ms_per_request": round(1000 * spent / requests, 2),
        "server_cores_busy": round(spent / phase["seconds"], 2),
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
