"""Rows and helpers shared by the store tests (and ``test_erasure``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from serving.storage import (
    Store,
)

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
