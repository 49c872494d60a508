"""What every report section reads: :class:`ReportData`, and the helpers that build it.

The two sources (``history_inputs.from_history``, ``store_inputs.from_store``) normalise
their data into a :class:`ReportData`; personal data (``name``, ``email``, ``phone``) and
free-text comments are dropped on the way in (:func:`without_pii`), so no report can
contain them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from scoring.contract import PII_COLUMNS
from scoring.lifecycle import SlaClocks

HALF_LIFE_DAYS = 7.0
"""Default half-life of the attribution's time-decay model (``attribution_half_life_days``)."""

DIMENSIONS: tuple[str, ...] = ("channel", "campaign", "industry", "company_size")
"""Default groupings: marketing's levers (channel, campaign) and the ICP segments."""
GROUPABLE: tuple[str, ...] = (
    *DIMENSIONS,
    "country",
    "region",
    "revenue_band",
    "seniority",
    "department",
)
"""Lead fields a report may be grouped by (never personal data)."""


@dataclass
class ReportData:
    """Normalised report inputs, in the data contract's shape, without personal data.

    ``leads``: ``lead_id``, ``cohort_at`` (what a date range selects on), ``handoff_at``
    (when the lead reached sales: the SLA clock starts), ``mql`` (bool) and the
    groupable fields. ``feedback`` / ``outcomes`` / ``touches``: the contract's tables
    (no comments). ``predictions``: one row per lead, ``lead_id, p_sql, p_won`` and
    optionally the service ``decision``. ``current`` / ``reference``: feature rows for
    drift (``reference`` may be a stored :func:`reference_profile` instead of a frame).
    """

    leads: pd.DataFrame
    feedback: pd.DataFrame
    outcomes: pd.DataFrame
    touches: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    current: pd.DataFrame | None = None
    reference: pd.DataFrame | Mapping[str, Any] | None = None
    source: str = "history"
    reference_name: str = "training data"
    notes: list[str] = field(default_factory=list)
    reference_is_first_half: bool = False
    """No reference given: after the date filter, the first half of ``current`` (in its
    order) is the reference for the second half."""
    breaches: pd.DataFrame | None = None
    """SLA breaches from the lead lifecycle (``lead_id, rule, open, due_at``): store data
    only, where each clock has its own event (``scoring.lifecycle.sla_breaches``)."""
    clocks: SlaClocks = field(default_factory=SlaClocks)
    qualifications: pd.DataFrame | None = None
    """The qualifications sales confirmed (``lead_id, framework``): store data only."""
    half_life_days: float = HALF_LIFE_DAYS
    """The time-decay attribution's half-life (setting ``attribution_half_life_days``)."""
    attribution_touches: pd.DataFrame | None = None
    """Touches for attribution only (``lead_id, at, type, channel, campaign``): the store's,
    from the decision log's timelines. Kept apart from ``touches``, which the SLA
    section's nurture figures read and the store has never given them."""

    def drift_inputs(self) -> tuple[pd.DataFrame | None, pd.DataFrame | Mapping[str, Any] | None]:
        """``(current, reference)`` for :func:`drift_report`."""
        if self.reference_is_first_half and self.current is not None:
            half = len(self.current) // 2
            return self.current.iloc[half:], self.current.iloc[:half]
        return self.current, self.reference

    def restrict(self, start: Any = None, end: Any = None) -> ReportData:
        """Only the leads whose ``cohort_at`` is in ``[start, end)``, and their events."""
        lo, hi = as_timestamp(start), as_timestamp(end)
        if lo is None and hi is None:
            return self
        leads = self.leads[_in_range(self.leads["cohort_at"], lo, hi)]
        ids = set(leads["lead_id"])

        def keep(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if frame is None else frame[frame["lead_id"].isin(ids)]

        current = self.current
        if current is not None and "cohort_at" in current.columns:
            current = current[_in_range(current["cohort_at"], lo, hi)]
        return replace(
            self,
            leads=leads,
            feedback=keep(self.feedback),  # type: ignore[arg-type]
            outcomes=keep(self.outcomes),  # type: ignore[arg-type]
            touches=keep(self.touches),
            predictions=keep(self.predictions),
            current=current,
            breaches=keep(self.breaches),
            qualifications=keep(self.qualifications),
            attribution_touches=keep(self.attribution_touches),
        )


def as_timestamp(value: Any) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _in_range(values: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.Series:
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    mask = pd.Series(True, index=values.index)
    if lo is not None:
        mask &= stamps >= lo
    if hi is not None:
        mask &= stamps < hi
    return mask


def utc_column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")


def group_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        d: frame[d].astype(object).where(frame[d].notna(), None) if d in frame.columns else None
        for d in GROUPABLE
    }


def without_pii(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c in PII_COLUMNS or c == "comment"])
