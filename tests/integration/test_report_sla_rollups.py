"""The SLA section from its roll-ups equals the pandas section, as the log changes.

``serving.store.rollup_sla`` replays each changed lead's lifecycle into per-lead SLA
counts, times and open clocks; ``serving.store.report_sla`` reads the day sums, takes
back the clocks not yet due at the report's moment and computes the medians and p90s.
The pandas path (``from_store`` with the same clocks and moment, then ``build_report``)
is the reference, on SQLite and PostgreSQL: for whole-day and mid-day periods, every
group field, moments before, inside and after the clocks' deadlines, after later
decisions, feedback, updates in place and erasures, and after the clocks change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from scoring.lifecycle import SlaClocks
from serving.report_sql import store_report
from serving.reports import GROUPABLE, build_report, from_store
from serving.rollup_tables import LeadSla, LeadSlaDue
from serving.storage import Store
from serving.tables import Decision, Feedback
from tests.integration.test_report_rollups import PERIODS, _decision
from tests.integration.test_report_sql_parity import START, _same, _seed

GROUPINGS = [list(GROUPABLE), []]
LAST = START + timedelta(hours=7 * 120)
"""About the last handoff of the seeded log (120 leads, one every 7 hours)."""
AROUND_A_MONTH = {
    "start": START - timedelta(days=19, hours=3),
    "end": START + timedelta(days=33, hours=3),
}
"""A whole month (read from its month sums) with days and part-days on either side."""
MOMENTS = [
    LAST + timedelta(hours=3),  # the last handoffs' clocks still running
    LAST + timedelta(hours=20),  # some decision clocks out, first-contact ones not
    START + timedelta(days=15, hours=6),  # in the middle of the log
    datetime(2026, 6, 1, tzinfo=UTC),  # every clock long run out
]


def _check(
    store: Store,
    *,
    moments: list[datetime] = MOMENTS,
    periods: list[dict[str, Any]] = PERIODS,
    groupings: list[list[str]] = GROUPINGS,
    clocks: SlaClocks | None = None,
) -> dict[str, Any]:
    """The SLA section both ways for every moment, period and grouping; returns the
    last served section (for the tests' own checks)."""
    served: dict[str, Any] = {}
    log, feedback = store.decisions_for_training(), store.feedback_frame()
    for as_of in moments:
        data = from_store(log, feedback, clocks=clocks, as_of=as_of)
        for options in periods:
            for group_by in groupings:
                reference = build_report(data, group_by=group_by, sections=["sla"], **options)
                report = store_report(
                    store,
                    _never,
                    group_by=group_by,
                    sections=["sla"],
                    reference_given=False,
                    clocks=clocks,
                    as_of=as_of,
                    **options,
                )
                where = f"{as_of} {options} {group_by}"
                _same(report["sla"], reference["sla"], where=where)
                served = report["sla"]
    return served


def _never() -> Any:
    raise AssertionError("the SLA section read the whole log")


def test_sla_rollups_equal_the_pandas_section(store: Store) -> None:
    _seed(store, leads=120)
    served = _check(store, periods=[*PERIODS, AROUND_A_MONTH])
    # the seeded log shows what the section is about, so equality means something
    total = served["total"]
    assert total["handed_over"] > 20 and total["decided"] > 10 and total["rejections"] > 3
    assert total["response_hours_median"] is not None
    assert sum(served["response_hours_histogram"]["counts"]) > 10
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LeadSla)).scalar_one() > 10
        assert conn.execute(select(func.count()).select_from(LeadSlaDue)).scalar_one() > 0


def test_open_clocks_are_judged_at_the_reports_moment(store: Store) -> None:
    """A handoff nobody answers: not breached before its deadline, breached after."""
    store.record_decisions([_decision("W1", START, "hand_to_sales", {"channel": "seo"})])
    kwargs: dict[str, Any] = {"group_by": ["channel"], "sections": ["sla"]}

    def breaches(as_of: datetime) -> dict[str, Any]:
        report = store_report(store, _never, reference_given=False, as_of=as_of, **kwargs)
        row = report["sla"]["rows"][0]
        assert row["group"] == "seo"
        return {k: v for k, v in row.items() if k.startswith("breaches_")}

    assert breaches(START + timedelta(hours=7))["breaches_decision_late"] == 0
    late = breaches(START + timedelta(hours=9))
    assert late["breaches_decision_late"] == 1 and late["breaches_first_contact_late"] == 0
    assert breaches(START + timedelta(hours=25))["breaches_first_contact_late"] == 1
    _check(store, moments=[START + timedelta(hours=h) for h in (1, 8, 9, 30)], periods=[{}])


