"""Validation of a CRM history against the data contract, with a report per bad cell.

CRM exports are messy: a wrong date format, a rejection without its mandatory tag, a
touch for a lead that is not in the export. Each problem becomes one report line
(table, row, column, problem); bad rows are dropped; and if more than
``max_bad_share`` of a table's rows are bad, training stops and says why — a model
trained on a half-broken export is worse than no model. Values of personal-data
columns are never quoted in a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.contract import (
    LEAD_ORDINAL_FEATURES,
    PII_COLUMNS,
    TABLES,
    Outcome,
    RejectionReason,
    SalesDecision,
    TouchType,
)
from training.history import CRMHistory

REQUIRED: dict[str, tuple[str, ...]] = {
    "leads": ("lead_id", "created_at", "mql_at"),
    "touches": ("lead_id", "at", "type"),
    "feedback": ("lead_id", "at", "decision"),
    "outcomes": ("lead_id", "outcome", "closed_at"),
}
DATETIME_COLUMNS = ("created_at", "mql_at", "at", "closed_at")
NUMERIC_MIN: dict[str, tuple[str, float, float]] = {
    "contact_attempts": ("feedback", 0, 1_000),
    "first_response_hours": ("feedback", 0, 24 * 365),
    "amount": ("outcomes", 0, 1e10),
}
VOCABULARIES: dict[tuple[str, str], frozenset[str]] = {
    ("touches", "type"): frozenset(t.value for t in TouchType),
    ("feedback", "decision"): frozenset(d.value for d in SalesDecision),
    ("feedback", "reason"): frozenset(r.value for r in RejectionReason),
    ("outcomes", "outcome"): frozenset(o.value for o in Outcome),
    **{("leads", col): frozenset(values) for col, values in LEAD_ORDINAL_FEATURES.items()},
}
ORPHANED = "its lead was dropped (see the leads problems)"
"""A touch, decision or outcome of a lead dropped as invalid: reported and dropped too,
but it is the lead's problem, so it neither counts towards its own table's bad share
nor crowds the real causes out of the error message."""


class ValidationFailed(ValueError):
    """Too many bad rows to train on; ``report`` lists them."""

    def __init__(self, message: str, report: pd.DataFrame) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ValidationResult:
    history: CRMHistory
    report: pd.DataFrame
    bad_share: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        if self.report.empty:
            return "all rows valid"
        parts = [f"{t}: {share:.1%} bad" for t, share in self.bad_share.items() if share > 0]
        return f"{len(self.report)} problems ({', '.join(parts)})"


def validate_history(history: CRMHistory, max_bad_share: float = 0.05) -> ValidationResult:
    """Check every table, drop bad rows, and stop if a table is too broken to use."""
    problems: list[dict[str, object]] = []
    clean: dict[str, pd.DataFrame] = {}
    shares: dict[str, float] = {}
    lead_ids: set[str] | None = None
    for table in ("leads", "touches", "feedback", "outcomes"):
        frame = history.tables()[table].reset_index(drop=True)
        bad = np.zeros(len(frame), dtype=bool)
        own = np.zeros(len(frame), dtype=bool)  # bad for a reason of this table's own

        def flag(
            mask: pd.Series | np.ndarray,
            column: str,
            problem: str,
            t: str = table,
            bad: np.ndarray = bad,
            own: np.ndarray = own,
        ) -> None:
            # a missing comparison result flags nothing: nullable columns (the serving
            # store's optional counts are Int64) give <NA> where a value is absent, and
            # missing values have their own rule (required columns)
            rows = np.flatnonzero(pd.array(mask, dtype="boolean").fillna(False))
            bad[rows] = True
            if problem != ORPHANED:
                own[rows] = True
            problems.extend(
                {"table": t, "row": int(r), "column": column, "problem": problem} for r in rows
            )

        missing_cols = [c for c in REQUIRED[table] if c not in frame.columns]
        if missing_cols:
            raise ValidationFailed(
                f"{table}: missing required column(s) {missing_cols}",
                pd.DataFrame(
                    [
                        {"table": table, "row": -1, "column": c, "problem": "column missing"}
                        for c in missing_cols
                    ]
                ),
            )
        frame = frame.copy()
        for col in REQUIRED[table]:
            flag(frame[col].isna(), col, "required value missing")
        for col in DATETIME_COLUMNS:
            if col in frame.columns:
                parsed = pd.to_datetime(frame[col], utc=True, errors="coerce", format="mixed")
                flag(parsed.isna() & frame[col].notna(), col, "not a date/time")
                frame[col] = parsed
        for col, (t, low, high) in NUMERIC_MIN.items():
            if t == table and col in frame.columns:
                numbers = pd.to_numeric(frame[col], errors="coerce").astype("float64")
                flag(numbers.isna() & frame[col].notna(), col, "not a number")
                flag((numbers < low) | (numbers > high), col, f"outside [{low:g}, {high:g}]")
                frame[col] = numbers
        for (t, col), allowed in VOCABULARIES.items():
            if t == table and col in frame.columns:
                values = frame[col]
                unknown = values.notna() & ~values.astype(str).isin(allowed)
                shown = "" if col in PII_COLUMNS else f" (allowed: {', '.join(sorted(allowed))})"
                flag(unknown, col, f"unknown value{shown}")
        if table == "leads":
            flag(frame["lead_id"].duplicated(keep="first"), "lead_id", "duplicate lead_id")
            flag(frame["mql_at"] < frame["created_at"], "mql_at", "MQL before the lead was created")
        else:
            assert lead_ids is not None
            ids = frame["lead_id"].astype(str)
            exported = ids.isin(history.leads["lead_id"].astype(str))
            flag(~exported, "lead_id", "no such lead in leads")
            flag(exported & ~ids.isin(lead_ids), "lead_id", ORPHANED)
        if table == "feedback" and "reason" in frame.columns:
            no_reason = (frame["decision"] == SalesDecision.REJECTED.value) & frame["reason"].isna()
            flag(no_reason, "reason", "a rejection needs a reason tag")
        if table == "outcomes" and "amount" in frame.columns:
            flag(
                (frame["outcome"] == Outcome.WON.value) & frame["amount"].isna(),
                "amount",
                "a won deal needs an amount",
            )
        shares[table] = float(own.mean()) if len(frame) else 0.0
        # leads keep extra columns: a flat export's own features (see training.importing)
        keep = list(frame.columns) if table == "leads" else [c for c in TABLES[table] if c in frame]
        clean[table] = frame.loc[~bad, keep]
        if table == "leads":
            clean[table]["lead_id"] = clean[table]["lead_id"].astype(str)
            lead_ids = set(clean[table]["lead_id"])

    report = pd.DataFrame(problems, columns=["table", "row", "column", "problem"])
    too_bad = {t: s for t, s in shares.items() if s > max_bad_share}
    if too_bad:
        worst = ", ".join(f"{t} {s:.1%}" for t, s in too_bad.items())
        causes = report[report["problem"] != ORPHANED]
        top = causes.groupby(["table", "column", "problem"]).size().sort_values(ascending=False)
        raise ValidationFailed(
            f"too many bad rows to train (limit {max_bad_share:.0%} per table): {worst}. "
            f"Most common problems:\n{top.head(5).to_string()}",
            report,
        )
    cleaned = CRMHistory(
        leads=clean["leads"],
        touches=clean["touches"],
        feedback=clean["feedback"],
        outcomes=clean["outcomes"],
        snapshot_at=history.snapshot_at,
        oracle=history.oracle,
        extra=history.extra,
    )
    return ValidationResult(cleaned, report, shares)
