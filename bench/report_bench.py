"""Report speed: how long each marketing report, the marketing page and the queue take.

Run on demand, never as a test::

    .venv/bin/python bench/report_bench.py                          # 10k and 100k, both databases
    .venv/bin/python bench/report_bench.py --sizes 1000000 --db postgresql

For each database (a SQLite file in a temporary folder; PostgreSQL at
``LEADSCORE_BENCH_POSTGRES_URL``, default ``127.0.0.1:5432/test``, in a schema of its own,
``report_bench_<hex>``, dropped at the end, the way the tests share that server) and each
size N it:

1. migrates an empty store and fills it with N synthetic decisions through the store's own
   bulk writer (``Store.record_decisions``) and their sales feedback as rows the lead
   lifecycle would hold (acceptances before deals, rejections with reasons), written in
   bulk straight into the table (scoring and the feedback API would take hours at 1M),
   then ``ANALYZE``s it on PostgreSQL (autovacuum's statistics); on PostgreSQL the rows
   go in by ``COPY`` (the same rows, prepared by the store's own code);
2. builds the report roll-ups: every lead is dirty after filling, as after the upgrade
   that added them (migration 0009), and ``refresh_rollups`` builds them — the table's
   "roll-ups built" column is its time (``--backfill`` times it again on a kept store);
3. starts the app in process (``TestClient``, lifespan run, no model needed), signs in a
   marketing and a sales user, and times every ``/v1/reports/...`` endpoint, the
   marketing page and the queue page: one warm-up request, then the median of
   ``--repeat`` requests.

Prints one table (milliseconds) and ``uptime``'s load beside it. The app's background
roll-up refresh runs as in ``leadscore serve``; nothing is dirty by the time it starts.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import log

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGETS = (
    "funnel",
    "rejections",
    "sla",
    "calibration",
    "drift",
    "attribution",
    "marketing page",
    "queue",
)
REPORTS = ("funnel", "rejections", "sla", "calibration", "drift", "attribution")
CHANNELS = ("paid_search", "seo", "email", "events", "referral", "social")
INDUSTRIES = ("software", "finance", "retail", "manufacturing", "healthcare")
SIZES = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
REASONS = ("no_budget", "not_icp", "too_early", "no_response", "competitor_won", "other")
START = datetime(2025, 1, 1, tzinfo=UTC)
CHUNK = 5_000


def synthetic_rows(n: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` decision rows (about 1.2 per lead, in time order) and their feedback rows."""
    rng = random.Random(seed)
    touch_rng = random.Random(seed + 1)  # its own stream: the rest stays as it was
    decisions: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    step = timedelta(days=365) / max(n, 1)
    lead = 0
    while len(decisions) < n:
        lead += 1
        lead_id = f"bench-{lead}"
        at = START + step * len(decisions)
        features = {
            "channel": rng.choice(CHANNELS),
            "campaign": f"campaign-{rng.randrange(12)}",
            "industry": rng.choice(INDUSTRIES),
            "company_size": rng.choice(SIZES),
            "country": rng.choice(("DE", "FR", "US", "GB")),
            "seniority": rng.choice(("c_level", "director", "manager", "individual")),
            "created_at": (at - timedelta(days=2)).isoformat(),
            "touches": _touches(touch_rng, at),
        }
        scores = 1 + (rng.random() < 0.2)
        handed = False
        for k in range(min(scores, n - len(decisions))):
            p_won = rng.random() ** 2
            decision = "hand_to_sales" if p_won > 0.3 else rng.choice(("nurture", "disqualify"))
            handed |= decision == "hand_to_sales"
            decisions.append(
                {
                    "lead_id": lead_id,
                    "scored_at": at + timedelta(minutes=k),
                    "as_of": at + timedelta(minutes=k),
                    "model_name": "leadscore",
                    "model_version": "1",
                    "features": features,
                    "p_sql": min(1.0, p_won * 1.8),
                    "p_won": p_won,
                    "fit_score": rng.uniform(0, 100),
                    "engagement_score": rng.uniform(0, 100),
                    "decision": decision,
                    "threshold": 0.3,
                }
            )
        if handed:
            feedback.extend(_feedback(rng, lead_id, at + timedelta(minutes=5)))
    return decisions, feedback


