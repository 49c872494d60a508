"""What the decision log costs per single-lead score request, in CPU time, step by step.

The serving thread and the decision log's writer share one GIL: every microsecond of
Python the writer runs per row is a microsecond a score request waits. This script
scores ``--requests`` single leads in-process (no HTTP) the way ``POST /v1/score`` does,
then times, on the thread that does the work (``time.thread_time``):

* ``submit``: what the serving thread itself spends queueing the row;
* ``build``: turning the scores and the answer into the row (:func:`build_rows`);
* ``prepare``: checking the row, JSON cleaning, canonical text of the features and
  their sha256 (``DecisionStore._prepare_decision``);
* ``bind``: the prepared rows turned into the driver's parameters (where the branch has
  ``serving.store.decision_insert``; before it, SQLAlchemy did this inside ``sql``);
* ``sql``: the rest of :meth:`Store.record_decisions` (the statements, the roll-up
  triggers, the commit), in batches of ``--batch`` rows;
* ``log``: the whole path through a running :class:`DecisionLog` (queue, writer thread,
  flush), as the process's CPU time while the caller only waits (SQLite's own work, which
  runs without the GIL, included);
* ``app`` (with ``--app N``): process CPU per single-lead request through the whole app
  in-process, the log included.

``build``, ``prepare`` and ``bind`` are Python holding the GIL; most of ``sql`` is the
database driver's and SQLite's C code, which lets the GIL go while it works.

    python bench/decision_log_bench.py --home HOME [--db URL] [--requests 2000]

``HOME`` is a ``LEADSCORE_HOME`` that ``leadscore serve`` has loaded a model into
(``bench/serve_bench.py --keep`` leaves one) and that holds a synthetic history.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_payloads import history_folder, load_leads

from serving.decision_log import DecisionLog, build_rows
from serving.model_loading import smoke_test
from serving.schemas import ScoreRequest
from serving.score_answer import build_results
from serving.storage import Store, make_engine, upgrade
from serving.store.decisions import DecisionStore

try:  # the branch that binds rows itself
    from serving.store.decision_insert import _tuples
except ImportError:  # before it
    _tuples = None  # type: ignore[assignment]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--db", default=None, help="database URL (default: a new SQLite file)")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument(
        "--app",
        type=int,
        default=0,
        metavar="N",
        help="also send N single-lead requests through the app in-process (TestClient)",
    )
    parser.add_argument("--batch", type=int, default=16, help="rows per insert (≈ c=16)")
    return parser.parse_args()


def _per_row(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:7.1f} µs"


def main() -> int:
    args = parse_args()
    current = (args.home / "model-cache" / "CURRENT").read_text().strip()
    scorer = smoke_test(args.home / "model-cache" / f"v{current}")
    history = history_folder(args.home)
    if history is None:
        raise SystemExit(f"{args.home} holds no synthetic history")
    payloads = load_leads(history, args.requests)
    requests = []
    for i, payload in enumerate(payloads):
        lead = ScoreRequest.model_validate(payload)
        records = [lead.record()]
        as_of = [lead.as_of or datetime.now(UTC)]
        scores = scorer.score_records(records, as_of, reasons=3)
        results = build_results(scorer, records, as_of, scores, "leadscore", current, f"r{i}")
        requests.append((records, as_of, scores, results, f"r{i}"))
    n = len(requests)
    scored_at = datetime.now(UTC)

    def rows_of(req: tuple[Any, ...]) -> list[dict[str, Any]]:
        records, as_of, scores, results, request_id = req
        return build_rows(
            scorer, records, as_of, scores, results, "leadscore", current, request_id, scored_at
        )

    with tempfile.TemporaryDirectory(prefix="leadscore-dlbench-") as tmp:
        url = args.db or f"sqlite:///{tmp}/log.db"
        engine = make_engine(url)
        upgrade(engine)
        store = Store(engine)
        print(f"{n} single-lead requests, batches of {args.batch}, {engine.dialect.name}")
        print(f"load average {os.getloadavg()[0]:.2f}")

        gc.collect()
        gc.freeze()  # as the server does after start-up
        t = time.thread_time()
        built = [rows_of(req) for req in requests]
        build = time.thread_time() - t
        print("build   ", _per_row(build, n))

        flat = [row for rows in built for row in rows]
        t = time.thread_time()
        prepared = [DecisionStore._prepare_decision(r, "r", scored_at, "0" * 32) for r in flat]
        prepare = time.thread_time() - t
        print("prepare ", _per_row(prepare, n), "(checks, JSON cleaning, canonical JSON, sha256)")

        bind = 0.0
        if _tuples is not None:
            for row in prepared:
                row["logged_at"] = scored_at
            t = time.thread_time()
            _tuples(prepared, engine.dialect)
            bind = time.thread_time() - t
            print("bind    ", _per_row(bind, n), "(rows to driver parameters)")

        t = time.thread_time()
        for start in range(0, n, args.batch):
            store.record_decisions(flat[start : start + args.batch])
        record = time.thread_time() - t
        print("sql     ", _per_row(record - prepare - bind, n), "(the rest of record_decisions)")

        log = DecisionLog(store)
        log.start()
        submit = 0.0
        cpu = time.process_time()
        for req in requests:
            t = time.thread_time()
            _submit(log, req, rows_of)
            submit += time.thread_time() - t
        log.flush(timeout=600)
        total = time.process_time() - cpu - submit
        print("submit  ", _per_row(submit, n), "(serving thread)")
        print("log     ", _per_row(total, n), "(writer, whole path, process CPU)")
        log.close()
        engine.dispose()
        if args.app:
            _through_the_app(args.home, Path(tmp), payloads, args.app)
    return 0


def _through_the_app(home: Path, tmp: Path, payloads: list[dict[str, Any]], n: int) -> None:
    """CPU per ``POST /v1/score?reasons=3`` through the app (every thread of the process:
    scoring, the decision log's writer, the test client's), the log flushed at the end."""
    from fastapi.testclient import TestClient

    from scoring.settings import Settings
    from serving.app import create_app

    key = "dlbench-" + "k" * 32
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{tmp}/app.db",
        bootstrap_admin_key=key,
        model_poll_seconds=0,
        rollup_refresh_seconds=0,
    )
    headers = {"X-API-Key": key}
    bodies = [payloads[i % len(payloads)] for i in range(n)]
    app = create_app(settings)
    with TestClient(app) as client:
        for body in bodies[:200]:  # warm-up
            client.post("/v1/score?reasons=3", json=body, headers=headers)
        app.state.decision_log.flush()
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        for body in bodies:
            assert client.post("/v1/score?reasons=3", json=body, headers=headers).is_success
        app.state.decision_log.flush()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print("app     ", _per_row(cpu, n), f"CPU per request, {_per_row(wall, n)} wall")


def _submit(
    log: DecisionLog, req: tuple[Any, ...], rows_of: Callable[[Any], list[dict[str, Any]]]
) -> None:
    log.submit_lazy(1, lambda: list[Mapping[str, Any]](rows_of(req)))


if __name__ == "__main__":
    raise SystemExit(main())
