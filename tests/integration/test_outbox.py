"""The outbox: events written with their cause, claimed once, delivered, retried, dead-lettered.

Store-level, on SQLite and PostgreSQL, against a real receiving HTTP server in a thread
(``tests/webhook_receiver.py``). The kill -9 test with a receiver process is
``test_webhook_delivery.py``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from serving.outbox.deliver import Attempt
from serving.outbox.events import (
    DECISION_CHANGED,
    FEEDBACK_RECORDED,
    MODEL_PROMOTED,
    THRESHOLD_CROSSED,
)
from serving.outbox.signing import new_secret
from serving.outbox.worker import Backoff, OutboxWorker
from serving.storage import Store
from serving.store.outbox import Outcome
from serving.tables import OutboxEvent
from tests.integration.storage_helpers import T0, decision_row, feedback_body, scored
from tests.integration.webhook_helpers import free_port, received, receiver

LEAD_EVENTS = [THRESHOLD_CROSSED, DECISION_CHANGED]


def _events(store: Store) -> list[tuple[str, dict[str, object]]]:
    table = OutboxEvent.__table__
    query = select(table.c.type, table.c.payload).order_by(table.c.occurred_at, table.c.id)
    with store.engine.connect() as conn:
        return [(t, dict(p)) for t, p in conn.execute(query)]


def _score(store: Store, decision: str, minutes: int, lead: str = "L-1", **extra: object) -> int:
    at = T0 + timedelta(minutes=minutes)
    return store.record_decisions(
        [decision_row(lead, decision=decision, scored_at=at, as_of=at, **extra)]
    )


def test_decisions_write_their_events_only_for_subscribers(store: Store) -> None:
    assert _score(store, "hand_to_sales", 0) == 0  # nobody subscribes: nothing written
    assert _events(store) == []
    store.create_subscription("http://127.0.0.1:9/hook", LEAD_EVENTS, actor="test")
    assert _score(store, "nurture", 1) == 2  # down, and a change
    assert _score(store, "nurture", 2) == 0
    assert _score(store, "disqualify", 3) == 1  # a change, no crossing
    # two rows of one lead in one batch: the second compares with the first
    at = T0 + timedelta(minutes=4)
    rows = [
        decision_row("L-1", decision="hand_to_sales", scored_at=at, as_of=at),
        decision_row("L-1", decision="nurture", scored_at=at + timedelta(seconds=1), as_of=at),
        decision_row("L-2", decision="hand_to_sales", scored_at=at, as_of=at),
    ]
    assert store.record_decisions(rows) == 2 + 2 + 1
    crossings = [p for t, p in _events(store) if t == THRESHOLD_CROSSED]
    crossings.sort(key=lambda p: str(p["lead_id"]))  # stable: one lead's stay in order
    assert [(p["lead_id"], p["direction"], p["previous_decision"]) for p in crossings] == [
        ("L-1", "down", "hand_to_sales"),
        ("L-1", "up", "disqualify"),
        ("L-1", "down", "hand_to_sales"),
        ("L-2", "up", None),
    ]
    assert all(set(p) >= {"p_won", "threshold", "model_version", "band"} for p in crossings)
    assert store.delivery_counts() == {"pending": len(_events(store))}


def test_a_failed_decision_batch_leaves_no_event(store: Store) -> None:
    store.create_subscription("http://127.0.0.1:9/hook", LEAD_EVENTS, actor="test")
    _score(store, "nurture", 0, id="dup")
    before = _events(store)
    with pytest.raises(IntegrityError):  # the insert fails after the events were written
        _score(store, "hand_to_sales", 1, id="dup")
    assert _events(store) == before and store.last_decision("L-1")["decision"] == "nurture"


def test_feedback_writes_its_event_without_the_comment(store: Store) -> None:
    store.create_subscription("http://127.0.0.1:9/hook", [FEEDBACK_RECORDED], actor="test")
    scored(store, "L-1")
    body = feedback_body("L-1", kind="won", reason=None, amount=1200.0, comment="olga@example.org")
    store.add_feedback(body, idempotency_key="k-1", actor="sales")
    store.add_feedback(body, idempotency_key="k-1", actor="sales")  # a retry: no new event
    events = _events(store)
    kinds = [p["kind"] for _, p in events]
    assert sorted(kinds) == ["accepted", "won"], "the implied acceptance, and the win"
    assert all(t == FEEDBACK_RECORDED for t, _ in events)
    assert "olga" not in repr(events)
    assert [p["amount"] for _, p in events if p["kind"] == "won"] == [1200.0]


def test_workers_claim_disjoint_rows_and_take_back_expired_leases(
    store: Store, engine: Engine
) -> None:
    store.create_subscription("http://127.0.0.1:9/hook", [THRESHOLD_CROSSED], actor="test")
    store.record_decisions([decision_row(f"L-{i}", decision="hand_to_sales") for i in range(60)])
    stores = [Store(engine), Store(engine), Store(engine)]
    taken: list[list[int]] = [[] for _ in stores]
    barrier = threading.Barrier(len(stores))

    def claim(i: int) -> None:
        barrier.wait()
        while batch := stores[i].claim_deliveries(7, lease_seconds=60):
            taken[i] += [c.delivery_id for c in batch]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [d for part in taken for d in part]
    assert len(every) == 60 and len(set(every)) == 60, "each delivery claimed exactly once"
    assert store.claim_deliveries(100, lease_seconds=60) == []
    # a worker killed mid-delivery: its lease runs out and the row is due again
    _score(store, "hand_to_sales", 0, lead="L-late")
    first = store.claim_deliveries(10, lease_seconds=0.3)
    assert len(first) == 1 and store.claim_deliveries(10, lease_seconds=0.3) == []
    time.sleep(0.5)
    again = store.claim_deliveries(10, lease_seconds=60)
    assert [c.delivery_id for c in again] == [first[0].delivery_id]


def _worker(store: Store, **backoff: float) -> OutboxWorker:
    return OutboxWorker(
        store,
        timeout=2,
        lease_seconds=30,
        backoff=Backoff(**backoff) if backoff else None,  # type: ignore[arg-type]
    )


def test_worker_delivers_signed_events_and_retries_until_the_dead_letter(
    store: Store, tmp_path: Path
) -> None:
    secret = new_secret()
    out = tmp_path / "got.jsonl"
    with receiver(out, secret) as url:
        good = store.create_subscription(url, [THRESHOLD_CROSSED], actor="t", secret=secret)
        down = store.create_subscription(
            f"http://127.0.0.1:{free_port()}/nobody", [THRESHOLD_CROSSED], actor="t"
        )
        _score(store, "hand_to_sales", 0)
        worker = _worker(store, base=0.05, cap=0.1, max_attempts=3)
        try:
            deadline = time.monotonic() + 20
            while store.delivery_counts().get("pending") and time.monotonic() < deadline:
                if not worker.run_once():
                    time.sleep(0.05)
        finally:
            worker.close()
    got = received(out)
    assert len(got) == 1 and got[0]["verified"] and got[0]["type"] == THRESHOLD_CROSSED
    assert got[0]["data"]["lead_id"] == "L-1" and got[0]["id"].startswith("evt_")
    (dead,) = store.list_deliveries(state="dead")
    assert dead["subscription_id"] == down["id"] and dead["attempts"] == 3
    attempts = store.delivery_attempts(dead["id"])
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert not any(a["ok"] for a in attempts) and attempts[0]["error"] == "ConnectError"
    (ok,) = store.list_deliveries(state="delivered")
    assert ok["subscription_id"] == good["id"] and ok["delivered_at"] is not None
    # replay: back in the queue from attempt zero; deleting cancels it
    assert store.replay_dead(subscription_id=down["id"]) == 1
    assert store.list_deliveries(state="pending")[0]["attempts"] == 0
    assert store.delete_subscription(down["id"]) and not store.delete_subscription(down["id"])
    assert store.delivery_counts() == {"delivered": 1, "cancelled": 1}
    assert store.replay_dead() == 0


def test_a_permanent_refusal_is_a_dead_letter_at_once(store: Store, tmp_path: Path) -> None:
    with receiver(tmp_path / "got.jsonl", status=404) as url:
        store.create_subscription(url, [THRESHOLD_CROSSED], actor="t")
        _score(store, "hand_to_sales", 0)
        worker = _worker(store)
        try:
            assert worker.run_once() == 1
        finally:
            worker.close()
    (dead,) = store.list_deliveries(state="dead")
    assert dead["attempts"] == 1 and dead["last_status"] == 404


def test_model_promoted_is_written_once_per_move(store: Store) -> None:
    assert store.record_model_promoted("leadscore", "1") is None  # nobody subscribes
    store.create_subscription("http://127.0.0.1:9/hook", [MODEL_PROMOTED], actor="t")
    first = store.record_model_promoted("leadscore", "1")
    assert first is not None and store.record_model_promoted("leadscore", "1") is None
    assert store.record_model_promoted("leadscore", "2") is not None
    assert store.record_model_promoted("leadscore", "1") is not None  # a roll-back moves too
    payloads = [p for _, p in _events(store)]
    assert [(p["version"], p["previous_version"]) for p in payloads] == [
        ("1", None),
        ("2", "1"),
        ("1", "2"),
    ]


def test_an_erasure_takes_the_leads_events(store: Store) -> None:
    store.create_subscription("http://127.0.0.1:9/hook", LEAD_EVENTS, actor="t")
    _score(store, "hand_to_sales", 0)
    _score(store, "hand_to_sales", 0, lead="L-2")
    claimed = store.claim_deliveries(10, lease_seconds=60)  # a worker is sending both
    store.erase_leads(["L-1"], lead_key=lambda lead: "k" + lead, actor="admin")
    attempt = Attempt(ok=True, status=204, retry_after=None, error=None)
    now = datetime.now(UTC)
    store.record_outcomes([Outcome(c, attempt, now, 1.0, None, False) for c in claimed])
    assert store.delivery_counts() == {"delivered": 1}  # the erased lead's is gone, no error
    _score(store, "nurture", 1, lead="L-2")
    assert {p["lead_id"] for _, p in _events(store)} == {"L-2"}
    store.erase_leads(["L-2"], lead_key=lambda lead: "k" + lead, actor="admin")
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OutboxEvent.__table__)).scalar() == 0
    assert store.delivery_counts() == {}


def test_subscriptions_refuse_bad_fields_by_name(store: Store) -> None:
    cases = [
        ({"url": "ftp://x", "events": [THRESHOLD_CROSSED]}, "url"),
        ({"url": "http://x", "events": ["lead.scored"]}, "events"),
        ({"url": "http://x", "events": []}, "events"),
        ({"url": "http://x", "events": [THRESHOLD_CROSSED], "secret": "hunter2"}, "secret"),
        ({"url": "http://x", "events": [THRESHOLD_CROSSED], "kind": "sms"}, "kind"),
    ]
    for fields, name in cases:
        with pytest.raises(ValueError, match=f"^{name}"):
            store.create_subscription(actor="t", **fields)  # type: ignore[arg-type]
    made = store.create_subscription("https://crm.example/h", [MODEL_PROMOTED], actor="t")
    assert made["secret"].startswith("whsec_")
    assert "secret" not in store.list_subscriptions()[0]
