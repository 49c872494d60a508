"""Report inputs from a CRM history (the data contract's four tables).

A *lead* is a row of the leads table: its cohort time is ``created_at`` (else
``mql_at``), and the SLA clock starts at ``mql_at``, the handoff moment of the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from scoring.lifecycle import SlaClocks
from serving.reports.notes import Note
from serving.reports.report_data import (
    ReportData,
    as_timestamp,
    group_columns,
    utc_column,
    without_pii,
)


def from_history(
    history: Any,
    *,
    predictions: pd.DataFrame | None = None,
    current: pd.DataFrame | None = None,
    reference: pd.DataFrame | Mapping[str, Any] | None = None,
    reference_end: Any = None,
    reference_name: str | None = None,
    clocks: SlaClocks | None = None,
) -> ReportData:
    """Report inputs from a :class:`~training.history.CRMHistory` (the four tables).

    The SLA clock starts at ``mql_at`` (the handoff moment of the contract); its windows
    are ``clocks`` (``SlaClocks.from_settings``; default: the settings' defaults). Drift
    needs feature rows: give ``current`` and ``reference`` (e.g. a model's scoring period
    and its training rows, each optionally with a ``p_won`` column), or let them be
    computed here as point-in-time features at ``mql_at``, split at ``reference_end``
    (default: the middle of the MQL window): earlier MQLs are the reference, later ones
    the current.
    """
    leads = without_pii(history.leads)
    norm = _lead_rows(leads)
    feedback = without_pii(history.feedback).copy()
    feedback["lead_id"] = feedback["lead_id"].astype(str)
    outcomes = history.outcomes.copy()
    outcomes["lead_id"] = outcomes["lead_id"].astype(str)
    touches = history.touches.copy() if history.touches is not None else None
    if touches is not None:
        touches["lead_id"] = touches["lead_id"].astype(str)

    name = reference_name
    if current is None or reference is None:
        early, late, split_at = _split_by_mql(leads, history.touches, norm, reference_end)
        if reference is None:
            reference = early
            if name is None and split_at is not None:
                name = Note("reference.before", f"MQLs before {split_at:%Y-%m-%d}", day=split_at)
        if current is None:
            current = late
    if current is not None and "cohort_at" not in current.columns and "lead_id" in current:
        current = current.merge(norm[["lead_id", "cohort_at"]], on="lead_id", how="left")
    return ReportData(
        leads=norm,
        feedback=feedback,
        outcomes=outcomes,
        touches=touches,
        predictions=predictions,
        current=current,
        reference=reference,
        source="history",
        reference_name=name or "training data",
        clocks=clocks or SlaClocks(),
    )


def _lead_rows(leads: pd.DataFrame) -> pd.DataFrame:
    """``ReportData.leads`` of a history: cohort and handoff times, MQL flag, group fields."""
    created = utc_column(leads, "created_at")
    mql_at = utc_column(leads, "mql_at")
    norm = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].astype(str),
            "cohort_at": created.fillna(mql_at),
            "handoff_at": mql_at,
            "mql": mql_at.notna(),
        }
    )
    for name, values in group_columns(leads).items():
        norm[name] = values
    return norm


def _split_by_mql(
    leads: pd.DataFrame, touches: pd.DataFrame | None, norm: pd.DataFrame, reference_end: Any
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp | None]:
    """Point-in-time features at ``mql_at``: ``(earlier MQLs, later MQLs, split moment)``.

    Split at ``reference_end``, default the middle of the MQL window.
    """
    from scoring.features import frame_features

    mql_at = norm["handoff_at"]
    features = frame_features(leads, touches, leads["mql_at"])
    features["cohort_at"] = norm["cohort_at"].to_numpy()
    if reference_end is None:
        lo, hi = mql_at.min(), mql_at.max()
        split_at = lo + (hi - lo) / 2 if pd.notna(lo) else None
    else:
        split_at = as_timestamp(reference_end)
    early = (mql_at < split_at).to_numpy() if split_at is not None else np.zeros(len(norm), bool)
    return features[early], features[~early], split_at
