"""Does a report request stall scoring? Single-lead p99 with and without reports running.

Run on demand, never as a test::

    .venv/bin/python bench/report_contention_bench.py --home HOME --database-url URL

``HOME`` is a trained home (``leadscore demo --no-serve`` makes one: a champion and a
synthetic history whose latest MQLs are the leads sent); ``URL`` the store to serve from
(e.g. a schema ``bench/report_bench.py --keep`` filled with 100k decisions). It starts
``leadscore serve`` (uvicorn, one worker) on that store, then drives single-lead
``/v1/score`` requests at concurrency 1 for ``--seconds``: once alone, once while a thread
requests the report endpoints back to back (``--reports``, one at a time, as a dashboard
refreshing would). Prints p50/p99 of both runs, their ratio against the 1.5× target, and
``uptime``'s load. Scoring writes decisions to the store: run it on a copy you drop after.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import HOST, log
from serve_bench_load import http_request, load, ok_status
from serve_bench_payloads import dumps, history_folder, load_leads
from serve_bench_processes import base_env, free_port, start_server, wait_ready

REPORTS = ("funnel", "rejections", "calibration", "drift")
"""The reports computed in the database (``sla``, still pandas, may be asked for too)."""


def _keys(database_url: str) -> tuple[str, str]:
    """A scorer key and a marketing key in the served store."""
    from serving.roles import Role
    from serving.storage import Store, make_engine

    engine = make_engine(database_url)
    store = Store(engine)
    tag = secrets.token_hex(3)
    keys = (
        store.create_api_key(f"contention-scorer-{tag}", Role.SCORER),
        store.create_api_key(f"contention-marketing-{tag}", Role.MARKETING),
    )
    engine.dispose()
    return keys


class _ReportLoop(threading.Thread):
    """Requests the report endpoints one after another until stopped; counts and times."""

    def __init__(self, port: int, key: str, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.key, self.paths = port, key, paths
        self.stop = threading.Event()
        self.times: list[float] = []

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            path = self.paths[i % len(self.paths)]
            request = urllib.request.Request(
                f"http://{HOST}:{self.port}{path}", headers={"X-API-Key": self.key}
            )
            began = time.perf_counter()
            with urllib.request.urlopen(request, timeout=600) as answer:
                answer.read()
            self.times.append((time.perf_counter() - began) * 1000.0)
            i += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--reports", nargs="+", choices=(*REPORTS, "sla"), default=list(REPORTS))
    args = parser.parse_args(argv)
    folder = history_folder(args.home)
    if folder is None:
        raise SystemExit(f"{args.home} has no synthetic history: run leadscore demo there")
    records = load_leads(folder, 500)
    scorer, marketing = _keys(args.database_url)
    port = free_port()
    env = base_env(args.home)
    env["LEADSCORE_DATABASE_URL"] = args.database_url
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="contention-") as work:
        cmd = [sys.executable, "-m", "cli", "serve", "--host", HOST, "--port", str(port)]
        server = start_server("leadscore", cmd, env, Path(work), port, "/readyz")
        try:
            wait_ready(server, 180)
            auth = {"X-API-Key": scorer, "Content-Type": "application/json"}
            bodies = [http_request(port, "/v1/score?reasons=0", dumps(r), auth) for r in records]
            budget = 100_000
            alone = load(server, "alone", bodies, 1, args.seconds, budget, 3.0, ok_status)
            loop = _ReportLoop(port, marketing, [f"/v1/reports/{r}" for r in args.reports])
            loop.start()
            time.sleep(1.0)
            busy = load(server, "with reports", bodies, 1, args.seconds, budget, 3.0, ok_status)
            loop.stop.set()
            loop.join(timeout=600)
        finally:
            server.stop()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    ratio = busy.pct(99) / alone.pct(99)
    print(f"uptime: {uptime.strip()}")
    print("| single-lead /v1/score, concurrency 1 | requests | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    print(f"| alone | {alone.n} | {alone.pct(50):.1f} | {alone.pct(99):.1f} |")
    print(
        f"| while reports run ({len(loop.times)} report requests, median "
        f"{sorted(loop.times)[len(loop.times) // 2] if loop.times else float('nan'):,.0f} ms) "
        f"| {busy.n} | {busy.pct(50):.1f} | {busy.pct(99):.1f} |"
    )
    verdict = "met" if ratio <= 1.5 else "not met"
    print(f"\np99 with reports / alone = {ratio:.2f} (target ≤ 1.5: {verdict})")
    log(f"p99 ratio {ratio:.2f}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
