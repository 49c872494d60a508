"""Stored feedback rows → the data contract's *feedback* and *outcomes* tables.

The API and the pages store sales feedback as one row per event with a ``kind``
(``accepted``, ``rejected``, ``returned_to_nurture``, ``won``, ``lost``, ``contacted``,
...). Retraining (``training.retrain``) and the reports (``serving.reports``) both need
those events as a CRM export would carry them: sales decisions in the *feedback* table,
closed deals in the *outcomes* table (``scoring.contract``). This module is that one
mapping, so a lead reads the same in a retrained model and in a report.

Give it rows the lead lifecycle already read (``scoring.lifecycle.consistent_feedback``):
refused events left out, implied acceptances made explicit. Kinds that are neither a sales
decision nor a deal's close (``contacted``, ``disagree``) belong to neither table.
"""

from __future__ import annotations

import pandas as pd

from scoring.contract import FEEDBACK_COLUMNS, OUTCOME_COLUMNS, Outcome, SalesDecision

SALES_DECISION_KINDS: frozenset[str] = frozenset(d.value for d in SalesDecision)
"""Feedback kinds that are sales decisions: rows of the *feedback* table."""

CLOSING_KINDS: frozenset[str] = frozenset(o.value for o in Outcome)
"""Feedback kinds that close a deal: rows of the *outcomes* table (``at`` = close date)."""


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    """``rows[name]``, or all-missing where the stored frame lacks the column."""
    if name in rows.columns:
        return rows[name]
    return pd.Series(None, index=rows.index, dtype=object)


def sales_feedback_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The sales decisions among ``rows``, in the contract's *feedback* columns.

    ``kind`` becomes ``decision``; times are UTC, counts and hours numbers (a value that
    is not one is missing). ``comment`` is carried only if ``rows`` has it (the store
    leaves it out unless asked: free text is never a feature).
    """
    sales = rows[rows["kind"].isin(SALES_DECISION_KINDS)]
    return pd.DataFrame(
        {
            "lead_id": sales["lead_id"].astype(str),
            "at": _utc(sales["at"]),
            "decision": sales["kind"],
            "reason": _column(sales, "reason"),
            "contact_attempts": pd.to_numeric(_column(sales, "contact_attempts"), errors="coerce"),
            "first_response_hours": pd.to_numeric(
                _column(sales, "first_response_hours"), errors="coerce"
            ),
            "comment": _column(sales, "comment"),
        },
        columns=list(FEEDBACK_COLUMNS),
    )


def outcomes_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The closed deals among ``rows``, in the contract's *outcomes* columns.

    The API records no loss reason (a lost deal's reason lives in the CRM), so
    ``loss_reason`` is missing.
    """
    closed = rows[rows["kind"].isin(CLOSING_KINDS)]
    return pd.DataFrame(
        {
            "lead_id": closed["lead_id"].astype(str),
            "outcome": closed["kind"],
            "amount": pd.to_numeric(_column(closed, "amount"), errors="coerce"),
            "closed_at": _utc(closed["at"]),
            "loss_reason": None,
        },
        columns=list(OUTCOME_COLUMNS),
    )


def crm_tables(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(feedback, outcomes)``: the contract's two tables made of stored feedback rows."""
    return sales_feedback_table(rows), outcomes_table(rows)
