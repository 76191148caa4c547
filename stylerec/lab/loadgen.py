"""The load generator of ``stylerec_load_test``: threads of keep-alive ``http.client`` connections.

Standard library only, run as ``python -m stylerec.lab.loadgen '<plan>'`` (one process per share
of the connections, so the load generator is not one GIL against several web workers). The plan is
its argument, as JSON; it writes its measurements as JSON on stdout::

    {"port": 8123, "threads": 4, "start_at": <epoch s>, "warmup": 3.0, "cookie_name": "sessionid",
     "phases": [{"name": "product_page", "path": "/p/1/", "seconds": 10}, ...]}

Each thread is one visitor: one connection to 127.0.0.1, kept alive, and the cookies the site
sets (its session). During the warm-up it requests every phase's path in turn (first visits
create sessions and fill caches; nothing is measured); then each phase runs from its start time,
all threads on that phase's path, and a request counts for the phase in which it started.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from typing import Any

HOST = "127.0.0.1"  # loopback only: the load test never leaves the machine
TIMEOUT_S = 10.0


class Visitor:
    """One keep-alive connection and the cookies the site set on it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, float]:
        """(status, milliseconds); status 0 for a connection error or a timeout."""
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT_S)
            headers = {"Accept": "text/html,application/json", "Connection": "keep-alive"}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            self.conn.request("GET", path, headers=headers)
            response = self.conn.getresponse()
            response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if value and "max-age=0" not in header.lower():
                    self.cookies[name.strip()] = value
            if response.will_close:
                self.close()
            return response.status, (time.perf_counter() - started) * 1000.0
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, (time.perf_counter() - started) * 1000.0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def _empty_result() -> dict[str, Any]:
    return {"latencies_ms": [], "statuses": {}, "errors": 0, "requests": 0}


def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Carry out ``plan`` (see the module); per phase, every request's latency and status."""
    port, threads = int(plan["port"]), int(plan["threads"])
    start_at = float(plan["start_at"])
    warmup_end = start_at + float(plan["warmup"])
    phases = []
    begin = warmup_end
    for phase in plan["phases"]:
        phases.append((phase["name"], phase["path"], begin, begin + float(phase["seconds"])))
        begin += float(phase["seconds"])
    results = {name: _empty_result() for name, *_ in phases}
    lock = threading.Lock()
    visitors = [Visitor(port) for _ in range(threads)]

    def drive(visitor: Visitor) -> None:
        time.sleep(max(0.0, start_at - time.time()))
        turn = 0
        while time.time() < warmup_end or turn < len(phases):  # every path at least once
            visitor.get(phases[turn % len(phases)][1])
            turn += 1
        for name, path, phase_start, phase_end in phases:
            time.sleep(max(0.0, phase_start - time.time()))
            local = _empty_result()
            while time.time() < phase_end:
                status, ms = visitor.get(path)
                local["requests"] += 1
                local["statuses"][str(status)] = local["statuses"].get(str(status), 0) + 1
                if 200 <= status < 400:
                    local["latencies_ms"].append(round(ms, 3))
                else:
                    local["errors"] += 1
            with lock:
                merged = results[name]
                merged["requests"] += local["requests"]
                merged["errors"] += local["errors"]
                merged["latencies_ms"].extend(local["latencies_ms"])
                for status, n in local["statuses"].items():
                    merged["statuses"][status] = merged["statuses"].get(status, 0) + n
        visitor.close()

    workers = [threading.Thread(target=drive, args=(v,), daemon=True) for v in visitors]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    cookie = plan.get("cookie_name", "sessionid")
    return {
        "phases": results,
        "sessions": [v.cookies[cookie] for v in visitors if cookie in v.cookies],
    }


def main() -> None:
    json.dump(run(json.loads(sys.argv[1])), sys.stdout)


if __name__ == "__main__":
    main()
