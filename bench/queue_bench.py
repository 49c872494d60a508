"""Queue speed: how long the sales queue page takes, view by view, on a filled store.

Run on demand, never as a test, against a store ``bench/report_bench.py --keep`` filled
(its schema ``report_bench_keep_<N>``)::

    .venv/bin/python bench/queue_bench.py \\
        --url 'postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dreport_bench_keep_1000000'

It refreshes the roll-ups first (timed: after a fill or an upgrade that is the build of
every lead's roll-up), vacuums what the refresh churned on PostgreSQL (:func:`_vacuum`),
starts the app in process (``TestClient``), signs in a sales user and times ``/ui/queue``
for each view in :data:`VIEWS` — the default open handoffs and the other filters, sorts
and a deep page — one warm-up request then ``--repeat``, and prints the median and p95
in milliseconds with ``uptime``'s load before and after.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from report_bench import _signed_in, percentile
from serve_bench_common import log

VIEWS: dict[str, dict[str, str]] = {
    "open handoffs (default)": {},
    "open handoffs, largest change": {"sort": "change"},
    "open handoffs, page 100": {"page": "100"},
    "overdue handoffs": {"sla": "overdue"},
    "on-track handoffs": {"sla": "on_track"},
    "all leads": {"decision": "", "status": "all"},
    "all leads, largest change": {"decision": "", "status": "all", "sort": "change"},
    "decided, one channel, top band": {
        "decision": "",
        "status": "decided",
        "channel": "seo",
        "band": "top",
    },
}


def _vacuum(engine: Any) -> None:
    """What autovacuum does to a store in use, done now: after a bulk refresh the dirty
    list is hundreds of thousands of dead rows that every refresh's claim scans (100 ms
    at 1M decisions), and index-only counts need the visibility map."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("report_dirty_leads", "queue_leads", "queue_changes", "queue_counts"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the filled store's database URL")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    from scoring.settings import Settings
    from serving.app import create_app
    from serving.storage import make_engine
    from serving.store.rollups import refresh_rollups
    from serving.tables import Role

    engine = make_engine(args.url)
    began = time.perf_counter()
    refreshed = refresh_rollups(engine)
    log(f"refresh: {refreshed:,} leads in {time.perf_counter() - began:.1f} s")
    if engine.dialect.name == "postgresql":
        _vacuum(engine)
    engine.dispose()
    before = _uptime()
    rows = []
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as folder:
        home = Path(folder)
        settings = Settings(
            home=home,
            database_url=args.url,
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
            model_poll_seconds=0,
        )
        app = create_app(settings)
        with TestClient(app):
            sales = _signed_in(app, Role.SALES)
            for name, params in VIEWS.items():
                times = []
                for i in range(args.repeat + 1):
                    start = time.perf_counter()
                    answer = sales.get("/ui/queue", params=params)
                    elapsed = (time.perf_counter() - start) * 1000.0
                    assert answer.status_code == 200, f"{name}: {answer.status_code}"
                    if i:
                        times.append(elapsed)
                rows.append((name, statistics.median(times), percentile(times, 95)))
                log(f"  {name}: median {rows[-1][1]:,.0f} ms, p95 {rows[-1][2]:,.0f} ms")
    print(f"uptime before: {before}\nuptime after:  {_uptime()}\n")
    print(f"milliseconds, median / p95 of {args.repeat} requests (after one warm-up)\n")
    print("| queue view | median | p95 |\n|---|---:|---:|")
    for name, median, p95 in rows:
        print(f"| {name} | {median:,.0f} | {p95:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