def test_sla_rollups_follow_writes_updates_and_erasures(store: Store) -> None:
    _seed(store, leads=90)
    _check(store, groupings=[["channel"]])
    store.record_decisions(
        [
            _decision("N1", START + timedelta(days=2, hours=3), "hand_to_sales", {"channel": "x"}),
            _decision("L5", START - timedelta(days=1), "hand_to_sales", {"channel": "moved"}),
            _decision("L7", START + timedelta(days=40), "hand_to_sales", {"channel": "seo"}),
        ]
    )
    store.add_feedback(
        {
            "lead_id": "N1",
            "kind": "rejected",
            "reason": "no_response",
            "contact_attempts": 1,
            "at": START + timedelta(days=3),
        },
        idempotency_key="N1-0",
        actor="crm",
    )
    store.record_decisions(
        [_decision("N2", START + timedelta(days=20), "hand_to_sales", {"channel": "seo"})]
    )
    store.add_feedback(
        {"lead_id": "N2", "kind": "contacted", "at": START + timedelta(days=21, hours=6)},
        idempotency_key="N2-late",
        actor="crm",
    )
    with store.engine.begin() as conn:  # an update in place, outside the writers
        conn.execute(
            update(Decision)
            .where(Decision.lead_id == "L9")
            .values(channel="email", features={"channel": "email"})
        )
    store.erase_leads(["L3", "L11"], lead_key=lambda lead: "k" + lead, actor="admin")
    _check(store, groupings=[["channel", "company_size"]])


def test_other_clocks_rebuild_the_rollups(store: Store) -> None:
    _seed(store, leads=60)
    _check(store, periods=[{}], groupings=[["channel"]])
    tight = SlaClocks(
        decision_hours=2, sql_confirm_hours=5, first_contact_hours=3, min_contact_attempts=2
    )
    served = _check(store, periods=PERIODS[:3], groupings=[["channel"]], clocks=tight)
    assert served["targets"]["decision_hours"] == 2
    _check(store, periods=[{}], groupings=[["industry"]])  # and back


@pytest.mark.parametrize("as_of", [None, MOMENTS[0]])
def test_the_api_shape_is_unchanged_without_a_moment(store: Store, as_of: Any) -> None:
    """Without ``as_of`` the SLA is the pandas path's (it judges at the data's last moment)."""
    _seed(store, leads=30)

    def inputs() -> Any:
        log, feedback = store.decisions_for_training(), store.feedback_frame()
        return from_store(log, feedback, as_of=as_of)

    reference = build_report(inputs(), group_by=["channel"], sections=["sla"])
    report = store_report(
        store, inputs, group_by=["channel"], sections=["sla"], reference_given=False, as_of=as_of
    )
    for found in (reference, report):
        found.pop("generated_at")
    _same(report, reference)


def test_rows_written_around_the_lifecycle_count_as_in_the_pandas_path(store: Store) -> None:
    """Feedback stored before the rules (a win after a loss, a deal never accepted, a
    no-response rejection with one attempt, a qualification on the acceptance): each lead
    is replayed as the pandas path replays it, refusals and implied steps included."""
    hour = timedelta(hours=1)
    store.record_decisions(
        [_decision(lead, START, "hand_to_sales", {"channel": "seo"}) for lead in "abcd"]
    )
    rows = [
        ("a", "accepted", 10 * hour, {"qualification": {"framework": "bant", "need": True}}),
        ("a", "won", 30 * 24 * hour, {"amount": 9_000.0}),
        ("b", "won", 30 * 24 * hour, {"amount": 0.0}),
        ("c", "lost", 9 * 24 * hour, {}),
        ("c", "won", 20 * 24 * hour, {"amount": 7.0}),
        ("d", "rejected", 2 * hour, {"reason": "no_response", "contact_attempts": 1}),
    ]
    with store.engine.begin() as conn:
        for n, (lead, kind, after, extra) in enumerate(rows):
            at = START + after
            conn.execute(
                insert(Feedback),
                {
                    "id": f"{n:032d}",
                    "lead_id": lead,
                    "kind": kind,
                    "at": at,
                    "received_at": at,
                    "actor": "crm",
                    "idempotency_key": f"around-{n}",
                    "body_hash": "0" * 64,
                    **extra,
                },
            )
    served = _check(store, moments=[START + 60 * 24 * hour], periods=[{}], groupings=[[]])
    total = served["total"]
    assert (total["breaches_decision_late"], total["breaches_first_contact_late"]) == (3, 3)
    assert total["breaches_no_response_few_attempts"] == 1 and total["sql_qualified_share"] == 0.5
