"""The serving store on SQLite and PostgreSQL: migrations, decision log, feedback, API keys."""

from __future__ import annotations

import hashlib
import logging
import math
import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from scoring.lifecycle import LifecycleViolation
from serving.storage import (
    API_KEY_PREFIX,
    IdempotencyConflict,
    Store,
    current_revision,
    feature_hash,
    hash_api_key,
    head_revision,
    make_engine,
    upgrade,
)
from serving.tables import ApiKey, Base, Decision, Feedback, Role

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def decision_row(lead_id: str = "L-1", **overrides: Any) -> dict[str, Any]:
    """A valid decision-log row; ``overrides`` replace fields."""
    row: dict[str, Any] = {
        "lead_id": lead_id,
        "model_name": "leadscore",
        "model_version": "3",
        "features": {"channel": "seo", "industry": "saas", "n_touches": 4, "pricing_views": 1.5},
        "p_sql": 0.42,
        "p_won": 0.12,
        "fit_score": 71.5,
        "engagement_score": 38.25,
        "decision": "nurture",
        "threshold": 0.2,
        "reasons": ["pricing page viewed"],
    }
    row.update(overrides)
    return row


def feedback_body(lead_id: str = "L-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lead_id": lead_id,
        "kind": "rejected",
        "reason": "no_budget",
        "at": "2025-03-02T10:00:00Z",
        "contact_attempts": 3,
        "first_response_hours": 2.5,
        "comment": "called twice, no budget until Q3",
    }
    body.update(overrides)
    return body


def scored(store: Store, *lead_ids: str) -> None:
    """Serve a score to each lead at ``T0``: feedback needs a scored lead (the lifecycle)."""
    store.record_decisions(
        [
            decision_row(lead_id, scored_at=T0, as_of=T0, decision="hand_to_sales")
            for lead_id in lead_ids
        ]
    )


# --- migrations -------------------------------------------------------------------------


def test_migrations_create_tables_and_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)  # again: a no-op
        upgrade(db_url)  # by URL, as the server does at start
        tables = set(inspect(engine).get_table_names())
        # alembic_version sits in the same schema as the tables (PostgreSQL: the test schema)
        assert {"api_keys", "decisions", "feedback", "alembic_version"} <= tables
        assert current_revision(engine) == head_revision()
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("decisions")}
        assert "ix_decisions_lead_id_scored_at" in indexes
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert versions == [(head_revision(),)]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_postgres_version_table_lives_in_the_current_schema(db_url: str) -> None:
    """Another deployment's alembic_version later on search_path must not fool upgrade()."""
    url = make_url(db_url)
    schema = url.query["options"].removeprefix("-csearch_path=")
    decoy = f"{schema}_decoy"
    with make_engine(db_url).begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{decoy}"')
        conn.exec_driver_sql(f'CREATE TABLE "{decoy}".alembic_version (version_num varchar(32))')
        conn.exec_driver_sql(
            f"INSERT INTO \"{decoy}\".alembic_version VALUES ('{head_revision()}')"
        )
    engine = make_engine(
        url.update_query_dict({"options": f"-csearch_path={schema},{decoy}"}).render_as_string(
            hide_password=False
        )
    )
    try:
        upgrade(engine)
        assert {"api_keys", "decisions", "feedback", "alembic_version"} <= set(
            inspect(engine).get_table_names(schema=schema)
        )
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{decoy}" CASCADE')
        engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """tables.py and the migrations describe the same schema (no forgotten revision)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _upgrade_in_process(url: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    upgrade(url)


def test_concurrent_upgrades_migrate_once(db_url: str) -> None:
    """Workers starting at once (separate processes) must not trip over each other's DDL."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_upgrade_in_process, args=(db_url, barrier)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_concurrent_upgrades_in_threads(db_url: str, tmp_path: Path) -> None:
    """Threads of one process migrating two databases at once (alembic's globals)."""
    other = f"sqlite:///{tmp_path / 'other.db'}"
    results = _race(4, lambda i: upgrade(db_url if i % 2 else other))
    assert [r for r in results if isinstance(r, BaseException)] == []
    for url in (db_url, other):
        engine = make_engine(url)
        try:
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()