def _touches(rng: random.Random, at: datetime) -> list[dict[str, str]]:
    """A lead's timeline as the decision log keeps it (0-3 touches in the 10 days before
    its scoring, a channel and a campaign on most): what the attribution section credits."""
    out = []
    for _ in range(rng.randrange(4)):
        touch = {"at": (at - timedelta(days=rng.uniform(0, 10))).isoformat(), "type": "visit"}
        if rng.random() < 0.9:
            touch["channel"] = rng.choice(CHANNELS)
            touch["campaign"] = f"campaign-{rng.randrange(12)}"
        out.append(touch)
    return sorted(out, key=lambda t: t["at"])


def _feedback(rng: random.Random, lead_id: str, at: datetime) -> list[dict[str, Any]]:
    """One handed-over lead's sales story, in the lifecycle's order."""
    out: list[dict[str, Any]] = []

    def event(kind: str, hours: float, **values: Any) -> None:
        moment = at + timedelta(hours=hours)
        out.append(
            {
                "id": uuid.uuid4().hex,
                "lead_id": lead_id,
                "kind": kind,
                "at": moment,
                "received_at": moment,
                "actor": "bench",
                "idempotency_key": uuid.uuid4().hex,
                "body_hash": "0" * 64,
                "implied": False,
                "reason": values.get("reason"),
                "contact_attempts": values.get("contact_attempts"),
                "first_response_hours": values.get("first_response_hours"),
                "amount": values.get("amount"),
            }
        )

    draw = rng.random()
    if draw < 0.15:
        return out  # not decided yet
    response = rng.expovariate(1 / 10)
    if rng.random() < 0.7:
        event("contacted", response / 2)
    if draw < 0.6:
        event("accepted", response, first_response_hours=response)
        outcome = rng.random()
        if outcome < 0.35:
            event("won", response + 24 * 20, amount=float(rng.randrange(1_000, 50_000)))
        elif outcome < 0.7:
            event("lost", response + 24 * 15)
    elif draw < 0.9:
        event(
            "rejected",
            response,
            reason=rng.choice(REASONS),
            contact_attempts=rng.randrange(0, 6) if rng.random() < 0.8 else None,
            first_response_hours=response,
        )
    else:
        event("returned_to_nurture", response, first_response_hours=response)
    return out


def fill(store: Any, n: int, seed: int) -> int:
    """Write ``n`` decisions and their feedback; returns how many feedback rows.

    SQLite: through ``Store.record_decisions`` in batches, feedback by ``executemany``.
    PostgreSQL: the same rows (each decision prepared by the store's own
    ``_prepare_decision``, one request id and ``logged_at`` per batch of :data:`CHUNK`, as
    ``record_decisions`` gives them) sent with ``COPY``, several times faster at 1M. The
    roll-up triggers fire for ``COPY`` as for ``INSERT``: every lead ends up dirty, as
    after an upgrade.
    """
    from sqlalchemy import insert, text

    from serving.tables import Feedback

    decisions, feedback = synthetic_rows(n, seed)
    if store.engine.dialect.name == "postgresql":
        _copy_fill(store, decisions, feedback)
    else:
        for i in range(0, len(decisions), CHUNK):
            store.record_decisions(decisions[i : i + CHUNK])
        with store.engine.begin() as conn:
            for i in range(0, len(feedback), CHUNK):
                conn.execute(insert(Feedback), feedback[i : i + CHUNK])
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            # planner statistics, as autovacuum would have them on a log that grew over
            # weeks: without them PostgreSQL takes the fresh tables for empty and nests
            # loops. SQLite gathers none unless asked, and the store never asks.
            conn.execute(text("ANALYZE"))
    return len(feedback)


