"""The decision log writer: batched in the background, nothing lost at flush or close,
and what it could not store flagged."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.decision_log import DecisionLog
from serving.storage import Store
from tests.model_fixtures import admin_headers
from tests.payloads import LEAD, PII


def _row(i: int) -> dict[str, Any]:
    return {
        "lead_id": f"lead-{i}",
        "model_name": "leadscore",
        "model_version": "1",
        "features": {"channel": "seo", "email": "someone@example.org"},
        "p_won": 0.1,
        "fit_score": 50.0,
        "engagement_score": 50.0,
        "decision": "nurture",
        "threshold": 0.2,
    }


def test_flush_makes_every_submitted_row_readable(store: Store) -> None:
    log = DecisionLog(store, wait_seconds=0.05)
    log.start()
    try:
        for i in range(30):
            log.submit_lazy(1, lambda i=i: [_row(i)])
        log.flush()
        frame = store.decisions_for_training()
        assert sorted(frame["lead_id"]) == sorted(f"lead-{i}" for i in range(30))
        assert "email" not in frame.iloc[0]["features"], "personal data is never stored"
        assert frame["id"].is_unique
    finally:
        log.close()


def test_close_drains_the_queue(store: Store) -> None:
    log = DecisionLog(store, wait_seconds=0.5)
    log.start()
    log.submit_lazy(2, lambda: [_row(1), _row(2)])
    log.close()
    assert len(store.decisions_for_training()) == 2


def test_a_row_that_cannot_be_built_is_counted_not_raised(store: Store) -> None:
    log = DecisionLog(store)
    log.start()
    try:

        def broken() -> list[dict[str, Any]]:
            raise RuntimeError("boom")

        log.submit_lazy(3, broken)
        log.submit_lazy(1, lambda: [_row(9)])
        log.flush()
        assert log.failed_rows == 3
        assert list(store.decisions_for_training()["lead_id"]) == ["lead-9"]
    finally:
        log.close()


def test_an_answered_decision_that_was_not_stored_is_flagged(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer has gone out; the store refuses the row: ``/readyz`` and ``/metrics``
    say so (no personal data in either), and the writer carries on."""
    client = make_client()

    def refuse(rows: Sequence[Mapping[str, Any]]) -> int:
        raise RuntimeError("database is gone")

    monkeypatch.setattr(client.app.state.store, "record_decisions", refuse)
    response = client.post("/v1/score", json=LEAD, headers=admin_headers())
    assert response.status_code == 200, response.text
    client.app.state.decision_log.flush()
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["decision_log_failed_rows"] == 1
    metrics = client.get("/metrics").text
    assert "leadscore_decision_log_failed_rows_total 1.0" in metrics
    assert not any(value in metrics for value in PII.values())


def test_a_busy_database_is_waited_for_and_nothing_is_lost(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite stays locked while a long roll-up refresh writes (longer than its busy
    timeout); PostgreSQL connections drop. The batch is tried again, stored once, and
    not counted as failed."""
    from sqlalchemy.exc import OperationalError

    real = store.record_decisions
    refusals = iter(range(3))

    def busy_then_real(rows: Sequence[Mapping[str, Any]]) -> int:
        if next(refusals, None) is not None:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(rows)

    monkeypatch.setattr(store, "record_decisions", busy_then_real)
    log = DecisionLog(store, wait_seconds=0.01)
    log.start()
    try:
        log.submit_lazy(2, lambda: [_row(1), _row(2)])
        log.flush()
        assert log.failed_rows == 0
        assert sorted(store.decisions_for_training()["lead_id"]) == ["lead-1", "lead-2"]
    finally:
        log.close()


def test_a_database_busy_for_longer_than_the_budget_is_counted(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def always_busy(rows: Sequence[Mapping[str, Any]]) -> int:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "record_decisions", always_busy)
    log = DecisionLog(store, wait_seconds=0.01, retry_seconds=0.3)
    log.start()
    try:
        log.submit_lazy(2, lambda: [_row(1), _row(2)])
        log.flush()
        assert log.failed_rows == 2
    finally:
        log.close()


def test_a_database_that_cannot_answer_gives_503_with_retry_after(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite locked past its busy timeout (a long roll-up refresh), a lost PostgreSQL
    connection: the client is told to come back, not handed a 500."""
    from sqlalchemy.exc import OperationalError

    client = make_client()

    def locked(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(client.app.state.store, "decisions_since", locked)
    response = client.get("/v1/decisions", headers=admin_headers())
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert "busy" in response.json()["detail"]
