"""The attribution section read from the roll-ups equals the pandas one, as the log changes.

``serving.store.rollup_attribution`` keeps each converted lead's credits (computed by the
report's own ``lead_credits``) summed per cohort day; ``store_report`` reads those day
sums. The pandas path (``from_store`` then ``build_report``) is the reference: on SQLite
and PostgreSQL, for whole-day and partial-day periods, after new decisions and touches,
feedback, a decision rewritten in place and erased leads, and for a half-life the roll-ups
did not keep before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from serving.report_sql import store_report
from serving.reports import build_report, from_store
from serving.rollup_tables import AttributionHalfLife, DirtyLead, LeadAttribution
from serving.storage import Store
from serving.tables import Decision
from tests.integration.test_report_rollups import PERIODS, _decision
from tests.integration.test_report_sql_parity import START, _same, _seed

SECTIONS = ["attribution"]


def _touches(i: int, at: Any) -> list[dict[str, Any]]:
    """Lead ``i``'s timeline as the decision log keeps it: channels and campaigns, one
    without a campaign, one without a channel, two at the same moment, one late."""
    out = [
        {
            "at": (at - timedelta(days=3)).isoformat(),
            "type": "visit",
            "channel": "seo",
            "campaign": f"c{i % 3}",
        },
        {"at": (at - timedelta(hours=20)).isoformat(), "type": "email_click", "channel": "email"},
        {
            "at": (at - timedelta(hours=20)).isoformat(),
            "type": "visit",
            "channel": "paid_search",
            "campaign": "brand",
        },
    ]
    if i % 3 == 0:
        out.append({"at": (at - timedelta(hours=5)).isoformat(), "type": "visit"})
    if i % 4 == 1:  # after most conversions: shares none of them
        out.append({"at": (at + timedelta(days=60)).isoformat(), "type": "visit", "channel": "x"})
    return out[: 1 + i % len(out)]


def _seed_touches(store: Store, leads: int = 80) -> None:
    """The parity seed, then a re-score of most leads carrying their touches."""
    _seed(store, leads=leads)
    rows = []
    for i in range(leads):
        if i % 5 == 4:
            continue  # some converted leads keep only their own source
        at = START + timedelta(hours=7 * i, minutes=30)
        features = {"channel": "ignored: not the first decision", "touches": _touches(i, at)}
        rows.append(_decision(f"L{i}", at, "nurture", features))
    store.record_decisions(rows)


def _check(store: Store, half_life_days: float | None = None) -> dict[str, Any]:
    """Every period's section equal on both paths; returns the whole log's report."""

    def inputs() -> Any:
        return from_store(
            store.decisions_for_training(), store.feedback_frame(), half_life_days=half_life_days
        )

    def never() -> Any:
        raise AssertionError("the attribution section read the whole log")

    whole: dict[str, Any] = {}
    for options in PERIODS:
        reference = build_report(inputs(), sections=SECTIONS, group_by=[], **options)
        served = store_report(
            store,
            never,
            group_by=[],
            sections=SECTIONS,
            reference_given=False,
            half_life_days=half_life_days,
            **options,
        )
        for report in (reference, served):
            report.pop("generated_at")
        _same(served, reference, where=str(options))
        whole = whole or reference
    return whole


def test_attribution_rollups_equal_the_pandas_section(store: Store) -> None:
    whole = _check(store)  # empty
    assert whole["attribution"]["rows"] == []
    _seed_touches(store)
    whole = _check(store)
    section = whole["attribution"]
    # not a vacuous comparison: touches of several channels share credit, some without one
    assert {r["group"] for r in section["rows"] if r["dimension"] == "channel"} >= {
        "seo",
        "email",
        "paid_search",
    }
    assert section["total"]["won"] > 0 and section["total"]["touches"] > section["total"]["mql"]
    assert any(getattr(n, "code", None) == "attribution.no_channel" for n in section["notes"])
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DirtyLead)).scalar_one() == 0
        stored = conn.execute(select(func.count()).select_from(LeadAttribution)).scalar_one()
    assert 0 < stored <= section["total"]["mql"]


def test_attribution_rollups_follow_writes_updates_and_erasures(store: Store) -> None:
    _seed_touches(store)
    _check(store)
    late = START + timedelta(days=2, hours=3)
    store.record_decisions(
        [
            _decision(
                "N1",
                late,
                "hand_to_sales",
                {"channel": "events", "campaign": "fair", "touches": _touches(2, late)},
            ),
            # an earlier first decision for L5: its cohort day, channel and campaign move
            _decision("L5", START - timedelta(days=1), "nurture", {"channel": "moved"}),
            # new touches for L8, one before its deal
            _decision(
                "L8",
                START + timedelta(days=30),
                "nurture",
                {"touches": [{"at": START.isoformat(), "type": "visit", "channel": "social"}]},
            ),
        ]
    )
    store.add_feedback(
        {"lead_id": "N1", "kind": "accepted", "at": late + timedelta(hours=4)},
        idempotency_key="N1-0",
        actor="crm",
    )
    store.add_feedback(
        {"lead_id": "N1", "kind": "won", "at": late + timedelta(days=5), "amount": 777.25},
        idempotency_key="N1-1",
        actor="crm",
    )
    with store.engine.begin() as conn:  # touches rewritten in place, outside the writers
        conn.execute(
            update(Decision)
            .where(Decision.lead_id == "L6")
            .values(features={"channel": "referral", "touches": _touches(3, START)})
        )
    store.erase_leads(["L3", "L11", "L12"], lead_key=lambda lead: "k" + lead, actor="admin")
    whole = _check(store)
    groups = {r["group"] for r in whole["attribution"]["rows"]}
    assert {"events", "fair", "social"} <= groups


def test_a_new_half_life_is_summed_exactly(store: Store) -> None:
    _seed_touches(store, leads=40)
    seven = _check(store)
    two = _check(store, half_life_days=2.5)  # a half-life the roll-ups did not keep
    assert two["attribution"]["half_life_days"] == 2.5

    def decay(report: dict[str, Any]) -> list[Any]:
        rows = report["attribution"]["rows"]
        return [r["revenue"] for r in rows if r["model"] == "time_decay"]

    assert decay(seven) != decay(two)  # the half-life matters, so keeping it apart does
    with store.engine.connect() as conn:
        kept = conn.execute(select(AttributionHalfLife.half_life_days)).scalars().all()
    assert sorted(kept) == [2.5, 7.0]
    store.record_decisions([_decision("N2", START, "hand_to_sales", {"channel": "seo"})])
    _check(store)  # both kept half-lives follow later writes
    _check(store, half_life_days=2.5)


def test_a_half_life_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        store_report(
            store,
            lambda: None,  # type: ignore[arg-type,return-value]
            group_by=[],
            sections=SECTIONS,
            reference_given=False,
            half_life_days=0,
        )
