"""Report inputs from the serving store: the decision log and the API's sales feedback.

A *lead* is a scored lead; feedback is read through the lead lifecycle
(``scoring.lifecycle``) and turned into the contract's tables by
``scoring.feedback_tables``, the same mapping retraining uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import PII_COLUMNS, HandoffDecision
from scoring.feedback_tables import crm_tables
from scoring.lifecycle import SlaClocks, consistent_feedback, replay_tables, sla_breaches
from serving.reports.notes import Note
from serving.reports.report_data import GROUPABLE, ReportData, utc_column, without_pii


def from_store(
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    reference: pd.DataFrame | Mapping[str, Any] | None = None,
    reference_name: str | None = None,
    clocks: SlaClocks | None = None,
    as_of: datetime | None = None,
    half_life_days: float | None = None,
) -> ReportData:
    """Report inputs from the serving store (``decisions_for_training``, ``feedback_frame``).

    Feedback is read through the lead lifecycle (``scoring.lifecycle``): events it
    refuses (stored before its rules, or for leads never scored) are not counted, and a
    deal without a recorded acceptance counts its implied acceptance, so SQL→won cannot
    pass 100 %. SLA breaches are evaluated per lead with ``clocks`` as of ``as_of``
    (default: the latest time in the data).

    Mapping onto the contract: a *lead* is a scored lead (its fields from its first
    decision's feature snapshot, its cohort time that decision's ``as_of``); it is an
    *MQL* once the service handed it to sales or sales decided on it; the SLA clock
    starts at the ``as_of`` of its first ``hand_to_sales`` decision (else its first
    decision). Feedback kinds ``accepted`` / ``rejected`` / ``returned_to_nurture`` are
    sales decisions, ``won`` / ``lost`` deal outcomes (``at`` = close date), and
    ``disagree`` is not used. The prediction compared with what happened is the last one
    made at or before the lead's first sales decision (else its first one).

    Drift: ``reference`` (e.g. the model's stored :func:`reference_profile`) against all
    served decisions; without it, the first half of the served decisions (by ``as_of``)
    is the reference for the second half.

    Attribution reads the touches the decision log kept with each score (its timeline,
    ``features["touches"]``), each lead's touches once; ``half_life_days`` is the
    time-decay model's (setting ``attribution_half_life_days``).
    """
    dec, snapshot = _served_rows(decisions)
    clocks = clocks or SlaClocks()
    fb, breaches, refused = _through_lifecycle(decisions, feedback, clocks, as_of)
    fb["lead_id"] = fb["lead_id"].astype(str)
    fb["at"] = utc_column(fb, "at")
    fb_table, outcomes = crm_tables(fb)
    fb_table = without_pii(fb_table)
    if reference is None:
        reference_name = Note("reference.first_half", "first half of the served decisions")
    return ReportData(
        leads=_store_leads(snapshot, fb_table),
        feedback=fb_table,
        outcomes=outcomes,
        touches=None,
        predictions=_compared_predictions(snapshot, dec, fb_table),
        current=snapshot,
        reference=reference,
        source="store",
        reference_name=reference_name or "training data",
        notes=store_notes(reference is None, refused),
        reference_is_first_half=reference is None,
        breaches=breaches,
        clocks=clocks,
        qualifications=_qualifications(fb),
        attribution_touches=timeline_touches(dec),
        **({} if half_life_days is None else {"half_life_days": half_life_days}),
    )


def behind_note(pending: int) -> Note:
    """The roll-ups did not catch up within ``rollup_wait_seconds``: the report is read
    from them as they stand, and says so rather than look complete."""
    return Note(
        "store.behind",
        f"{pending} lead(s) changed in the last moments are not in this report yet: the "
        "roll-ups are catching up with a burst of scoring; ask again in a minute",
        n=pending,
    )


def store_notes(no_reference: bool, refused: int) -> list[str]:
    """What a reader of a store report must know: the drift reference, refused events."""
    notes: list[str] = []
    if no_reference:
        notes.append(
            Note(
                "store.no_reference",
                "drift: the model carries no training reference profile, so the first half "
                "of the served decisions is compared with the second half",
            )
        )
    if refused:
        notes.append(
            Note(
                "store.refused",
                f"{refused} feedback event(s) the lead lifecycle refuses (for leads never "
                "scored, impossible or out of order) are not counted",
                n=refused,
            )
        )
    return notes


def _served_rows(decisions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The decisions in scoring order, and their feature snapshots without personal data.

    The snapshot rows are the drift's current rows: the served fit and engagement scores
    (``-1`` = not available), ``p_won``, the lead, its cohort time and the decision.
    """
    dec = decisions.copy()
    dec["lead_id"] = dec["lead_id"].astype(str)
    dec["as_of"] = utc_column(dec, "as_of")
    dec = dec.sort_values(["as_of", "scored_at", "id"], kind="stable").reset_index(drop=True)
    snapshot = pd.DataFrame.from_records(
        [_no_pii_dict(f) for f in dec["features"]] if len(dec) else [], index=dec.index
    )
    for column in ("fit_score", "engagement_score"):  # -1 means "not available"
        snapshot[column] = dec[column].where(dec[column] >= 0)
    snapshot["p_won"] = dec["p_won"]
    snapshot["lead_id"] = dec["lead_id"]
    snapshot["cohort_at"] = dec["as_of"]
    snapshot["decision"] = dec["decision"]
    for column in ("channel", "industry", "company_size", "country"):
        if column not in snapshot.columns or snapshot[column].isna().all():
            snapshot[column] = dec[column]
    return dec, snapshot


def timeline_touches(decisions: pd.DataFrame) -> pd.DataFrame:
    """The touches of the decision log's timelines: ``lead_id, at, type, channel,
    campaign``, each once per lead (a lead scored ten times carries them ten times)."""
    columns = ["lead_id", "at", "type", "channel", "campaign"]
    rows = [
        (str(lead_id), t.get("at"), t.get("type"), t.get("channel"), t.get("campaign"))
        for lead_id, features in zip(decisions["lead_id"], decisions["features"], strict=True)
        if isinstance(features, Mapping)
        for t in features.get("touches") or ()
        if isinstance(t, Mapping)
    ]
    touches = pd.DataFrame(rows, columns=columns)
    touches["at"] = utc_column(touches, "at")
    return touches.drop_duplicates(columns).reset_index(drop=True)


def _qualifications(fb: pd.DataFrame) -> pd.DataFrame:
    """The qualifications sales confirmed: ``lead_id, framework``."""
    confirmed = fb[fb["qualification"].notna()] if "qualification" in fb.columns else fb.iloc[0:0]
    return pd.DataFrame(
        {
            "lead_id": confirmed["lead_id"],
            "framework": [str(q.get("framework", "")) for q in confirmed.get("qualification", [])],
        }
    )


def _store_leads(snapshot: pd.DataFrame, fb_table: pd.DataFrame) -> pd.DataFrame:
    """One row per scored lead: cohort time, handoff time (MQLs only), group fields."""
    first = snapshot.drop_duplicates("lead_id", keep="first").set_index("lead_id")
    handed = snapshot[snapshot["decision"] == HandoffDecision.HAND_TO_SALES.value]
    handoff = handed.groupby("lead_id")["cohort_at"].min()
    decided = set(fb_table["lead_id"])
    cohort = pd.to_datetime(first["cohort_at"], utc=True)
    handoff_at = pd.to_datetime(handoff.reindex(first.index), utc=True)
    is_mql = first.index.isin(handoff.index) | first.index.isin(decided)
    handoff_at = handoff_at.where(handoff_at.notna(), cohort).where(is_mql)
    leads = pd.DataFrame(
        {
            "lead_id": first.index.astype(str),
            "cohort_at": cohort.to_numpy(),
            "handoff_at": handoff_at.to_numpy(),
            "mql": is_mql,
        }
    )
    for name in GROUPABLE:
        leads[name] = first[name].to_numpy() if name in first.columns else None
    if "created_at" in first.columns:  # the lead's own source touch (attribution)
        leads["created_at"] = utc_column(first, "created_at").to_numpy()
    return leads


def _compared_predictions(
    snapshot: pd.DataFrame, dec: pd.DataFrame, fb_table: pd.DataFrame
) -> pd.DataFrame:
    """Per lead the prediction made last at or before its first sales decision (else its
    first one): what calibration compares with what happened."""
    first_decision_at = fb_table.groupby("lead_id")["at"].min()
    chosen = snapshot.assign(
        _cut=pd.to_datetime(first_decision_at.reindex(snapshot["lead_id"]).to_numpy(), utc=True),
        p_sql=dec["p_sql"],
    )
    before = chosen[chosen["_cut"].isna() | (chosen["cohort_at"] <= chosen["_cut"])]
    pred = before.drop_duplicates("lead_id", keep="last")
    missing = chosen[~chosen["lead_id"].isin(pred["lead_id"])].drop_duplicates("lead_id")
    pred = pd.concat([pred, missing])[["lead_id", "p_sql", "p_won", "decision"]]
    return pred.reset_index(drop=True)


def _through_lifecycle(
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    clocks: SlaClocks,
    as_of: datetime | None,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The feedback the lifecycle holds (implied steps included), the SLA breaches per
    lead, and how many stored events it refuses."""
    columns = ["lead_id", "rule", "open", "due_at"]
    if decisions.empty:
        return feedback.iloc[0:0].copy(), pd.DataFrame(columns=columns), len(feedback)
    replays = replay_tables(decisions, feedback)
    if len(feedback):
        kept = consistent_feedback(decisions, feedback, replays).copy()
    else:
        kept = feedback.copy()
    scored = feedback["lead_id"].isin(replays.keys()) if len(feedback) else []
    refused = int(len(feedback) - np.sum(scored)) + sum(len(d.refused) for d in replays.values())
    if as_of is None:
        moments = [e.at for done in replays.values() for e in done.events]
        as_of = max(moments) if moments else None
    rows = [
        (lead_id, breach.rule, breach.open, breach.due_at)
        for lead_id, done in replays.items()
        if as_of is not None
        for breach in sla_breaches(done.events, as_of, clocks)
    ]
    return kept, pd.DataFrame(rows, columns=columns), refused


def _no_pii_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if k not in PII_COLUMNS and not isinstance(v, dict)}
