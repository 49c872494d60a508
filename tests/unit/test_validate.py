"""Validation of a CRM history: one report line per bad cell, bad rows dropped, PII never shown.

A history with one planted problem of each kind is validated; the report must name each
(table, row, column, problem), exactly the reported rows must be gone from the cleaned
tables, and no personal data may appear in any text the validator produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from scoring.contract import PII_COLUMNS, SalesDecision
from tests.histories import synthetic_history
from training.history import CRMHistory
from training.validate import ORPHANED, ValidationFailed, validate_history

SECRET_EMAIL = "jane.secret@example.org"
SECRET_NAME = "Jane Secretname"
SECRET_PHONE = "+1-555-867-5309"


@pytest.fixture(scope="module")
def history() -> CRMHistory:
    return synthetic_history(3000, months=12, seed=11)


def _copy(history: CRMHistory, **tables: pd.DataFrame) -> CRMHistory:
    frames = {name: frame.reset_index(drop=True).copy() for name, frame in history.tables().items()}
    frames.update(tables)
    return CRMHistory(snapshot_at=history.snapshot_at, oracle=history.oracle, **frames)


@dataclass
class Planted:
    history: CRMHistory
    expected: list[tuple[str, int, str, str]]  # table, row, column, problem (substring)
    dropped_leads: set[str]
    secrets: list[str]


def _plant(history: CRMHistory) -> Planted:
    """One bad row of each kind, on leads that have nothing else wrong with them."""
    leads = history.leads.reset_index(drop=True).copy()
    touches = history.touches.reset_index(drop=True).copy()
    feedback = history.feedback.reset_index(drop=True).copy()
    outcomes = history.outcomes.reset_index(drop=True).copy()
    for col in ("created_at", "mql_at"):
        leads[col] = leads[col].astype(object)
    expected: list[tuple[str, int, str, str]] = []

    # leads: an unparseable date, MQL before creation, a duplicate id; PII on each
    leads.loc[3, "created_at"] = "31.02.2025 25:61"
    expected.append(("leads", 3, "created_at", "not a date/time"))
    leads.loc[10, "mql_at"] = leads.loc[10, "created_at"] - pd.Timedelta(days=3)
    expected.append(("leads", 10, "mql_at", "MQL before the lead was created"))
    duplicate = leads.iloc[[20]].copy()
    leads = pd.concat([leads, duplicate], ignore_index=True)
    expected.append(("leads", len(leads) - 1, "lead_id", "duplicate lead_id"))
    for row in (3, 10, len(leads) - 1):
        leads.loc[row, ["name", "email", "phone"]] = [SECRET_NAME, SECRET_EMAIL, SECRET_PHONE]
    dropped = {leads.loc[3, "lead_id"], leads.loc[10, "lead_id"]}
    planted_leads = dropped | {leads.loc[20, "lead_id"]}

    # touches: an email address in the type column (a shifted CSV), a touch of no lead
    clean_touch = touches.index[~touches["lead_id"].isin(planted_leads)][0]
    stray = touches.iloc[[clean_touch]].copy()
    stray["lead_id"] = "L-NOT-IN-LEADS"
    touches.loc[clean_touch, "type"] = SECRET_EMAIL
    expected.append(("touches", int(clean_touch), "type", "unknown value"))
    touches = pd.concat([touches, stray], ignore_index=True)
    expected.append(("touches", len(touches) - 1, "lead_id", "no such lead in leads"))

    # feedback: a rejection without its mandatory reason tag
    rejected = (feedback["decision"] == SalesDecision.REJECTED.value) & ~feedback["lead_id"].isin(
        planted_leads
    )
    no_reason = feedback.index[rejected][0]
    feedback.loc[no_reason, "reason"] = np.nan
    expected.append(("feedback", int(no_reason), "reason", "a rejection needs a reason tag"))

    # outcomes: a negative deal amount
    won = outcomes["amount"].notna() & ~outcomes["lead_id"].isin(planted_leads)
    negative = outcomes.index[won][0]
    outcomes.loc[negative, "amount"] = -5_000.0
    expected.append(("outcomes", int(negative), "amount", "outside [0"))

    planted = _copy(history, leads=leads, touches=touches, feedback=feedback, outcomes=outcomes)
    return Planted(planted, expected, dropped, [SECRET_EMAIL, SECRET_NAME, SECRET_PHONE])


def test_a_generated_history_is_valid(history: CRMHistory) -> None:
    result = validate_history(history)
    assert result.report.empty, result.report.head()
    assert result.summary() == "all rows valid"


def test_each_planted_problem_is_reported_with_table_row_column(history: CRMHistory) -> None:
    planted = _plant(history)
    report = validate_history(planted.history).report
    assert list(report.columns) == ["table", "row", "column", "problem"]
    for table, row, column, problem in planted.expected:
        hits = report[(report["table"] == table) & (report["row"] == row)]
        assert (hits["column"] == column).any(), (table, row, column, hits)
        assert hits["problem"].str.contains(problem, regex=False).any(), (table, row, hits)


def test_exactly_the_reported_rows_are_dropped(history: CRMHistory) -> None:
    planted = _plant(history)
    result = validate_history(planted.history)
    for name, before in planted.history.tables().items():
        reported = result.report.loc[result.report["table"] == name, "row"].nunique()
        after = result.history.tables()[name]
        assert len(before) - len(after) == reported, name
        assert set(after.index).isdisjoint(result.report.loc[result.report["table"] == name, "row"])
    clean = result.history
    assert planted.dropped_leads.isdisjoint(clean.leads["lead_id"])
    assert clean.leads["lead_id"].is_unique
    assert clean.touches["lead_id"].isin(clean.leads["lead_id"]).all()
    assert SECRET_EMAIL not in set(clean.touches["type"])
    rejected = clean.feedback["decision"] == SalesDecision.REJECTED.value
    assert clean.feedback.loc[rejected, "reason"].notna().all()
    assert (clean.outcomes["amount"].dropna() >= 0).all()
    # the rows of a dropped lead do not survive in the other tables either
    for name in ("touches", "feedback", "outcomes"):
        assert not clean.tables()[name]["lead_id"].isin(planted.dropped_leads).any(), name


def test_personal_data_never_appears_in_the_report(history: CRMHistory) -> None:
    planted = _plant(history)
    result = validate_history(planted.history)
    text = result.report.to_csv(index=False) + result.summary()
    for secret in planted.secrets:
        assert secret not in text
    assert not result.report["column"].isin(PII_COLUMNS).any()


def test_too_many_bad_rows_stop_training_and_say_why(history: CRMHistory) -> None:
    leads = history.leads.reset_index(drop=True).copy()
    leads["created_at"] = leads["created_at"].astype(object)
    broken = np.arange(0, len(leads), 10)  # 10 % of the leads
    leads.loc[broken, "created_at"] = "not a date"
    leads.loc[broken, "email"] = SECRET_EMAIL
    with pytest.raises(ValidationFailed) as caught:
        validate_history(_copy(history, leads=leads), max_bad_share=0.05)
    message = str(caught.value)
    assert "too many bad rows" in message
    assert "limit 5%" in message
    verdict, causes = message.split("Most common problems")
    assert "leads 10.0%" in verdict
    # the dropped leads' touches and decisions go too, but they are not blamed on
    # their own tables, nor do they crowd the cause out of the message
    assert "touches" not in verdict and "feedback" not in verdict
    assert "not a date/time" in causes
    assert ORPHANED not in causes
    assert (caught.value.report["problem"] == ORPHANED).any()
    assert SECRET_EMAIL not in message
    assert len(caught.value.report) >= len(broken)


def test_the_same_history_passes_with_a_higher_limit(history: CRMHistory) -> None:
    leads = history.leads.reset_index(drop=True).copy()
    leads["created_at"] = leads["created_at"].astype(object)
    leads.loc[np.arange(0, len(leads), 10), "created_at"] = "not a date"
    result = validate_history(_copy(history, leads=leads), max_bad_share=0.2)
    assert result.bad_share["leads"] == pytest.approx(0.1, abs=0.001)
    assert len(result.history.leads) == len(leads) - len(np.arange(0, len(leads), 10))


def test_a_missing_required_column_is_refused(history: CRMHistory) -> None:
    feedback = history.feedback.drop(columns=["decision"])
    with pytest.raises(ValidationFailed, match=r"feedback: missing required column.*decision"):
        validate_history(_copy(history, feedback=feedback))