def test_sqlite_engine_is_durable_and_strict(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # folder is created
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        orphan = {
            "id": "f" * 32,
            "lead_id": "L",
            "kind": "accepted",
            "at": T0,
            "received_at": T0,
            "decision_id": "no-such-decision",
            "actor": "a",
            "idempotency_key": "k",
            "body_hash": "0" * 64,
        }
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(Feedback.__table__), orphan)
    finally:
        engine.dispose()


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://user@localhost/db")


# --- decision log -----------------------------------------------------------------------


def test_decisions_round_trip(store: Store) -> None:
    features = {
        "channel": "webinar",
        "industry": "fintech",
        "company_size": "51-200",
        "country": "DE",
        "n_touches": np.int64(7),
        "ratio": 0.1 + 0.2,
        "tiny": 1e-300,
        "third": np.float64(1 / 3),
        "missing": float("nan"),
        "flags": [True, False, None],
        "nested": {"title": "Директор ✓ 😀", "quote": "\"'\\"},
        "email": "jane@example.com",  # PII: must not be stored
    }
    reasons = [{"feature": "pricing_views", "contribution": 0.123456789012345}]
    scored_at = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=3)))
    row = decision_row(
        "L-rt",
        id="a" * 32,
        request_id="req-1",
        features=features,
        reasons=reasons,
        scored_at=scored_at,
        as_of=scored_at - timedelta(days=1),
        p_sql=None,
        p_won=1 / 3,
        fit_score=1e-12,
        decision="hand_to_sales",
        likely_rejection_reason="too_early",
    )
    store.record_decisions([row])
    got = store.last_decision("L-rt")
    assert got is not None
    assert got["id"] == "a" * 32
    assert got["request_id"] == "req-1"
    assert got["scored_at"] == scored_at and got["scored_at"].tzinfo is not None
    assert got["scored_at"].utcoffset() == timedelta(0)
    assert got["as_of"] == scored_at - timedelta(days=1)
    assert got["p_sql"] is None
    assert got["p_won"] == 1 / 3
    assert got["fit_score"] == 1e-12
    assert got["engagement_score"] == 38.25
    assert got["threshold"] == 0.2
    assert got["decision"] == "hand_to_sales"
    assert got["likely_rejection_reason"] == "too_early"
    assert got["reasons"] == reasons
    assert got["features"] == {
        "channel": "webinar",
        "industry": "fintech",
        "company_size": "51-200",
        "country": "DE",
        "n_touches": 7,
        "ratio": 0.1 + 0.2,
        "tiny": 1e-300,
        "third": 1 / 3,
        "missing": None,
        "flags": [True, False, None],
        "nested": {"title": "Директор ✓ 😀", "quote": "\"'\\"},
    }
    assert (got["channel"], got["industry"], got["company_size"], got["country"]) == (
        "webinar",
        "fintech",
        "51-200",
        "DE",
    )
    assert got["feature_hash"] == feature_hash(features)
    assert len(got["feature_hash"]) == 64


def test_feature_hash_ignores_key_order_and_pii() -> None:
    a = feature_hash({"b": 1, "a": [1.5, "x"], "email": "p@x"})
    b = feature_hash({"a": [1.5, "x"], "b": 1})
    assert a == b
    assert a != feature_hash({"a": [1.5, "x"], "b": 2})


def test_record_decisions_is_one_transaction_and_one_executemany(store: Store) -> None:
    inserts: list[bool] = []
    commits: list[int] = []

    def on_execute(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool):
        if statement.lstrip().upper().startswith("INSERT INTO DECISIONS"):
            inserts.append(many)

    def on_commit(conn: Any) -> None:
        commits.append(1)

    event.listen(store.engine, "before_cursor_execute", on_execute)
    event.listen(store.engine, "commit", on_commit)
    try:
        store.record_decisions([decision_row(f"L-{i}", p_won=i / 1000) for i in range(1000)])
    finally:
        event.remove(store.engine, "before_cursor_execute", on_execute)
        event.remove(store.engine, "commit", on_commit)
    assert inserts == [True]
    assert len(commits) == 1
    assert len(store.recent_decisions(limit=5000)) == 1000


