"""How many events a second the webhook worker delivers to a real receiving process.

    python bench/webhook_bench.py --events 2000 --concurrency 4
    python bench/webhook_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

It fills a fresh outbox (SQLite in a temporary folder, or ``--database-url``) with
``--events`` threshold crossings the way serving writes them (``Store.record_decisions``
with a subscription for ``lead.threshold_crossed``: each first score at ``hand_to_sales``
crosses), starts the receiver of the tests (``tests/webhook_receiver.py``: it checks
every signature and fsyncs each event before answering 204) as its own process, and
times one :class:`~serving.outbox.worker.OutboxWorker` delivering them all: claims,
signed POSTs, the delivery log and the settled rows included. It then checks that the
receiver holds every event id, and prints the rate, the attempts' median and 95th
percentile request time, and the machine's load (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000, help="events to deliver")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--batch", type=int, default=100, help="deliveries per claim")
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    return parser.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(first: int, n: int) -> list[dict[str, object]]:
    """``n`` first scores at ``hand_to_sales`` of leads ``first``, ``first + 1``, ...: each
    crosses the threshold (from no score), one event each."""
    at = datetime.now(UTC)
    return [
        {
            "lead_id": f"bench-{first + i}",
            "model_name": "leadscore",
            "model_version": "1",
            "features": {"channel": "webinar", "industry": "software"},
            "p_sql": 0.6,
            "p_won": 0.31,
            "fit_score": 70.0,
            "engagement_score": 55.0,
            "decision": "hand_to_sales",
            "threshold": 0.2,
            "scored_at": at,
            "as_of": at,
            "reasons": [
                {"code": "fit.industry", "text": "Industry: software", "contribution": 0.4},
                {
                    "code": "engagement.demo_request",
                    "text": "Asked for a demo",
                    "contribution": 0.3,
                },
            ],
        }
        for i in range(n)
    ]


def main(argv: list[str] | None = None) -> None:
    from serving.outbox.signing import new_secret
    from serving.outbox.worker import Backoff, OutboxWorker
    from serving.storage import Store, make_engine, upgrade

    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        engine = make_engine(url)
        upgrade(engine)
        store = Store(engine)
        secret = new_secret()
        port = _free_port()
        out = Path(tmp) / "received.jsonl"
        receiver = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "webhook_receiver.py"), "--port", str(port),
             "--out", str(out), "--secret", secret],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(1.0)
            sub = store.create_subscription(
                f"http://127.0.0.1:{port}/hook", ["lead.threshold_crossed"], actor="bench",
                secret=secret,
            )  # fmt: skip
            for start in range(0, args.events, 1_000):
                store.record_decisions(_rows(start, min(1_000, args.events - start)))
            # another run against the same PostgreSQL schema would find old rows: count ours
            pending = len(store.list_deliveries(state="pending", subscription_id=sub["id"],
                                                limit=10_000))  # fmt: skip
            log(f"{pending} events in the outbox; delivering with {args.concurrency} in flight")
            worker = OutboxWorker(
                store, batch=args.batch, concurrency=args.concurrency, backoff=Backoff(1, 2, 5)
            )
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            while worker.run_once():
                pass
            seconds = time.perf_counter() - started
            load_after = os.getloadavg()[0]
            worker.close()
        finally:
            receiver.terminate()
            receiver.wait()
        got = {json.loads(line)["id"] for line in out.read_text().splitlines()}
        delivered = store.list_deliveries(state="delivered", subscription_id=sub["id"],
                                          limit=10_000)  # fmt: skip
        durations = sorted(
            a["duration_ms"] for d in delivered[:500] for a in store.delivery_attempts(d["id"])
        )
        engine.dispose()
    missing = pending - len(got)
    p95 = durations[int(0.95 * (len(durations) - 1))] if durations else float("nan")
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'PostgreSQL' if args.database_url else 'SQLite'}"
        f", concurrency {args.concurrency}, batch {args.batch}: {len(delivered)} of {pending} "
        f"events delivered in {seconds:.2f} s = {len(delivered) / seconds:.0f} events/s; "
        f"request median {statistics.median(durations):.1f} ms, p95 {p95:.1f} ms; "
        f"{missing} missing at the receiver; load {load_before:.1f} → {load_after:.1f} "
        f"on {os.cpu_count()} cores"
    )
    if missing or len(delivered) != pending:
        sys.exit(1)


if __name__ == "__main__":
    main()