def _copy_fill(store: Any, decisions: list[dict[str, Any]], feedback: list[dict[str, Any]]) -> None:
    """PostgreSQL: the decisions and feedback rows ``fill`` writes, by ``COPY``."""
    import json

    from serving.store.jsonclean import _decision_id
    from serving.tables import Decision, Feedback

    columns = [c.name for c in Decision.__table__.columns]
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY decisions ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(0, len(decisions), CHUNK):
                request_id, id_base = uuid.uuid4().hex, uuid.uuid4().int
                logged_at = now + timedelta(microseconds=i // CHUNK)
                for k, row in enumerate(decisions[i : i + CHUNK]):
                    out = store._prepare_decision(row, request_id, now, _decision_id(id_base, k))
                    out["reasons"] = json.dumps(out["reasons"])
                    out["logged_at"] = logged_at
                    copy.write_row([out[c] for c in columns])
        names = [c.name for c in Feedback.__table__.columns if c.name in feedback[0]]
        with cursor.copy(f"COPY feedback ({', '.join(names)}) FROM STDIN") as copy:
            for row in feedback:
                copy.write_row([row[c] for c in names])


@contextmanager
def postgres_schema(url: str, keep: str | None = None) -> Iterator[str]:
    """A fresh schema on the shared server, selected through ``search_path``; dropped after.

    ``keep``: a schema of that name, made if missing and left in place, so a size that
    takes long to fill (1M decisions) is filled once and timed again after a change.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    schema = keep or f"report_bench_{secrets.token_hex(4)}"

    def admin() -> Any:
        return psycopg.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            dbname=parsed.database,
            autocommit=True,
        )

    with admin() as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    try:
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        if keep is None:
            with admin() as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _signed_in(app: Any, role: Any) -> Any:
    """A TestClient on ``app`` signed in as a new key of ``role`` (its own cookie jar)."""
    import re

    from fastapi.testclient import TestClient

    client = TestClient(app)
    raw = app.state.store.create_api_key(f"bench-{role.value}-{secrets.token_hex(3)}", role)
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]*)"', form)
    assert csrf, "no csrf field on the sign-in page"
    answer = client.post(
        "/ui/login",
        data={"api_key": raw, "csrf": csrf.group(1), "next": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def _serve_reference_profile(app: Any) -> None:
    """Stand in for a served model's metadata where none is loaded: a trained model
    carries the reference profile of its training data, and the drift endpoint counts
    against it in SQL (without one it falls back to the pandas first-half comparison).
    The profile is of fresh synthetic rows from the same generator, so every field it
    watches is in the served snapshots, as with a real model."""
    from types import SimpleNamespace

    import pandas as pd

    from scoring.drift import reference_profile

    if getattr(getattr(app.state, "models", None), "current", None) is not None:
        return
    rows, _ = synthetic_rows(5_000, seed=7)
    frame = pd.DataFrame([{**r["features"], "p_won": r["p_won"]} for r in rows])
    # a model's profile watches its input fields: not the creation time, and not the
    # touch timeline the snapshots carry (a list per lead: as a label, one value per lead)
    frame = frame.drop(columns=["created_at", "touches"], errors="ignore")
    profile = reference_profile(frame, [c for c in frame.columns if c != "p_won"])
    scorer = SimpleNamespace(metadata={"reference_profile": profile})
    app.state.models = SimpleNamespace(
        current=SimpleNamespace(scorer=scorer, name="bench", version="1")
    )


def time_requests(
    database_url: str, home: Path, repeat: int, targets: Sequence[str] = TARGETS
) -> dict[str, tuple[float, float]]:
    """Milliseconds per request (median and p95 of ``repeat`` after one warm-up) for
    each target."""
    from fastapi.testclient import TestClient

    from scoring.settings import Settings
    from serving.app import create_app
    from serving.tables import Role

    settings = Settings(
        home=home,
        database_url=database_url,
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        model_poll_seconds=0,
    )
    app = create_app(settings)
    out: dict[str, tuple[float, float]] = {}
    with TestClient(app) as lifespan:
        served = app.state.models
        _serve_reference_profile(app)
        marketing, sales = _signed_in(app, Role.MARKETING), _signed_in(app, Role.SALES)
        key = app.state.store.create_api_key(
            f"bench-reports-{secrets.token_hex(3)}", Role.MARKETING
        )
        paths = {name: f"/v1/reports/{name}" for name in REPORTS}
        clients = {name: lifespan for name in paths}
        paths["marketing page"], clients["marketing page"] = "/ui/marketing", marketing
        paths["queue"], clients["queue"] = "/ui/queue", sales
        for name in targets:
            client, path = clients[name], paths[name]
            times = []
            for i in range(repeat + 1):
                began = time.perf_counter()
                answer = client.get(path, headers={"X-API-Key": key})
                elapsed = (time.perf_counter() - began) * 1000.0
                assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
                if i:
                    times.append(elapsed)
            out[name] = (statistics.median(times), percentile(times, 95))
            log(f"  {name}: median {out[name][0]:,.0f} ms, p95 {out[name][1]:,.0f} ms")
        app.state.models = served
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile, linear between order statistics (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def run(
    database: str,
    n: int,
    repeat: int,
    seed: int,
    targets: Sequence[str],
    keep: bool = False,
    backfill: bool = False,
) -> tuple[dict[str, tuple[float, float]], float | None]:
    """Fill a store with ``n`` decisions (unless a kept one is already filled), build the
    roll-ups (the first refresh after an upgrade: every lead dirty) and time the
    requests. Returns the times and the refresh's seconds (``None``: nothing was due)."""
    from sqlalchemy import func, select

    from serving.storage import Store, make_engine, upgrade
    from serving.store.rollup_rebuild import reset_rollups
    from serving.store.rollups import refresh_rollups
    from serving.tables import Decision

    with tempfile.TemporaryDirectory(prefix="report-bench-") as folder:
        home = Path(folder)
        with _database(database, home, f"report_bench_keep_{n}" if keep else None) as url:
            engine = make_engine(url)
            upgrade(engine)
            with engine.connect() as conn:
                filled = conn.execute(select(func.count()).select_from(Decision)).scalar_one()
            if filled not in (0, n):
                raise SystemExit(f"kept store holds {filled:,} decisions, not {n:,}")
            if not filled:
                began = time.perf_counter()
                rows = fill(Store(engine), n, seed)
                log(
                    f"{database} n={n:,}: filled ({rows:,} feedback rows) in "
                    f"{time.perf_counter() - began:.0f} s"
                )
            elif backfill:
                log(f"{database} n={n:,}: every lead marked dirty ({reset_rollups(engine):,})")
            began = time.perf_counter()
            leads = refresh_rollups(engine)
            built = time.perf_counter() - began if leads else None
            log(f"{database} n={n:,}: roll-ups refreshed, {leads:,} leads in {built or 0:.1f} s")
            engine.dispose()
            if not targets:
                return {}, built
            return time_requests(url, home, repeat, targets), built


@contextmanager
def _database(database: str, home: Path, keep: str | None = None) -> Iterator[str]:
    if database == "sqlite":
        yield f"sqlite:///{home / 'leadscore.db'}"
        return
    url = os.environ.get("LEADSCORE_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    with postgres_schema(url, keep) as scoped:
        yield scoped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--db", nargs="+", choices=("sqlite", "postgresql"), default=["postgresql", "sqlite"]
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--targets", nargs="+", choices=TARGETS, default=list(TARGETS), help="what to time"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="PostgreSQL: fill a schema report_bench_keep_<N> once and leave it (drop it "
        "by hand after); later runs time it without filling again",
    )
    parser.add_argument(
        "--fill-only", action="store_true", help="fill (with --keep) and build the roll-ups"
    )
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="with --keep on a filled store: empty the roll-ups and mark every lead dirty "
        "(as migration 0009 leaves an upgraded store), to time the first refresh again",
    )
    args = parser.parse_args(argv)
    targets = [] if args.fill_only else args.targets
    results = []
    for database in args.db:
        for n in args.sizes:
            times, built = run(
                database, n, args.repeat, args.seed, targets, args.keep, args.backfill
            )
            results.append((database, n, times, built))
            log(f"{database} n={n:,}: {results[-1][2]}")
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"uptime: {load}\n\nmilliseconds, median / p95 of {args.repeat} requests\n")
    print("| database | decisions | roll-ups built, s | " + " | ".join(TARGETS) + " |")
    print("|---|---:|---:|" + "---:|" * len(TARGETS))
    for database, n, times, built in results:
        cells = " | ".join(
            f"{times[name][0]:,.0f} / {times[name][1]:,.0f}" if name in times else "–"
            for name in TARGETS
        )
        backfill = "–" if built is None else f"{built:,.1f}"
        print(f"| {database} | {n:,} | {backfill} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