def test_a_bad_row_writes_nothing(store: Store) -> None:
    rows = [decision_row(f"L-{i}") for i in range(10)]
    with pytest.raises(ValueError, match="decision must be one of"):
        store.record_decisions([*rows, decision_row("L-bad", decision="maybe")])
    with pytest.raises(ValueError, match="p_won"):
        store.record_decisions([*rows, decision_row("L-bad", p_won=1.5)])
    with pytest.raises(ValueError, match="unknown decision field"):
        store.record_decisions([*rows, decision_row("L-bad", pwon=0.3)])
    with pytest.raises(ValueError, match="required"):
        store.record_decisions([{k: v for k, v in decision_row().items() if k != "lead_id"}])
    # a failure inside the database (duplicate id) rolls the whole batch back
    dup = [decision_row("L-x", id="d" * 32), decision_row("L-y", id="d" * 32)]
    with pytest.raises(IntegrityError):
        store.record_decisions([*rows, *dup])
    assert store.recent_decisions(limit=100) == []


def test_last_decision_returns_the_newest(store: Store) -> None:
    times = [T0 + timedelta(hours=h) for h in (5, 1, 9, 3)]
    store.record_decisions(
        [decision_row("L-n", scored_at=t, model_version=str(i)) for i, t in enumerate(times)]
    )
    store.record_decisions([decision_row("L-other", scored_at=T0 + timedelta(days=9))])
    newest = store.last_decision("L-n")
    assert newest is not None
    assert newest["scored_at"] == T0 + timedelta(hours=9)
    assert newest["model_version"] == "2"
    assert store.last_decision("L-unknown") is None


def test_recent_decisions_filters_and_orders(store: Store) -> None:
    store.record_decisions(
        [
            decision_row("A", scored_at=T0, p_won=0.9, decision="hand_to_sales"),
            decision_row("B", scored_at=T0 + timedelta(hours=1), p_won=0.1),
            decision_row(
                "C",
                scored_at=T0 + timedelta(hours=2),
                p_won=0.5,
                features={"channel": "paid_social"},
            ),
            decision_row("D", scored_at=T0 + timedelta(hours=3), p_won=0.05, decision="disqualify"),
        ]
    )
    assert [d["lead_id"] for d in store.recent_decisions()] == ["D", "C", "B", "A"]
    assert [d["lead_id"] for d in store.recent_decisions(limit=2, offset=1)] == ["C", "B"]
    assert [d["lead_id"] for d in store.recent_decisions(decision="disqualify")] == ["D"]
    assert [d["lead_id"] for d in store.recent_decisions(channel="paid_social")] == ["C"]
    assert [d["lead_id"] for d in store.recent_decisions(min_p_won=0.1, max_p_won=0.5)] == [
        "C",
        "B",
    ]
    since = T0 + timedelta(hours=2)
    assert [d["lead_id"] for d in store.recent_decisions(since=since)] == ["D", "C"]
    with pytest.raises(ValueError):
        store.recent_decisions(limit=0)
    with pytest.raises(ValueError):
        store.recent_decisions(decision="nope")


def test_decisions_for_training_frame(store: Store) -> None:
    empty = store.decisions_for_training()
    assert empty.empty and "features" in empty.columns
    store.record_decisions(
        [
            decision_row("A", scored_at=T0 + timedelta(hours=1)),
            decision_row("B", scored_at=T0, p_sql=None),
        ]
    )
    frame = store.decisions_for_training()
    assert list(frame["lead_id"]) == ["B", "A"]  # oldest first
    assert str(frame["scored_at"].dt.tz) == "UTC"
    assert frame["features"].iloc[0]["channel"] == "seo"
    assert math.isnan(frame["p_sql"].iloc[0])
    assert frame["p_won"].dtype == "float64"
    later = store.decisions_for_training(since=T0 + timedelta(minutes=30))
    assert list(later["lead_id"]) == ["A"]


# --- feedback ---------------------------------------------------------------------------


