"""The calibration section read from the roll-ups stays equal to the pandas section.

``serving.store.calibration_sums`` sums whole cohort days from the day sums (mature
before the day of the maturity cut, young after it) and reads the per-lead rows of the
cut's own day and of partial days. The seeded leads span 250 days, two a day (00:00 and
12:00), so P(won) is judged on mature leads only; a late lead sets the horizon so that
the cut falls at 06:00 of a day holding two leads with a known P(won) label, one on
each side of it. The pandas path (``from_store`` then ``build_report``) is the
reference, for whole-day and mid-day periods, young and mature cohorts, and after later
writes, an update in place and erasures (one of them the lead that set the horizon).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from serving.report_sql import store_report
from serving.reports import build_report, from_store
from serving.reports.calibration import WON_MATURITY_DAYS
from serving.rollup_tables import LeadCalibration
from serving.storage import Store
from serving.tables import Decision
from tests.integration.test_report_rollups import _decision
from tests.integration.test_report_sql_parity import START, _same, _seed

CUT_DAY = START + timedelta(days=120)
"""The day the maturity cut falls in: horizon - WON_MATURITY_DAYS = CUT_DAY 06:00."""
HORIZON = CUT_DAY + timedelta(days=WON_MATURITY_DAYS, hours=6)
PERIODS = [
    {},
    {"start": START, "end": START + timedelta(days=400)},  # whole days, the cut inside
    {"start": START + timedelta(days=3, hours=5), "end": START + timedelta(days=330, hours=17)},
    {"start": CUT_DAY + timedelta(hours=2), "end": HORIZON + timedelta(minutes=1)},
    {"start": START + timedelta(days=20), "end": START + timedelta(days=60)},  # no late lead
    {"start": START + timedelta(days=150, hours=13), "end": START + timedelta(days=151)},
    {"start": START + timedelta(days=200, minutes=30)},  # young cohorts only
    {"end": CUT_DAY + timedelta(hours=9)},
    {"start": START + timedelta(days=900)},  # no leads
]


def _check(store: Store) -> list[dict[str, Any]]:
    def inputs() -> Any:
        return from_store(store.decisions_for_training(), store.feedback_frame())

    out = []
    for options in PERIODS:
        reference = build_report(inputs(), group_by=[], sections=["calibration"], **options)
        served = store_report(
            store, inputs, group_by=[], sections=["calibration"], reference_given=False, **options
        )
        for report in (reference, served):
            report.pop("generated_at")
        _same(served, reference, where=str(options))
        out.append(served["calibration"])
    return out


def _lost(store: Store, lead_id: str, at: Any) -> None:
    """A closed-lost deal (the lifecycle implies the acceptance): P(won)'s label is 0."""
    store.add_feedback(
        {"lead_id": lead_id, "kind": "lost", "at": at},
        idempotency_key=f"{lead_id}-lost",
        actor="crm",
    )


def _seed_around_the_cut(store: Store) -> None:
    _seed(store, leads=500, step_hours=12)
    store.record_decisions(
        [
            # one lead on each side of the cut, on the cut's day, both with a known label
            _decision("C1", CUT_DAY + timedelta(hours=3), "hand_to_sales", {"channel": "seo"}),
            _decision("C2", CUT_DAY + timedelta(hours=9), "hand_to_sales", {"channel": "seo"}),
            # the newest event of every period that holds it
            _decision("H1", HORIZON, "nurture", {"channel": "email"}),
        ]
    )
    _lost(store, "C1", CUT_DAY + timedelta(days=2))
    _lost(store, "C2", CUT_DAY + timedelta(days=2))


def test_calibration_from_the_rollups_judges_maturity_as_pandas_does(store: Store) -> None:
    _seed_around_the_cut(store)
    sections = _check(store)
    whole = sections[0]["stages"]["won"]
    assert whole["mature_only"] and 50 <= whole["n"] < 500
    assert not sections[6]["stages"]["won"]["mature_only"]  # young cohorts only
    assert not sections[-1]["available"]
    with store.engine.connect() as conn:  # the cut's day holds leads on both sides
        rows = conn.execute(
            select(LeadCalibration.lead_id, LeadCalibration.y_won).where(
                LeadCalibration.lead_id.in_(["C1", "C2"])
            )
        ).all()
    assert sorted(rows) == [("C1", 0.0), ("C2", 0.0)]


def test_calibration_rollups_follow_writes_updates_and_erasures(store: Store) -> None:
    _seed_around_the_cut(store)
    before = _check(store)
    store.record_decisions(
        [
            # an earlier first decision: L30's compared prediction and cohort move
            _decision("L30", START - timedelta(days=1), "nurture", {"channel": "moved"}),
            _decision("N1", CUT_DAY + timedelta(hours=5), "hand_to_sales", {"channel": "x"}),
            _decision("N2", CUT_DAY + timedelta(days=90), "hand_to_sales", {"channel": "x"}),
        ]
    )
    _lost(store, "N1", CUT_DAY + timedelta(days=1))
    store.add_feedback(  # a late acceptance: the horizon moves by a day and a half
        {"lead_id": "N2", "kind": "accepted", "at": HORIZON + timedelta(days=1, hours=12)},
        idempotency_key="N2-late",
        actor="crm",
    )
    with store.engine.begin() as conn:  # an update in place, outside the writers
        conn.execute(update(Decision).where(Decision.lead_id == "L44").values(p_won=0.99))
    after = _check(store)
    assert after != before
    store.erase_leads(["N2", "C1", "L7"], lead_key=lambda lead: "k" + lead, actor="admin")
    erased = _check(store)
    assert erased != after
    store.erase_leads(["H1"], lead_key=lambda lead: "k" + lead, actor="admin")
    assert _check(store) != erased  # the horizon falls back to the seeded leads' events
