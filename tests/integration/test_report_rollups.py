"""The report roll-ups stay equal to the pandas report as the log changes.

``serving.store.rollups`` keeps per-lead summaries and per-day sums current from the
leads the triggers mark dirty; the funnel and rejection sections read them. The pandas
path (``from_store`` then ``build_report``), which reads the whole log, is the
reference: after a first report, new decisions (including one that becomes a lead's
first), new feedback, a row updated in place and an erased lead must all show, on
SQLite and PostgreSQL, for whole-day and partial-day periods.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from serving.report_sql import store_report
from serving.reports import build_report, from_store
from serving.rollup_tables import DirtyLead, LeadRollup
from serving.storage import Store
from serving.store.rollups import refresh_rollups
from serving.tables import Decision
from tests.integration.test_report_sql_parity import START, _same, _seed

SECTIONS = ["funnel", "rejections"]
GROUP_BY = ["channel", "campaign", "company_size"]
PERIODS = [
    {},
    {"start": START + timedelta(days=10), "end": START + timedelta(days=30)},
    {"start": START + timedelta(days=3, hours=5), "end": START + timedelta(days=31, hours=17)},
    {"start": START + timedelta(days=12, hours=2), "end": START + timedelta(days=12, hours=20)},
    {"start": START + timedelta(days=20, minutes=30)},
]


def _check(store: Store) -> None:
    def inputs() -> Any:
        return from_store(store.decisions_for_training(), store.feedback_frame())

    for options in PERIODS:
        reference = build_report(inputs(), group_by=GROUP_BY, sections=SECTIONS, **options)
        served = store_report(
            store, inputs, group_by=GROUP_BY, sections=SECTIONS, reference_given=False, **options
        )
        for report in (reference, served):
            report.pop("generated_at")
        _same(served, reference, where=str(options))


def _decision(lead_id: str, at: Any, decision: str, features: dict[str, Any]) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "scored_at": at,
        "as_of": at,
        "model_name": "leadscore",
        "model_version": "2",
        "features": features,
        "p_sql": 0.5,
        "p_won": 0.3,
        "fit_score": 50.0,
        "engagement_score": 50.0,
        "decision": decision,
        "threshold": 0.4,
    }


def test_rollups_follow_new_decisions_feedback_updates_and_erasures(store: Store) -> None:
    _seed(store, leads=120)
    _check(store)  # the first report builds the roll-ups from the whole log
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DirtyLead)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(LeadRollup)).scalar_one() == 121

    store.record_decisions(
        [
            # a new lead, and an earlier first decision for L5: its cohort and fields move
            _decision("N1", START + timedelta(days=2, hours=3), "hand_to_sales", {"channel": "x"}),
            _decision("L5", START - timedelta(days=1), "nurture", {"channel": "moved"}),
            _decision("L7", START + timedelta(days=40), "hand_to_sales", {"channel": "seo"}),
        ]
    )
    store.add_feedback(
        {"lead_id": "N1", "kind": "rejected", "reason": "no_budget", "at": START + timedelta(3)},
        idempotency_key="N1-0",
        actor="crm",
    )
    store.add_feedback(
        {"lead_id": "L7", "kind": "accepted", "at": START + timedelta(days=41)},
        idempotency_key="L7-late",
        actor="crm",
    )
    with store.engine.begin() as conn:  # an update in place, outside the writers
        conn.execute(
            update(Decision)
            .where(Decision.lead_id == "L9")
            .values(channel="email", features={"channel": "email"})
        )
    store.erase_leads(["L3", "L11"], lead_key=lambda lead: "k" + lead, actor="admin")
    _check(store)


def test_a_refresh_with_nothing_dirty_changes_nothing(store: Store) -> None:
    _seed(store, leads=30)
    assert refresh_rollups(store.engine) == 31  # 30 scored leads, one feedback-only lead
    assert refresh_rollups(store.engine) == 0


@pytest.mark.parametrize("chunk", [1, 7])
def test_small_chunks_give_the_same_sums(store: Store, chunk: int) -> None:
    _seed(store, leads=40)
    assert refresh_rollups(store.engine, chunk=chunk) == 41
    _check(store)