def test_feedback_is_idempotent(store: Store) -> None:
    scored(store, "L-1")
    row, created = store.add_feedback(feedback_body(), idempotency_key="k-1", actor="crm")
    assert created
    # the same request again, keys in another order and `at` written another way
    retry = dict(reversed(list(feedback_body(at="2025-03-02T13:00:00+03:00").items())))
    again, created_again = store.add_feedback(retry, idempotency_key="k-1", actor="crm")
    assert not created_again
    assert again == row
    assert store.count_feedback() == 1
    assert row["at"] == datetime(2025, 3, 2, 10, 0, tzinfo=UTC)
    assert row["comment"] == "called twice, no budget until Q3"
    assert row["actor"] == "crm" and row["idempotency_key"] == "k-1"
    assert row["body_hash"] == again["body_hash"] and len(row["body_hash"]) == 64


def test_same_key_different_body_conflicts(store: Store) -> None:
    scored(store, "L-1")
    store.add_feedback(feedback_body(), idempotency_key="k-2", actor="crm")
    with pytest.raises(IdempotencyConflict) as info:
        store.add_feedback(feedback_body(reason="not_icp"), idempotency_key="k-2", actor="crm")
    assert "no budget" not in str(info.value)  # the message never echoes the body
    with pytest.raises(IdempotencyConflict):
        store.add_feedback(feedback_body(), idempotency_key="k-2", actor="someone-else")
    assert store.count_feedback() == 1


