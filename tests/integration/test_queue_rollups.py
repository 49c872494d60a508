"""The queue read from its roll-up equals the queue read from the whole log.

``queue_page`` reads ``serving.store.rollup_queue``'s per-lead rows, counts and trend
stretches; ``queue_page_from_log`` is the definition (the SELECT over every decision).
On SQLite and PostgreSQL, for varied histories — rescored leads (rising, falling,
unchanged, several scores at one moment, scores after "now"), handoffs reopened after a
rejection, rejected-then-nurtured, returned to nurture, accepted, won, contacted,
leads without a channel — every filter and sort and every page must be the same rows in
the same order with the same count, at a "now" where many leads are still within the
trend window and at one where all have settled, and again after new decisions and
feedback, an update in place and an erasure.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from scoring.contract import HandoffDecision
from serving.storage import Store
from serving.store import rollup_queue
from serving.store.queue import (
    PAGE_SIZE,
    QueueFilters,
    channels,
    queue_page,
    queue_page_from_log,
)
from serving.store.rollups import refresh_rollups
from serving.tables import Decision
from tests.integration.storage_helpers import T0

NOW = T0 + timedelta(days=30)
HAND, NURTURE, DISQUALIFY = (d.value for d in HandoffDecision)

FILTERS = [
    QueueFilters(decision=decision, status=status, sort=sort, sla=sla)
    for decision, status, sort, sla in itertools.product(
        (HAND, None, NURTURE),
        ("open", "decided", "all"),
        ("recent", "change"),
        (None, "overdue", "due_soon", "on_track"),
    )
] + [
    QueueFilters(decision=None, status="all", channel=channel, band=band, sort=sort)
    for channel, band, sort in itertools.product(
        ("seo", "email"), ("top", "mid", "low"), ("recent", "change")
    )
]


def _decision(lead_id: str, at: datetime, decision: str, p_won: float, channel: Any) -> dict:
    features = {"touches": []} if channel is None else {"channel": channel, "touches": []}
    return {
        "lead_id": lead_id,
        "scored_at": at,
        "as_of": at,
        "model_name": "leadscore",
        "model_version": "1",
        "features": features,
        "p_sql": min(1.0, p_won * 1.5),
        "p_won": p_won,
        "fit_score": 60.0,
        "engagement_score": -1.0 if p_won < 0.05 else 40.0,
        "decision": decision,
        "threshold": 0.3,
    }


def _feedback(store: Store, lead_id: str, kind: str, at: datetime, **more: Any) -> None:
    body = {"lead_id": lead_id, "kind": kind, "at": at, **more}
    store.add_feedback(body, idempotency_key=f"{lead_id}-{kind}-{at.isoformat()}", actor="t")


def _seed(store: Store) -> None:
    """Random rescored leads around NOW, then one of each sales story."""
    rng = random.Random(14)
    rows = []
    offsets = [-20 * 24, -9 * 24, -8 * 24, -6 * 24, -3 * 24, -30, -9, -7, -0.5, 2]
    for i in range(70):
        channel = rng.choice(("seo", "email", None))
        times = sorted(rng.sample(offsets, rng.choice((1, 1, 2, 3, 4))))
        if i % 9 == 0:
            times.append(times[-1])  # two scores of one moment
        for hours in times:
            p_won = rng.choice((0.02, 0.1, 0.2, 0.35, 0.6))
            decision = HAND if p_won >= 0.3 else rng.choice((NURTURE, DISQUALIFY))
            rows.append(_decision(f"R{i}", NOW + timedelta(hours=hours), decision, p_won, channel))
    store.record_decisions(rows)
    day = timedelta(days=1)
    stories = {
        "S-rejected": [(-10, HAND, 0.4)],
        "S-reopened": [(-10, HAND, 0.4), (-2, HAND, 0.5)],
        "S-renurtured": [(-10, HAND, 0.4), (-2, NURTURE, 0.2)],
        "S-returned": [(-9, HAND, 0.45)],
        "S-accepted": [(-8, HAND, 0.5)],
        "S-won": [(-12, HAND, 0.7), (-6, HAND, 0.72)],
        "S-contacted": [(-1, HAND, 0.33)],
        "S-erased": [(-3, HAND, 0.9)],
    }
    store.record_decisions(
        [
            _decision(lead, NOW + days * day, decision, p_won, "email")
            for lead, scores in stories.items()
            for days, decision, p_won in scores
        ]
    )
    _feedback(store, "S-rejected", "rejected", NOW - 9 * day, reason="no_budget")
    _feedback(store, "S-reopened", "rejected", NOW - 9 * day, reason="not_icp")
    _feedback(store, "S-renurtured", "rejected", NOW - 9 * day, reason="too_early")
    _feedback(store, "S-returned", "returned_to_nurture", NOW - 8 * day)
    _feedback(store, "S-accepted", "accepted", NOW - 7 * day)
    _feedback(store, "S-won", "won", NOW - 2 * day, amount=1200.0)
    _feedback(store, "S-contacted", "contacted", NOW - day / 2)
    _feedback(store, "S-erased", "accepted", NOW - 2 * day)
    _feedback(store, "R3", "disagree", NOW - day, comment="too low")


def _same_everywhere(store: Store, now: datetime) -> list[dict[str, Any]]:
    """Compare every filter and every page (and one past the end); returns the rows."""
    seen = []
    for filters in FILTERS:
        page = 1
        while True:
            expected = queue_page_from_log(store, filters, page=page, now=now)
            assert queue_page(store, filters, page=page, now=now) == expected, (filters, page)
            seen += expected[0]
            if (page - 1) * PAGE_SIZE >= expected[1]:
                break
            page += 1
    return seen


def _trends(rows: list[dict[str, Any]]) -> set[Any]:
    return {row["trend"] for row in rows}


def test_the_queue_from_its_rollup_equals_the_queue_from_the_log(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(store)
    monkeypatch.setattr(rollup_queue, "BATCH", 3)  # several queries per chunk
    refresh_rollups(store.engine, chunk=7)  # several chunks move the same counts
    rows = _same_everywhere(store, NOW)
    assert len(rows) > 500 and _trends(rows) == {"improving", "steady", "declining", None}
    assert {row["sla"]["state"] for row in rows if row["sla"]} == {
        "overdue",
        "due_soon",
        "on_track",
    }
    settled = _same_everywhere(store, NOW + timedelta(days=40))
    assert len(settled) > 500 and _trends(settled) == {"steady", None}
    assert channels(store) == ["email", "seo"]

    later = NOW + timedelta(hours=1)
    store.record_decisions(
        [
            _decision("R1", later, HAND, 0.66, "seo"),  # a rescore moves its change
            _decision("S-rejected", later, HAND, 0.5, "email"),  # reopened
            _decision("N-new", later, NURTURE, 0.1, "partner"),  # a new lead and channel
        ]
    )
    _feedback(store, "S-reopened", "accepted", later)
    _feedback(store, "S-contacted", "rejected", later, reason="competitor_won")
    with store.engine.begin() as conn:  # an update in place, outside the writers
        conn.execute(
            update(Decision).where(Decision.lead_id == "R2").values(p_won=0.31, channel="seo")
        )
    store.erase_leads(["S-erased", "R5"], lead_key=lambda lead: "k" + lead, actor="admin")
    _same_everywhere(store, later)
    _same_everywhere(store, later + timedelta(days=3))
    assert channels(store) == ["email", "partner", "seo"]
