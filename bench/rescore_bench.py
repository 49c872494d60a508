"""How long ``leadscore rescore`` takes, and how much memory, on a large decision log.

    python bench/rescore_bench.py --rows 1000000 --open 10000 --runs 3
    python bench/rescore_bench.py --rows 100000 --open 10000 --path new --path old

The benchmark makes a home (``--home``, default a temporary folder; reused as it is when
it already has a champion and a filled store) with a champion trained on a small
synthetic history, fills its serving store (SQLite under the home, or
``--database-url``) through the store's bulk insert (:meth:`Store.record_decisions`; the
feedback rows with one Core ``INSERT``, as an import would), then re-scores the open
leads in a child process and reads the child's wall time and peak RSS from
``os.wait4`` (and its CPU seconds, which the machine's load stretches less than the
wall time). ``--path new`` is what ``leadscore rescore`` does (the store's reads, a
batch at a time), ``--path old`` the whole log and feedback in pandas as before issue 15,
``--path cli`` the whole command (its imports and the MLflow model download included).
Each run adds its re-scores to the log. The last line says whether the target (10 s,
500 MiB) was met.

The log: ``--open`` open leads (70 % nurtured without feedback, 20 % rejected "too
early" and nurtured since, 10 % handed with no sales decision yet), twice as many
closed leads (scored twice, handed, then accepted and won or lost, or rejected as not
in the ICP), half as many disqualified leads (one score), and the remaining rows spread
over the open leads as the re-scores of earlier days: the shape a log takes when
``leadscore rescore`` runs daily.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 10.0
TARGET_MIB = 500.0
BATCH = 5_000
DAYS = 150
"""The log spans this many days before the re-score (one day before the run)."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="decision-log rows")
    parser.add_argument("--open", type=int, default=10_000, help="open leads in the log")
    parser.add_argument("--home", type=Path, help="LEADSCORE_HOME to build or reuse")
    parser.add_argument("--database-url", help="serving store (default: SQLite in the home)")
    parser.add_argument(
        "--path",
        choices=("new", "old", "cli"),
        action="append",
        help="what to time (repeatable; default new): the store's reads of the open leads "
        "(new), the whole log and feedback in pandas (old, as before issue 15), or the "
        "whole `leadscore rescore` command (cli: imports and the model download included)",
    )
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each path")
    parser.add_argument("--child", choices=("new", "old"), help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.path = args.path or ["new"]
    if args.open < 10 or args.rows < args.open * 4:
        parser.error("--rows must be at least 4 × --open (closed and disqualified leads too)")
    return args


def make_champion(home: Path) -> Any:
    """Train, register and promote a small model in ``home`` unless it has a champion."""
    from scoring.registry_client import CHAMPION, resolve_version, use_store
    from scoring.settings import Settings
    from training.pipeline import run_training
    from training.registry import promote
    from training.synthetic import generate
    from training.threshold import PolicyInputs
    from training.train import TrainConfig

    settings = Settings(home=home)
    settings.ensure_home()
    if resolve_version(use_store(settings), settings, CHAMPION) is None:
        log("training a champion on 4,000 synthetic leads")
        history = generate(4_000, months=18, seed=7)
        history.save(home / "data" / "synthetic")
        config = TrainConfig(seed=7, policy=PolicyInputs(daily_capacity=2.5), baseline_margin=0.1)
        outcome = run_training(history, settings, config, data_source="synthetic-bench")
        promote(settings)
        return outcome.result.scorer
    import tempfile as _tmp

    from scoring.model import LeadScorer
    from scoring.registry_client import download_scorer

    version = resolve_version(use_store(settings), settings, CHAMPION)
    with _tmp.TemporaryDirectory() as tmp:
        return LeadScorer.load(download_scorer(settings, str(version), Path(tmp)))


def templates(scorer: Any, home: Path, n: int = 500) -> list[dict[str, Any]]:
    """Decision-log rows as serving writes them, for ``n`` synthetic MQLs (features with
    their touch timelines), to copy under other lead ids."""
    import serve_bench_payloads

    from serving.decision_log import build_outputs

    records = serve_bench_payloads.load_leads(home / "data" / "synthetic", n)
    moments = [datetime.fromisoformat(r.pop("as_of")) for r in records]
    scores = scorer.score_records(records, moments, reasons=3)
    _, rows = build_outputs(scorer, records, moments, scores, "leadscore", "1", "bench")
    for row in rows:
        for key in ("id", "request_id", "scored_at", "as_of"):
            row.pop(key, None)
    return rows


def stories(rows: int, open_leads: int, rng: random.Random) -> Iterator[tuple[str, str, int]]:
    """``(lead_id, story, scores)`` for every lead of the log (see the module's doc)."""
    closed, disqualified = 2 * open_leads, open_leads // 2
    spare = rows - 2 * closed - disqualified - open_leads
    per_open = [
        1 + spare // open_leads + (1 if i < spare % open_leads else 0) for i in range(open_leads)
    ]
    for i in range(closed):
        yield f"closed-{i:07d}", rng.choice(["won", "lost", "not_icp"]), 2
    for i in range(disqualified):
        yield f"disq-{i:07d}", "disqualify", 1
    for i, scores in enumerate(per_open):
        kind = "nurture" if i % 10 < 7 else "too_early" if i % 10 < 9 else "handed"
        yield f"open-{i:07d}", kind, scores


def fill(store: Any, template_rows: list[dict[str, Any]], rows: int, open_leads: int) -> None:
    """Write the log through :meth:`Store.record_decisions` in batches, then the feedback."""
    from sqlalchemy import insert

    from serving.tables import Feedback

    rng = random.Random(42)
    batch: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    written = 0

    def score(lead: str, at: datetime, decision: str) -> None:
        nonlocal batch, written
        row = rng.choice(template_rows)
        features = {**row["features"], "created_at": created[lead]}
        batch.append(
            {**row, "features": features, "lead_id": lead, "scored_at": at, "as_of": at,
             "decision": decision}
        )  # fmt: skip
        if len(batch) >= BATCH:
            store.record_decisions(batch)
            written += len(batch)
            batch = []
            if written % 100_000 < BATCH:
                log(f"  {written:,} decisions written")

    def event(lead: str, kind: str, at: datetime, **values: Any) -> None:
        feedback.append(
            {"id": uuid.uuid4().hex, "lead_id": lead, "kind": kind, "at": at, "received_at": at,
             "actor": "bench", "idempotency_key": uuid.uuid4().hex, "body_hash": "0" * 64,
             "implied": False, "reason": None, "amount": None, **values}
        )  # fmt: skip

    created: dict[str, str] = {}
    first_day = datetime.now(UTC) - timedelta(days=DAYS)
    for lead, story, scores in stories(rows, open_leads, rng):
        at = first_day + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
        created[lead] = (at - timedelta(days=2)).isoformat()  # before its first score
        if story == "disqualify":
            score(lead, at, "disqualify")
        elif story in ("won", "lost", "not_icp"):
            score(lead, at, "nurture")
            score(lead, at + timedelta(days=3), "hand_to_sales")
            if story == "not_icp":
                event(lead, "rejected", at + timedelta(days=4), reason="not_icp")
            else:
                event(lead, "accepted", at + timedelta(days=4))
                amount = 20_000.0 if story == "won" else None
                event(lead, story, at + timedelta(days=40), amount=amount)
        else:
            first = "hand_to_sales" if story in ("too_early", "handed") else "nurture"
            score(lead, at, first)
            if story == "too_early":
                event(lead, "rejected", at + timedelta(hours=20), reason="too_early")
            for day in range(1, scores):
                score(
                    lead,
                    at + timedelta(days=day),
                    "hand_to_sales" if story == "handed" else "nurture",
                )
    if batch:
        store.record_decisions(batch)
    with store.engine.begin() as conn:
        for start in range(0, len(feedback), BATCH):
            conn.execute(insert(Feedback), feedback[start : start + BATCH])
        if conn.dialect.name == "postgresql":  # as autovacuum would, given time: plans need it
            conn.exec_driver_sql("ANALYZE decisions")
            conn.exec_driver_sql("ANALYZE feedback")
    log(f"  {written + len(batch):,} decisions and {len(feedback):,} feedback rows written")


def child(path: str, home: Path, as_of: datetime) -> None:
    """One re-score in this process, as ``leadscore rescore`` does it, by ``path``
    (with the command's collector settings, ``serving.collector``)."""
    from serving.collector import few_collections

    with few_collections() as loaded:
        _child(path, home, as_of, loaded)


def _child(path: str, home: Path, as_of: datetime, loaded: Any) -> None:
    from cli.options import open_store
    from cli.rescore import CHUNK, rescore_leads, rescore_open_leads
    from scoring.model import LeadScorer

    scorer = LeadScorer.load(home / "bench-scorer")
    store = open_store()
    loaded()
    started = time.perf_counter()
    read, count = 0.0, 0
    if path == "new":  # what ``leadscore rescore`` does
        batches = store.open_lead_batches(CHUNK)
        while True:
            mark = time.perf_counter()
            leads = next(batches, None)
            read += time.perf_counter() - mark
            if leads is None:
                break
            _, rows = rescore_leads(scorer, leads, as_of, "1")
            store.record_decisions(rows)
            count += len(rows)
    else:  # as it was before issue 15
        decisions, feedback = store.decisions_for_training(), store.feedback_frame()
        read = time.perf_counter() - started
        _, rows = rescore_open_leads(scorer, decisions, feedback, as_of, "1")
        store.record_decisions(rows)
        count = len(rows)
    total = time.perf_counter() - started
    print(f"re-scored {count} open leads; reading them {read:.1f} s, in all {total:.1f} s")


def run_child(command: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """``command`` in a child process: wall seconds, its CPU seconds (user + system: on a
    shared machine, what the load does not stretch), its peak RSS in MiB, its output."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command[1:3])} failed ({code}):\n{output[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024, output  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args.child, args.home, datetime.fromisoformat(args.as_of))
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    with tempfile.TemporaryDirectory(prefix="rescore-bench-") as tmp:
        home = (args.home or Path(tmp)).resolve()
        from scoring.settings import Settings
        from serving.storage import Store, make_engine, upgrade

        scorer = make_champion(home)
        if not (home / "bench-scorer").exists():
            scorer.save(home / "bench-scorer")
        settings = Settings(home=home, database_url=args.database_url)
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        store = Store(engine)
        if store.count_feedback() == 0:
            log(f"filling the store: {args.rows:,} decisions, {args.open:,} open leads")
            started = time.perf_counter()
            fill(store, templates(scorer, home), args.rows, args.open)
            log(f"  filled in {time.perf_counter() - started:.0f} s")
        engine.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
        env.update(
            LEADSCORE_HOME=str(home),
            LEADSCORE_TRACKING_URI=settings.resolved_tracking_uri,
            LEADSCORE_DATABASE_URL=settings.resolved_database_url,
        )
        as_of = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        worst: dict[str, tuple[float, float]] = {}  # by path: slowest run, largest RSS
        for path in args.path:
            for run in range(args.runs):
                if path == "cli":
                    command = ["-c", "from cli.app import app; app()", "rescore"]
                else:
                    command = [__file__, "--child", path, "--home", str(home)]
                seconds, cpu, mib, output = run_child(
                    [sys.executable, *command, "--as-of", as_of], env
                )
                said = [line for line in output.splitlines() if "re-scored" in line]
                seen = worst.get(path, (0.0, 0.0))
                worst[path] = (max(seen[0], seconds), max(seen[1], mib))
                print(
                    f"{path} run {run + 1}: {seconds:.1f} s (CPU {cpu:.1f} s), "
                    f"peak RSS {mib:.0f} MiB "
                    f"[{said[-1].strip() if said else '?'}]",
                    flush=True,
                )
        print(f"summary ({args.rows:,} rows, {args.open:,} open leads; every run): " + "; ".join(
            f"{path} ≤ {TARGET_SECONDS:.0f} s {'met' if s <= TARGET_SECONDS else 'NOT met'}, "
            f"≤ {TARGET_MIB:.0f} MiB {'met' if m <= TARGET_MIB else 'NOT met'}"
            for path, (s, m) in worst.items()
        ))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