def _race(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` in ``n`` threads released at the same moment; results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_requests_with_one_key_make_one_row(store: Store) -> None:
    scored(store, "L-1")
    results = _race(
        20, lambda i: store.add_feedback(feedback_body(), idempotency_key="race", actor="crm")
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert sum(created for _, created in results) == 1
    assert len({row["id"] for row, _ in results}) == 1
    assert store.count_feedback() == 1


def test_racing_different_bodies_with_one_key_conflict(store: Store) -> None:
    scored(store, "L-1")
    results = _race(
        10,
        lambda i: store.add_feedback(
            feedback_body(contact_attempts=i), idempotency_key="race-2", actor="crm"
        ),
    )
    created = [r for r in results if isinstance(r, tuple)]
    conflicts = [r for r in results if isinstance(r, IdempotencyConflict)]
    assert len(created) == 1 and created[0][1] is True
    assert len(conflicts) == 9
    assert store.count_feedback() == 1


def test_rejection_needs_a_reason(store: Store) -> None:
    scored(store, "L-1", "L")
    with pytest.raises(ValueError, match="reason is required"):
        store.add_feedback(feedback_body(reason=None), idempotency_key="k-r", actor="crm")
    with pytest.raises(ValueError, match="reason must be one of"):
        store.add_feedback(feedback_body(reason="bad_vibes"), idempotency_key="k-r", actor="crm")
    with pytest.raises(ValueError, match="kind must be one of"):
        store.add_feedback(feedback_body(kind="maybe"), idempotency_key="k-r", actor="crm")
    with pytest.raises(ValueError, match="unknown feedback field"):
        store.add_feedback(feedback_body(colour="red"), idempotency_key="k-r", actor="crm")
    # the database refuses it too, whoever writes
    row = {
        "id": "e" * 32,
        "lead_id": "L",
        "kind": "rejected",
        "reason": None,
        "at": T0,
        "received_at": T0,
        "actor": "a",
        "idempotency_key": "direct",
        "body_hash": "0" * 64,
    }
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(Feedback.__table__), row)
    assert store.count_feedback() == 0
    # other kinds need no reason
    _, created = store.add_feedback(
        {"lead_id": "L", "kind": "accepted"}, idempotency_key="k-a", actor="crm"
    )
    assert created


def test_feedback_links_the_latest_decision_at_receipt(store: Store) -> None:
    store.record_decisions(
        [
            decision_row("L-link", id="1" * 32, scored_at=T0),
            decision_row("L-link", id="2" * 32, scored_at=T0 + timedelta(hours=2)),
            decision_row("L-link", id="3" * 32, scored_at=T0 + timedelta(hours=1)),
            decision_row("L-else", id="4" * 32, scored_at=T0 + timedelta(hours=5)),
        ]
    )
    row, _ = store.add_feedback(feedback_body("L-link"), idempotency_key="k-l", actor="crm")
    assert row["decision_id"] == "2" * 32
    store.record_decisions([decision_row("L-link", id="5" * 32, scored_at=T0 + timedelta(days=1))])
    replay, _ = store.add_feedback(feedback_body("L-link"), idempotency_key="k-l", actor="crm")
    assert replay["decision_id"] == "2" * 32  # linked at receipt, not re-linked
    with pytest.raises(LifecycleViolation) as refused:  # a lead never scored: no feedback
        store.add_feedback(feedback_body("L-none"), idempotency_key="k-n", actor="crm")
    assert refused.value.violation.rule == "not_scored" and refused.value.violation.status == 409


def test_comments_may_contain_anything_and_are_never_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    scored(store, "L-1")
    comment = "SECRET-7f3a ☎ +7 999 123-45-67 <script>'; DROP TABLE feedback;--\n\ttab \x00 nul"
    with caplog.at_level(logging.DEBUG):
        row, _ = store.add_feedback(
            feedback_body(kind="won", reason=None, amount=75_000.0, comment=comment),
            idempotency_key="k-c",
            actor="crm",
        )
        store.feedback_frame(include_comment=True)
    assert row["comment"] == comment.replace("\x00", "\ufffd")  # PostgreSQL cannot hold NUL
    frame = store.feedback_frame(include_comment=True)
    frame = frame[frame["kind"] == "won"]  # (its implied acceptance is a row of its own)
    assert frame["comment"].iloc[0] == row["comment"]
    assert frame["amount"].iloc[0] == 75_000.0
    assert "SECRET-7f3a" not in caplog.text
    # nor does a database error carry it (the engine hides bound parameters)
    duplicate = {k: v for k, v in row.items() if k != "idempotency_key"}
    with pytest.raises(IntegrityError) as info, store.engine.begin() as conn:
        conn.execute(insert(Feedback.__table__), {**duplicate, "idempotency_key": "other"})
    assert "SECRET-7f3a" not in str(info.value)


def test_feedback_frame_and_count(store: Store) -> None:
    scored(store, "A", "B")
    clock_now = [T0]
    timed = Store(store.engine, clock=lambda: clock_now[0])
    timed.add_feedback(feedback_body("A"), idempotency_key="f-1", actor="crm")
    clock_now[0] = T0 + timedelta(days=1)
    timed.add_feedback(
        {"lead_id": "B", "kind": "won", "amount": 60000}, idempotency_key="f-2", actor="crm"
    )
    frame = timed.feedback_frame()
    # the won deal without a recorded acceptance: the acceptance it implies comes first
    assert list(frame["lead_id"]) == ["A", "B", "B"]
    assert list(frame["kind"]) == ["rejected", "accepted", "won"]
    assert list(frame["implied"]) == [False, True, False]
    assert "comment" not in frame.columns  # free text stays out of training data
    assert str(frame["received_at"].dt.tz) == "UTC"
    assert frame["contact_attempts"].iloc[0] == 3
    assert pd.isna(frame["contact_attempts"].iloc[2])
    assert list(timed.feedback_frame(since=T0 + timedelta(hours=1))["lead_id"]) == ["B", "B"]
    assert timed.count_feedback() == 3
    assert timed.count_feedback(kind="won") == 1
    # `at` defaults to the time of receipt
    assert frame["at"].iloc[2] == pd.Timestamp(T0 + timedelta(days=1))


def test_data_survives_a_new_engine(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    store.record_decisions([decision_row("L-d", id="9" * 32, as_of=T0)])
    row, _ = store.add_feedback(feedback_body("L-d"), idempotency_key="k-d", actor="crm")
    raw = store.create_api_key("durable", Role.SALES)
    engine.dispose()

    reopened = make_engine(db_url)
    try:
        upgrade(reopened)  # a restart migrates again: must keep the data
        again = Store(reopened)
        decision = again.last_decision("L-d")
        assert decision is not None and decision["id"] == "9" * 32
        stored, created = again.add_feedback(
            feedback_body("L-d"), idempotency_key="k-d", actor="crm"
        )
        assert not created and stored == row
        assert again.role_for_key(raw) == ("durable", Role.SALES)
    finally:
        reopened.dispose()


# --- API keys ---------------------------------------------------------------------------


def test_api_keys_are_stored_hashed(store: Store, db_url: str) -> None:
    raw = store.create_api_key("crm-prod", Role.SCORER)
    assert raw.startswith(API_KEY_PREFIX) and len(raw) > 40
    with store.engine.connect() as conn:
        rows = conn.execute(select(ApiKey.__table__)).mappings().all()
    assert len(rows) == 1
    assert all(raw not in str(value) for value in rows[0].values())
    assert all(raw[len(API_KEY_PREFIX) :] not in str(value) for value in rows[0].values())
    assert rows[0]["key_hash"] == hashlib.sha256(raw.encode()).hexdigest() == hash_api_key(raw)
    listed = store.list_api_keys()
    assert [(k["name"], k["role"], k["active"]) for k in listed] == [("crm-prod", "scorer", True)]
    assert not any("hash" in field or "key" in field for field in listed[0])
    if db_url.startswith("sqlite"):  # not even in the database files
        store.engine.dispose()
        path = Path(db_url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            assert raw.encode() not in file.read_bytes()


def test_roles_resolve_and_revocation_is_immediate(store: Store) -> None:
    keys = {role: store.create_api_key(f"key-{role.value}", role) for role in Role}
    for role, raw in keys.items():
        assert store.role_for_key(raw) == (f"key-{role.value}", role)  # now cached
    assert store.role_for_key("lsk_not-a-key") is None
    assert store.role_for_key("") is None
    assert store.revoke_api_key("key-sales") is True
    assert store.role_for_key(keys[Role.SALES]) is None  # the cache did not keep it alive
    assert store.revoke_api_key("key-sales") is False  # nothing active left to revoke
    assert store.role_for_key(keys[Role.SCORER]) == ("key-scorer", Role.SCORER)
    # the name of a revoked key can be reused (rotation); an active name cannot
    new = store.create_api_key("key-sales", Role.SALES)
    assert store.role_for_key(new) == ("key-sales", Role.SALES)
    with pytest.raises(ValueError, match="already exists"):
        store.create_api_key("key-sales", Role.SALES)
    with pytest.raises(ValueError, match="role must be one of"):
        store.create_api_key("x", "superuser")
    states = {(k["name"], k["active"]) for k in store.list_api_keys()}
    assert ("key-sales", False) in states and ("key-sales", True) in states


def test_ensure_api_key_is_idempotent_and_rotates(store: Store) -> None:
    first = "bootstrap-admin-key-0123456789"
    assert store.ensure_api_key(first, "bootstrap", Role.ADMIN) is True
    assert store.ensure_api_key(first, "bootstrap", Role.ADMIN) is False
    assert len(store.list_api_keys()) == 1
    assert store.role_for_key(first) == ("bootstrap", Role.ADMIN)
    # a new configured value replaces the old key
    second = "bootstrap-admin-key-abcdefghij"
    assert store.ensure_api_key(second, "bootstrap", Role.ADMIN) is True
    assert store.role_for_key(first) is None
    assert store.role_for_key(second) == ("bootstrap", Role.ADMIN)
    # a revoked bootstrap key stays revoked across restarts
    store.revoke_api_key("bootstrap")
    assert store.ensure_api_key(second, "bootstrap", Role.ADMIN) is False
    assert store.role_for_key(second) is None
    with pytest.raises(ValueError, match="at least"):
        store.ensure_api_key("short", "bootstrap", Role.ADMIN)


def test_concurrent_ensure_api_key_makes_one_key(store: Store) -> None:
    raw = "bootstrap-admin-key-concurrent"
    results = _race(8, lambda i: store.ensure_api_key(raw, "bootstrap", Role.ADMIN))
    assert not [r for r in results if isinstance(r, BaseException)]
    assert results.count(True) == 1
    assert len(store.list_api_keys()) == 1


def test_decision_table_has_the_reporting_index(engine: Engine) -> None:
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes(Decision.__tablename__)
    }
    assert indexes["ix_decisions_lead_id_scored_at"] == ["lead_id", "scored_at"]
