"""Stored feedback rows → the contract's feedback and outcomes tables (one mapping)."""

from __future__ import annotations

import pandas as pd

from scoring.contract import FEEDBACK_COLUMNS, OUTCOME_COLUMNS
from scoring.feedback_tables import crm_tables


def test_each_kind_lands_in_its_table_in_the_contracts_columns() -> None:
    rows = pd.DataFrame(
        [
            {"lead_id": 7, "kind": "contacted", "at": "2026-03-01T09:00:00Z"},
            {
                "lead_id": 7,
                "kind": "rejected",
                "at": "2026-03-01T10:00:00",
                "reason": "no_response",
                "contact_attempts": "2",
            },
            {"lead_id": "b", "kind": "accepted", "at": "2026-03-02T10:00:00+02:00"},
            {"lead_id": "b", "kind": "won", "at": "2026-05-02T10:00:00Z", "amount": "9000"},
            {"lead_id": "c", "kind": "disagree", "at": "2026-03-03T10:00:00Z"},
        ]
    )
    feedback, outcomes = crm_tables(rows)

    assert list(feedback.columns) == list(FEEDBACK_COLUMNS)
    assert list(outcomes.columns) == list(OUTCOME_COLUMNS)
    assert list(zip(feedback["lead_id"], feedback["decision"], strict=True)) == [
        ("7", "rejected"),
        ("b", "accepted"),
    ]
    assert feedback["contact_attempts"].tolist()[0] == 2
    # a time without a zone is UTC; one with a zone is converted
    assert feedback["at"].tolist() == [
        pd.Timestamp("2026-03-01T10:00:00Z"),
        pd.Timestamp("2026-03-02T08:00:00Z"),
    ]
    assert outcomes[["lead_id", "outcome", "amount"]].to_dict("records") == [
        {"lead_id": "b", "outcome": "won", "amount": 9000.0}
    ]
    assert outcomes["closed_at"].tolist() == [pd.Timestamp("2026-05-02T10:00:00Z")]
    assert outcomes["loss_reason"].isna().all()
