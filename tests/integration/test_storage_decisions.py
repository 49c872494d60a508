"""The serving store on SQLite and PostgreSQL: the decision log."""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from serving.storage import (
    Store,
    feature_hash,
    make_engine,
    upgrade,
)
from tests.integration.storage_helpers import T0, decision_row

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


def test_record_decisions_is_one_transaction_and_few_statements(store: Store) -> None:
    """One commit; on SQLite a few multi-row INSERTs (power-of-two chunks), on PostgreSQL
    one ``COPY`` (the driver's, unseen by SQLAlchemy's events)."""
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
    if store.engine.dialect.name == "sqlite":
        assert len(inserts) == bin(1000).count("1") and not any(inserts)
    else:
        assert inserts == []
    assert len(commits) == 1
    assert len(store.recent_decisions(limit=5000)) == 1000


def test_an_old_sqlites_limit_on_parameters_is_kept(tmp_path: Path) -> None:
    """A system SQLite before 3.32 binds at most 999 parameters a statement: the
    multi-row INSERTs are cut to fit."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade(engine)
    engine.dispose()
    event.listen(
        engine,
        "connect",
        lambda raw, _: raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999),
    )
    store = Store(engine)
    store.record_decisions([decision_row(f"L-{i}") for i in range(100)])
    assert len(store.recent_decisions(limit=200)) == 100
    engine.dispose()


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
