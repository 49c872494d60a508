"""Validation of a CRM history against the data contract, with a report per bad cell.

CRM exports are messy: a wrong date format, a rejection without its mandatory tag, a
touch for a lead that is not in the export. A sales decision's own values are judged by
the feedback contract the API and the store use (:func:`scoring.feedback.feedback_violation`:
a rejection needs its tag, contact attempts are a whole number up to
:data:`~scoring.feedback.MAX_CONTACT_ATTEMPTS`). Each problem becomes one report line
(table, row, column, problem); bad rows are dropped; and if more than
``max_bad_share`` of a table's rows are bad, training stops and says why — a model
trained on a half-broken export is worse than no model. Values of personal-data
columns are never quoted in a problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.arrow_lookup import within
from scoring.contract import (
    LEAD_ORDINAL_FEATURES,
    PII_COLUMNS,
    TABLES,
    Outcome,
    RejectionReason,
    SalesDecision,
    TouchType,
)
from scoring.feedback import (
    MAX_AMOUNT,
    MAX_FIRST_RESPONSE_HOURS,
    feedback_violation,
)
from training.history import CRMHistory

REQUIRED: dict[str, tuple[str, ...]] = {
    "leads": ("lead_id", "created_at", "mql_at"),
    "touches": ("lead_id", "at", "type"),
    "feedback": ("lead_id", "at", "decision"),
    "outcomes": ("lead_id", "outcome", "closed_at"),
}
DATETIME_COLUMNS = ("created_at", "mql_at", "at", "closed_at")
NUMERIC_COLUMNS: dict[str, str] = {
    "contact_attempts": "feedback",
    "first_response_hours": "feedback",
    "amount": "outcomes",
}
"""Numeric columns and their tables: a value that is not a number is a problem."""
NUMERIC_BOUNDS: dict[str, tuple[float, float]] = {
    "first_response_hours": (0, MAX_FIRST_RESPONSE_HOURS),
    "amount": (0, MAX_AMOUNT),
}
"""The feedback contract's bounds (:mod:`scoring.feedback`); contact attempts are judged
by the contract itself (:func:`_contract_problems`)."""
SALES_DECISIONS = frozenset(d.value for d in SalesDecision)
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


Flag = Callable[[pd.Series | np.ndarray, str, str], None]
"""Report rows of a mask with a column and a problem, and mark them bad."""


@dataclass
class _TableCheck:
    """One table's bad rows as its checks flag them; the report lines go to ``problems``."""

    table: str
    size: int
    problems: list[dict[str, object]]
    bad: np.ndarray = field(init=False)
    own: np.ndarray = field(init=False)  # bad for a reason of this table's own

    def __post_init__(self) -> None:
        self.bad = np.zeros(self.size, dtype=bool)
        self.own = np.zeros(self.size, dtype=bool)

    def flag(self, mask: pd.Series | np.ndarray, column: str, problem: str) -> None:
        # a missing comparison result flags nothing: nullable columns (the serving
        # store's optional counts are Int64) give <NA> where a value is absent, and
        # missing values have their own rule (required columns)
        rows = np.flatnonzero(pd.array(mask, dtype="boolean").fillna(False))
        self.bad[rows] = True
        if problem != ORPHANED:
            self.own[rows] = True
        self.problems.extend(
            {"table": self.table, "row": int(r), "column": column, "problem": problem} for r in rows
        )


def validate_history(history: CRMHistory, max_bad_share: float = 0.05) -> ValidationResult:
    """Check every table, drop bad rows, and stop if a table is too broken to use."""
    problems: list[dict[str, object]] = []
    clean: dict[str, pd.DataFrame] = {}
    shares: dict[str, float] = {}
    lead_ids = pd.Series([], dtype=str)
    exported_ids = history.leads["lead_id"].astype(str)
    for table in ("leads", "touches", "feedback", "outcomes"):
        frame = history.tables()[table].reset_index(drop=True)
        _require_columns(table, frame)
        check = _TableCheck(table, len(frame), problems)
        # pandas copies on write: the parsed columns replace the frame's own, and the
        # caller's table is untouched without copying every column first
        frame = _check_values(table, frame.copy(deep=False), check.flag)
        if table == "leads":
            check.flag(frame["lead_id"].duplicated(keep="first"), "lead_id", "duplicate lead_id")
            before = frame["mql_at"] < frame["created_at"]
            check.flag(before, "mql_at", "MQL before the lead was created")
        else:
            ids = frame["lead_id"].astype(str)
            exported = within(ids, exported_ids)
            check.flag(~exported, "lead_id", "no such lead in leads")
            check.flag(exported & ~within(ids, lead_ids), "lead_id", ORPHANED)
        _check_rules(table, frame, check.flag)
        shares[table] = float(check.own.mean()) if len(frame) else 0.0
        # leads keep extra columns: a flat export's own features (see training.importing)
        keep = list(frame.columns) if table == "leads" else [c for c in TABLES[table] if c in frame]
        # no bad row (the usual case): the columns as they are, not a boolean-mask copy
        clean[table] = frame.loc[~check.bad, keep] if check.bad.any() else frame[keep]
        if table == "leads":
            clean[table]["lead_id"] = clean[table]["lead_id"].astype(str)
            lead_ids = clean[table]["lead_id"]
    report = pd.DataFrame(problems, columns=["table", "row", "column", "problem"])
    _stop_if_too_broken(report, shares, max_bad_share)
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


