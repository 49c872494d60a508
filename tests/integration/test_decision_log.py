"""The decision log writer: batched in the background, nothing lost at flush or close."""

from __future__ import annotations

from typing import Any

from serving.decision_log import DecisionLog
from serving.storage import Store


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
