"""Multi-touch attribution (serving/reports/attribution.py): hand-computed credits and the
properties every model must keep (one unit of credit per conversion, no later touches)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.reports.attribution import (
    MODELS,
    attribution_report,
    conversion_moments,
    lead_touches,
    touch_credits,
)
from serving.reports.report_data import ReportData

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _data(
    leads: list[dict[str, Any]],
    touches: list[dict[str, Any]],
    feedback: list[dict[str, Any]] = (),  # type: ignore[assignment]
    outcomes: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> ReportData:
    lead_rows = [
        {"lead_id": lead["lead_id"], "cohort_at": lead.get("at", T0), "handoff_at": lead.get("mql"),
         "mql": lead.get("mql") is not None, "channel": lead.get("channel"),
         "campaign": lead.get("campaign")}
        for lead in leads
    ]  # fmt: skip
    return ReportData(
        leads=pd.DataFrame(lead_rows),
        feedback=pd.DataFrame(list(feedback), columns=["lead_id", "at", "decision", "reason"]),
        outcomes=pd.DataFrame(
            list(outcomes), columns=["lead_id", "outcome", "amount", "closed_at"]
        ),
        touches=pd.DataFrame(
            list(touches), columns=["lead_id", "at", "type", "channel", "campaign"]
        ),
    )


def _row(report: dict[str, Any], dimension: str, group: str, model: str) -> dict[str, Any]:
    (row,) = [
        r
        for r in report["rows"]
        if (r["dimension"], r["group"], r["model"]) == (dimension, group, model)
    ]
    return row


@pytest.fixture
def journey() -> dict[str, Any]:
    """One lead from paid search; an e-mail, a webinar, then a won deal of 10,000; a
    touch after the deal (must not count)."""
    data = _data(
        leads=[{"lead_id": "a", "at": _day(0), "mql": _day(20), "channel": "paid_search",
                "campaign": "spring"}],
        touches=[
            {"lead_id": "a", "at": _day(10), "type": "email_click", "channel": "email",
             "campaign": "nurture"},
            {"lead_id": "a", "at": _day(19), "type": "webinar_attended", "channel": "webinar",
             "campaign": None},
            {"lead_id": "a", "at": _day(40), "type": "page_view", "channel": "social",
             "campaign": "late"},
        ],
        feedback=[{"lead_id": "a", "at": _day(21), "decision": "accepted", "reason": None}],
        outcomes=[{"lead_id": "a", "outcome": "won", "amount": 10_000.0, "closed_at": _day(30)}],
    )  # fmt: skip
    return attribution_report(data, half_life_days=7.0)


def test_hand_computed_credits(journey: dict[str, Any]) -> None:
    """Touches before the win: paid_search (day 0), email (10), webinar (19); win on day 30."""
    assert journey["total"] == {"mql": 1, "sql": 1, "won": 1, "revenue": 10_000.0, "touches": 3}
    revenue = {
        (m, c): _row(journey, "channel", c, m)["revenue"]
        for m in MODELS
        for c in ("paid_search", "email", "webinar")
    }
    assert revenue["first_touch", "paid_search"] == 10_000.0
    assert revenue["last_touch", "webinar"] == 10_000.0
    assert revenue["linear", "email"] == pytest.approx(10_000 / 3, abs=1e-3)
    assert revenue["u_shaped", "paid_search"] == 4_000.0
    assert revenue["u_shaped", "email"] == 2_000.0
    assert revenue["u_shaped", "webinar"] == 4_000.0
    weights = [2 ** (-30 / 7), 2 ** (-20 / 7), 2 ** (-11 / 7)]
    expected = 10_000 * weights[2] / sum(weights)
    assert revenue["time_decay", "webinar"] == pytest.approx(expected, abs=1e-3)
    assert _row(journey, "channel", "webinar", "time_decay")["revenue_share"] == pytest.approx(
        expected / 10_000, abs=1e-4
    )
    # the touch after the deal closed claims nothing, in no model
    assert not [r for r in journey["rows"] if r["group"] in ("social", "late")]
    # the touch without a campaign is credited to (unknown)
    assert _row(journey, "campaign", "(unknown)", "last_touch")["won"] == 1.0


def test_each_conversion_uses_only_the_touches_before_it(journey: dict[str, Any]) -> None:
    """The MQL (day 20) and SQL (day 21) see the same three touches; the last touch is the
    webinar for all three conversions."""
    webinar = _row(journey, "channel", "webinar", "last_touch")
    assert (webinar["mql"], webinar["sql"], webinar["won"]) == (1.0, 1.0, 1.0)
    paid = _row(journey, "channel", "paid_search", "first_touch")
    assert (paid["mql"], paid["sql"], paid["won"]) == (1.0, 1.0, 1.0)


def test_a_lead_without_touches_is_credited_to_its_own_channel() -> None:
    data = _data(
        leads=[{"lead_id": "b", "mql": _day(1), "channel": "events", "campaign": "expo"}],
        touches=[],
        outcomes=[{"lead_id": "b", "outcome": "won", "amount": 500.0, "closed_at": _day(9)}],
    )
    report = attribution_report(data)
    for model in MODELS:
        row = _row(report, "channel", "events", model)
        assert (row["mql"], row["won"], row["revenue"], row["revenue_share"]) == (
            1.0,
            1.0,
            500.0,
            1.0,
        )


def test_touches_without_a_channel_are_counted_in_a_note() -> None:
    data = _data(
        leads=[{"lead_id": "c", "mql": _day(2), "channel": "direct"}],
        touches=[{"lead_id": "c", "at": _day(1), "type": "chat", "channel": None}],
    )
    report = attribution_report(data)
    assert [n.code for n in report["notes"]][-1] == "attribution.no_channel"
    assert _row(report, "channel", "direct", "linear")["mql"] == 1.0


def test_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        attribution_report(_data([], []), half_life_days=0)


def test_nothing_converted_gives_empty_rows() -> None:
    report = attribution_report(_data([{"lead_id": "d", "channel": "seo"}], []))
    assert report["rows"] == []
    assert report["total"]["revenue"] == 0.0


CHANNELS = ("seo", "email", "events", "paid_search")
_touch = st.tuples(st.floats(-5, 60), st.sampled_from(CHANNELS))
_lead = st.fixed_dictionaries(
    {
        "channel": st.sampled_from(CHANNELS),
        "mql": st.none() | st.floats(0, 60),
        "accepted": st.none() | st.floats(0, 60),
        "won": st.none() | st.tuples(st.floats(0, 90), st.floats(1, 1e5)),
        "touches": st.lists(_touch, max_size=6),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(leads=st.lists(_lead, min_size=1, max_size=6), half_life=st.floats(0.5, 60))
def test_every_conversion_hands_out_exactly_one_credit(
    leads: list[dict[str, Any]], half_life: float
) -> None:
    """Per conversion, each model's credits sum to 1, no credited touch is later than the
    conversion, and every model's totals equal the counted conversions and revenue."""
    lead_rows, touches, feedback, outcomes = [], [], [], []
    for i, lead in enumerate(leads):
        lid = f"l{i}"
        lead_rows.append(
            {"lead_id": lid, "at": T0, "channel": lead["channel"],
             "mql": None if lead["mql"] is None else _day(lead["mql"])}
        )  # fmt: skip
        touches += [{"lead_id": lid, "at": _day(d), "type": "page_view", "channel": c}
                    for d, c in lead["touches"]]  # fmt: skip
        if lead["accepted"] is not None:
            feedback.append(
                {"lead_id": lid, "at": _day(lead["accepted"]), "decision": "accepted",
                 "reason": None}
            )  # fmt: skip
        if lead["won"] is not None:
            outcomes.append(
                {"lead_id": lid, "outcome": "won", "amount": lead["won"][1],
                 "closed_at": _day(lead["won"][0])}
            )  # fmt: skip
    data = _data(lead_rows, touches, feedback, outcomes)
    conversions = conversion_moments(data)
    touch_frame, _ = lead_touches(data, set(conversions["lead_id"]))
    credits = touch_credits(conversions, touch_frame, half_life)
    assert set(credits["conversion"]) == set(conversions["conversion"])
    sums = credits.groupby("conversion")[list(MODELS)].sum()
    assert (sums - 1.0).abs().to_numpy().max(initial=0.0) < 1e-9
    touched_before = credits[credits["at_touch"] <= credits["at"]]
    # only a conversion whose every touch came later (its moment before the lead's
    # creation) falls back to the lead's first touch
    assert len(touched_before) == len(credits) or (credits["at"] < T0).any()

    report = attribution_report(data, half_life_days=half_life)
    for model in MODELS:
        rows = [r for r in report["rows"] if r["model"] == model and r["dimension"] == "channel"]
        for stage in ("mql", "sql", "won", "revenue"):
            got = sum(r[stage] for r in rows)
            assert math.isclose(got, report["total"][stage], rel_tol=1e-6, abs_tol=1e-2), stage
        if report["total"]["revenue"]:
            assert math.isclose(sum(r["revenue_share"] for r in rows), 1.0, abs_tol=1e-3)
