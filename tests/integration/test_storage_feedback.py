"""The serving store on SQLite and PostgreSQL: feedback (idempotency, races, links)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from scoring.lifecycle import LifecycleViolation
from serving.storage import (
    IdempotencyConflict,
    Store,
    make_engine,
    upgrade,
)
from serving.tables import Feedback, Role
from tests.integration.storage_helpers import T0, _race, decision_row, feedback_body, scored

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


def test_racing_retries_of_an_event_that_cannot_repeat_are_replayed(store: Store) -> None:
    """A second ``accepted`` is out of order, but a retry of the first is a replay.

    The racers that wait for the lead's lock find the winner's row in the lead's history
    once they get it; they must answer with that row (201 replay), not a 409. Two server
    processes sharing PostgreSQL race exactly like these threads.
    """
    for n in range(5):
        lead = f"L-acc-{n}"
        scored(store, lead)
        results = _race(
            8,
            lambda i, lead=lead: store.add_feedback(
                {"lead_id": lead, "kind": "accepted"}, idempotency_key=f"acc-{lead}", actor="crm"
            ),
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert sum(created for _, created in results) == 1
        assert len({row["id"] for row, _ in results}) == 1
    assert store.count_feedback(kind="accepted") == 5


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