def _require_columns(table: str, frame: pd.DataFrame) -> None:
    """A table without a required column cannot be checked row by row: stop at once."""
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


def _check_values(table: str, frame: pd.DataFrame, flag: Flag) -> pd.DataFrame:
    """Cell by cell: required values, dates, numbers and their bounds, vocabularies.

    Returns the frame with its dates and numbers parsed (unparseable cells missing).
    """
    for col in REQUIRED[table]:
        flag(frame[col].isna(), col, "required value missing")
    for col in DATETIME_COLUMNS:
        if col in frame.columns:
            dtype = frame[col].dtype
            if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC":
                # parsed already (CRMHistory.load): to_datetime would only copy it, the
                # copy living beside the caller's column (ten million touches: 80 MB)
                continue
            parsed = pd.to_datetime(frame[col], utc=True, errors="coerce", format="mixed")
            flag(parsed.isna() & frame[col].notna(), col, "not a date/time")
            frame[col] = parsed
    for col, t in NUMERIC_COLUMNS.items():
        if t == table and col in frame.columns:
            numbers = pd.to_numeric(frame[col], errors="coerce").astype("float64")
            flag(numbers.isna() & frame[col].notna(), col, "not a number")
            if col in NUMERIC_BOUNDS:
                low, high = NUMERIC_BOUNDS[col]
                flag((numbers < low) | (numbers > high), col, f"outside [{low:g}, {high:g}]")
            frame[col] = numbers
    for (t, col), allowed in VOCABULARIES.items():
        if t == table and col in frame.columns:
            values = frame[col]
            unknown = values.notna() & ~values.astype(str).isin(allowed)
            shown = "" if col in PII_COLUMNS else f" (allowed: {', '.join(sorted(allowed))})"
            flag(unknown, col, f"unknown value{shown}")
    return frame


def _check_rules(table: str, frame: pd.DataFrame, flag: Flag) -> None:
    """The business rules on a row: the feedback contract, a won deal's amount."""
    if table == "feedback":
        _contract_problems(frame, flag)
    if table == "outcomes" and "amount" in frame.columns:
        flag(
            (frame["outcome"] == Outcome.WON.value) & frame["amount"].isna(),
            "amount",
            "a won deal needs an amount",
        )


def _contract_problems(frame: pd.DataFrame, flag: Flag) -> None:
    """Each sales decision's own values against the feedback contract (the API's and the
    store's: :func:`scoring.feedback.feedback_violation`), reported in the field it names.

    The contract is asked once per distinct (decision, reason, attempts): an export holds a
    handful of those, however many rows. Rows whose decision is missing or unknown were
    reported above. A tag on a decision other than a rejection is not judged here: stored
    feedback from before the contract may carry one, and retraining validates it too.
    """
    kinds = frame["decision"].where(frame["decision"].isin(SALES_DECISIONS))
    rejected = kinds == SalesDecision.REJECTED.value
    nothing = pd.Series(np.nan, index=frame.index, dtype=object)
    keys = pd.DataFrame(
        {
            "kind": kinds,
            "reason": frame["reason"].where(rejected) if "reason" in frame else nothing,
            "attempts": frame.get("contact_attempts", nothing).astype("float64"),
        }
    )[kinds.notna()]
    found: dict[tuple[str, str], np.ndarray] = {}
    groups = keys.groupby(["kind", "reason", "attempts"], dropna=False).groups
    for (kind, reason, attempts), rows in groups.items():
        violation = feedback_violation(
            str(kind),
            reason=None if pd.isna(reason) else str(reason),
            contact_attempts=_whole(attempts),
        )
        if violation is not None:
            where = (violation.field, violation.message)
            seen = found.get(where, np.zeros(len(frame), dtype=bool))
            found[where] = seen | frame.index.isin(rows)
    for (column, message), mask in found.items():
        flag(mask, column, message)


def _whole(value: float) -> int | float | None:
    """A parsed count as the contract reads it: missing is None, 3.0 is 3, 2.5 stays 2.5."""
    if pd.isna(value):
        return None
    return int(value) if float(value).is_integer() else float(value)


def _stop_if_too_broken(
    report: pd.DataFrame, shares: dict[str, float], max_bad_share: float
) -> None:
    """Refuse to train when a table's own bad share is over ``max_bad_share``."""
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
