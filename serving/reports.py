"""Reports that close the loop between marketing and sales: pure computation, no I/O.

Five sections, each a plain JSON-able dict (numbers, strings, lists; ``None`` for "not
computable"), so the same result feeds the HTML report (``serving.report_html``), the
JSON endpoints for Power BI / Tableau (``serving.report_api``) and tests:

``funnel``
    Lead → MQL → SQL → won by channel, campaign and segment, with revenue, LTV and —
    when cost inputs are given — CAC, LTV:CAC and ROMI (DOMAIN.md's definitions).
``rejections``
    Counts and shares of the mandatory rejection tags per group: what marketing must fix.
``sla``
    The handoff SLA in data: accept/reject within 8 h, first contact within 24 h,
    ≥ 3 contact attempts before ``no_response``, rejected leads returned to nurturing.
``calibration``
    Predicted vs observed conversion by score band (P(SQL) vs accepted, P(won) vs won).
``drift``
    Population stability index (PSI) per feature and for the score, against a training
    reference (a frame, or a stored :func:`reference_profile`).

Inputs are normalised into a :class:`ReportData` by :func:`from_history` (a CRM history
in the data contract's four tables) or :func:`from_store` (the serving decision log plus
API feedback). Personal data (``name``, ``email``, ``phone``) is dropped on the way in
and free-text comments are never read, so no report can contain them.

Cohorts: a date range selects *leads* by when they entered (``created_at`` of a CRM
lead; the first scoring moment, ``as_of``, of a served lead); everything that happened
to those leads later — decisions, deals — counts, whenever it happened.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import (
    DATA_QUALITY_REASONS,
    PII_COLUMNS,
    HandoffDecision,
    Outcome,
    RejectionReason,
    SalesDecision,
    TouchType,
)
from scoring.drift import (
    DRIFT_EXCLUDED,
    OTHER,
    PSI_BINS,
    _num,
    drift_columns,
    population_stability,
    psi,
    reference_profile,
)
from scoring.feedback_tables import SALES_DECISION_KINDS, crm_tables
from scoring.lifecycle import (
    SLA_RULES,
    SlaClocks,
    consistent_feedback,
    replay_tables,
    sla_breaches,
)

__all__ = [
    "DIMENSIONS",
    "GROUPABLE",
    "PSI_ALERT",
    "PSI_WARN",
    "SECTIONS",
    "CostInputs",
    "ReportData",
    "build_report",
    "calibration_report",
    "drift_report",
    "from_history",
    "from_store",
    "funnel_report",
    "load_costs",
    "population_stability",
    "psi",
    "reference_profile",
    "rejection_report",
    "section_json",
    "sla_report",
]

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

SECTIONS: tuple[str, ...] = ("funnel", "rejections", "sla", "calibration", "drift")
UNKNOWN = "(unknown)"

LTV_CAC_TARGET = 3.0
ROMI_TARGET_PCT = 200.0

PSI_WARN = 0.1
PSI_ALERT = 0.25
MIN_DRIFT_ROWS = 100
"""Below this many rows on either side PSI is mostly sampling noise: no warn/alert."""
MAX_NOISE_SHARE = 0.5
"""A PSI is judged only where the PSI expected from sampling alone (``noise``) is at most
this share of the warn threshold; otherwise its status is ``insufficient_data``."""

NURTURE_TOUCHES: frozenset[str] = frozenset(
    {
        TouchType.EMAIL_OPEN,
        TouchType.EMAIL_CLICK,
        TouchType.CONTENT_DOWNLOAD,
        TouchType.WEBINAR_REGISTERED,
        TouchType.WEBINAR_ATTENDED,
    }
)
"""Touch types that show marketing is nurturing a lead (used after a rejection)."""

WON_MATURITY_DAYS = 180
"""P(won) is checked on leads at least this old: most of their deals have closed."""
MIN_CALIBRATION_ROWS = 50
P_SQL_EDGES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
P_WON_EDGES: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.0)
RESPONSE_HOUR_EDGES: tuple[float, ...] = (0, 1, 2, 4, 8, 12, 24, 48, 72, math.inf)


# --- inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostInputs:
    """Spend per channel (and optionally per campaign) plus the LTV and profit assumptions.

    ``channels`` / ``campaigns`` map a name to ``{"marketing": ..., "sales": ...}`` for the
    reported period. LTV = average won amount × ``retention_multiple`` (how many first-deal
    values a customer is worth over its lifetime: an *assumption*, stated in the report).
    ROMI = (won revenue × ``gross_margin`` − marketing spend) / marketing spend × 100 %.
    """

    channels: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    campaigns: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    retention_multiple: float = 3.0
    gross_margin: float = 1.0

    def __post_init__(self) -> None:
        if not (self.retention_multiple > 0 and math.isfinite(self.retention_multiple)):
            raise ValueError("retention_multiple must be a positive number")
        if not (0 < self.gross_margin <= 1):
            raise ValueError("gross_margin must be within (0, 1]")
        for table in (self.channels, self.campaigns):
            for name, row in table.items():
                for key, value in row.items():
                    if key not in {"marketing", "sales"}:
                        raise ValueError(f"costs for {name!r}: unknown field {key!r}")
                    if not isinstance(value, int | float) or not value >= 0:
                        raise ValueError(f"costs for {name!r}: {key} must be a number >= 0")

    @property
    def has_spend(self) -> bool:
        return bool(self.channels or self.campaigns)

    def spend(self, dimension: str, group: str | None) -> tuple[float, float] | None:
        """``(marketing, sales)`` for one group, the sum over channels for the total."""
        if group is None:
            if not self.channels:
                return None
            rows = list(self.channels.values())
        else:
            table = {"channel": self.channels, "campaign": self.campaigns}.get(dimension, {})
            if group not in table:
                return None
            rows = [table[group]]
        return (
            float(sum(r.get("marketing", 0.0) for r in rows)),
            float(sum(r.get("sales", 0.0) for r in rows)),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostInputs:
        known = {"channels", "campaigns", "retention_multiple", "gross_margin"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown cost field(s): {', '.join(unknown)}")

        def table(value: Any, what: str) -> dict[str, dict[str, float]]:
            if value is None:
                return {}
            if not isinstance(value, Mapping):
                raise ValueError(f"{what} must map a name to {{marketing, sales}}")
            out: dict[str, dict[str, float]] = {}
            for name, row in value.items():
                if not isinstance(row, Mapping):
                    raise ValueError(f"{what}.{name} must be {{marketing, sales}}")
                out[str(name)] = {
                    str(k): _as_float(v, f"{what}.{name}.{k}") for k, v in row.items()
                }
            return out

        return cls(
            channels=table(data.get("channels"), "channels"),
            campaigns=table(data.get("campaigns"), "campaigns"),
            retention_multiple=_as_float(data.get("retention_multiple", 3.0), "retention_multiple"),
            gross_margin=_as_float(data.get("gross_margin", 1.0), "gross_margin"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": {k: dict(v) for k, v in self.channels.items()},
            "campaigns": {k: dict(v) for k, v in self.campaigns.items()},
            "retention_multiple": self.retention_multiple,
            "gross_margin": self.gross_margin,
        }


def _as_float(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite")
    return number


def load_costs(path: Path) -> CostInputs:
    """Read cost inputs from JSON, YAML or CSV.

    JSON / YAML: ``{"channels": {"paid_search": {"marketing": 120000, "sales": 40000}},
    "campaigns": {...}, "retention_multiple": 3, "gross_margin": 0.8}``.
    CSV: one row per channel (``channel,marketing,sales``) or per campaign
    (``campaign,marketing,sales``); the assumptions keep their defaults.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path)
        key = "channel" if "channel" in frame.columns else "campaign"
        if key not in frame.columns:
            raise ValueError("a costs CSV needs a 'channel' or 'campaign' column")
        rows = {
            str(r[key]): {
                c: _as_float(r[c], f"{r[key]}.{c}")
                for c in ("marketing", "sales")
                if c in frame.columns and pd.notna(r[c])
            }
            for r in frame.to_dict("records")
        }
        return CostInputs.from_dict({"channels" if key == "channel" else "campaigns": rows})
    text = path.read_text()
    if suffix in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ValueError("the costs file must hold a mapping")
    return CostInputs.from_dict(data)


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
    """SLA breaches from the lead lifecycle (``lead_id, rule, open``): store data only,
    where each clock has its own event (``scoring.lifecycle.sla_breaches``)."""
    clocks: SlaClocks = field(default_factory=SlaClocks)
    qualifications: pd.DataFrame | None = None
    """The qualifications sales confirmed (``lead_id, framework``): store data only."""

    def drift_inputs(self) -> tuple[pd.DataFrame | None, pd.DataFrame | Mapping[str, Any] | None]:
        """``(current, reference)`` for :func:`drift_report`."""
        if self.reference_is_first_half and self.current is not None:
            half = len(self.current) // 2
            return self.current.iloc[half:], self.current.iloc[:half]
        return self.current, self.reference

    def restrict(self, start: Any = None, end: Any = None) -> ReportData:
        """Only the leads whose ``cohort_at`` is in ``[start, end)``, and their events."""
        lo, hi = _ts(start), _ts(end)
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
        )


def _ts(value: Any) -> pd.Timestamp | None:
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


def _utc_column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")


def _group_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        d: frame[d].astype(object).where(frame[d].notna(), None) if d in frame.columns else None
        for d in GROUPABLE
    }


def _no_pii(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c in PII_COLUMNS or c == "comment"])


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
    are ``clocks`` (``SlaClocks.from_settings``; default: the settings' defaults). Drift needs
    feature rows: give ``current`` and ``reference`` (e.g. a model's scoring period and
    its training rows, each optionally with a ``p_won`` column), or let them be computed
    here as point-in-time features at ``mql_at``, split at ``reference_end`` (default: the
    middle of the MQL window): earlier MQLs are the reference, later ones the current.
    """
    from scoring.features import frame_features

    leads = _no_pii(history.leads)
    created = _utc_column(leads, "created_at")
    mql_at = _utc_column(leads, "mql_at")
    norm = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].astype(str),
            "cohort_at": created.fillna(mql_at),
            "handoff_at": mql_at,
            "mql": mql_at.notna(),
        }
    )
    for name, values in _group_columns(leads).items():
        norm[name] = values
    feedback = _no_pii(history.feedback).copy()
    feedback["lead_id"] = feedback["lead_id"].astype(str)
    outcomes = history.outcomes.copy()
    outcomes["lead_id"] = outcomes["lead_id"].astype(str)
    touches = history.touches.copy() if history.touches is not None else None
    if touches is not None:
        touches["lead_id"] = touches["lead_id"].astype(str)

    name = reference_name
    if current is None or reference is None:
        features = frame_features(leads, history.touches, leads["mql_at"])
        features["cohort_at"] = norm["cohort_at"].to_numpy()
        if reference_end is None:
            lo, hi = mql_at.min(), mql_at.max()
            split_at = lo + (hi - lo) / 2 if pd.notna(lo) else None
        else:
            split_at = _ts(reference_end)
        early = (
            (mql_at < split_at).to_numpy() if split_at is not None else np.zeros(len(norm), bool)
        )
        if reference is None:
            reference = features[early]
            if name is None and split_at is not None:
                name = f"MQLs before {split_at:%Y-%m-%d}"
        if current is None:
            current = features[~early]
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


def from_store(
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    reference: pd.DataFrame | Mapping[str, Any] | None = None,
    reference_name: str | None = None,
    clocks: SlaClocks | None = None,
    as_of: datetime | None = None,
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
    """
    dec = decisions.copy()
    dec["lead_id"] = dec["lead_id"].astype(str)
    dec["as_of"] = _utc_column(dec, "as_of")
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

    clocks = clocks or SlaClocks()
    fb, breaches, refused = _through_lifecycle(decisions, feedback, clocks, as_of)
    fb["lead_id"] = fb["lead_id"].astype(str)
    fb["at"] = _utc_column(fb, "at")
    fb_table, outcomes = crm_tables(fb)
    fb_table = _no_pii(fb_table)
    confirmed = fb[fb["qualification"].notna()] if "qualification" in fb.columns else fb.iloc[0:0]
    qualifications = pd.DataFrame(
        {
            "lead_id": confirmed["lead_id"],
            "framework": [str(q.get("framework", "")) for q in confirmed.get("qualification", [])],
        }
    )

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

    first_decision_at = fb_table.groupby("lead_id")["at"].min()
    chosen = snapshot.assign(
        _cut=pd.to_datetime(first_decision_at.reindex(snapshot["lead_id"]).to_numpy(), utc=True),
        p_sql=dec["p_sql"],
    )
    before = chosen[chosen["_cut"].isna() | (chosen["cohort_at"] <= chosen["_cut"])]
    pred = before.drop_duplicates("lead_id", keep="last")
    missing = chosen[~chosen["lead_id"].isin(pred["lead_id"])].drop_duplicates("lead_id")
    pred = pd.concat([pred, missing])[["lead_id", "p_sql", "p_won", "decision"]]

    name = reference_name
    notes: list[str] = []
    if reference is None:
        name = "first half of the served decisions"
        notes.append(
            "drift: the model carries no training reference profile, so the first half of "
            "the served decisions is compared with the second half"
        )
    if refused:
        notes.append(
            f"{refused} feedback event(s) the lead lifecycle refuses (for leads never scored, "
            "impossible or out of order) are not counted"
        )
    return ReportData(
        leads=leads,
        feedback=fb_table,
        outcomes=outcomes,
        touches=None,
        predictions=pred.reset_index(drop=True),
        current=snapshot,
        reference=reference,
        source="store",
        reference_name=name or "training data",
        notes=notes,
        reference_is_first_half=reference is None,
        breaches=breaches,
        clocks=clocks,
        qualifications=qualifications,
    )


def _through_lifecycle(
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    clocks: SlaClocks,
    as_of: datetime | None,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The feedback the lifecycle holds (implied steps included), the SLA breaches per
    lead, and how many stored events it refuses."""
    columns = ["lead_id", "rule", "open"]
    if decisions.empty:
        return feedback.iloc[0:0].copy(), pd.DataFrame(columns=columns), len(feedback)
    kept = consistent_feedback(decisions, feedback).copy() if len(feedback) else feedback.copy()
    replays = replay_tables(decisions, feedback)
    scored = feedback["lead_id"].isin(replays.keys()) if len(feedback) else []
    refused = int(len(feedback) - np.sum(scored)) + sum(len(d.refused) for d in replays.values())
    if as_of is None:
        moments = [e.at for done in replays.values() for e in done.events]
        as_of = max(moments) if moments else None
    rows = [
        (lead_id, breach.rule, breach.open)
        for lead_id, done in replays.items()
        if as_of is not None
        for breach in sla_breaches(done.events, as_of, clocks)
    ]
    return kept, pd.DataFrame(rows, columns=columns), refused


def _no_pii_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if k not in PII_COLUMNS and not isinstance(v, dict)}


# --- per-lead facts -----------------------------------------------------------------------


def _lead_facts(data: ReportData) -> pd.DataFrame:
    """One row per lead: stage flags, first sales decision, SLA times, deal result.

    Also per-lead counts of the lead's rejections (with and without known contact
    attempts), so every per-group figure is a plain sum or quantile over these rows.
    """
    leads = data.leads.reset_index(drop=True).copy()
    leads["lead_id"] = leads["lead_id"].astype(str)
    fb = data.feedback
    fb = fb[fb["decision"].isin(SALES_DECISION_KINDS)].copy()
    fb["at"] = pd.to_datetime(fb["at"], utc=True, errors="coerce")
    fb = fb.sort_values(["lead_id", "at"], kind="stable")
    first = fb.drop_duplicates("lead_id", keep="first").set_index("lead_id")
    accepted = set(fb.loc[fb["decision"] == SalesDecision.ACCEPTED.value, "lead_id"])
    out = leads.set_index("lead_id")
    out["first_decision"] = first["decision"]
    out["first_reason"] = first["reason"]
    out["first_at"] = first["at"]
    out["first_response_hours"] = pd.to_numeric(first["first_response_hours"], errors="coerce")
    out["decided"] = out["first_decision"].notna()
    out["sql"] = out.index.isin(accepted)
    out["mql"] = out["mql"].astype(bool) | out["decided"]

    handoff = pd.to_datetime(out["handoff_at"], utc=True, errors="coerce")
    decision_hours = (out["first_at"] - handoff).dt.total_seconds() / 3600.0
    out["decision_hours"] = decision_hours.where(decision_hours >= 0)
    out["response_hours"] = out["first_response_hours"].fillna(out["decision_hours"])
    response = out["response_hours"]
    out["response_known"] = response.notna()
    # the JSON keys name DOMAIN.md's windows; the windows are the data's clocks (settings)
    out["within_8h"] = response <= data.clocks.decision_hours
    out["within_24h"] = response <= data.clocks.first_contact_hours
    out["undecided"] = out["mql"] & ~out["decided"]

    rejected = fb[fb["decision"] == SalesDecision.REJECTED.value]
    attempts = pd.to_numeric(rejected["contact_attempts"], errors="coerce")
    no_response = (rejected["reason"] == RejectionReason.NO_RESPONSE.value).to_numpy()
    known = attempts.notna().to_numpy()
    enough = (attempts >= data.clocks.min_contact_attempts).to_numpy()
    per_lead = (
        pd.DataFrame(
            {
                "rej_n": 1,
                "rej_known": known,
                "rej_3plus": known & enough,
                "nr_n": no_response,
                "nr_known": no_response & known,
                "nr_3plus": no_response & known & enough,
            },
            index=rejected["lead_id"].to_numpy(),
        )
        .groupby(level=0)
        .sum()
    )
    for column in per_lead.columns:
        out[column] = per_lead[column].reindex(out.index).fillna(0).astype(np.int64)

    if data.qualifications is not None:
        out["sql_qualified"] = out["sql"] & out.index.isin(set(data.qualifications["lead_id"]))
    if data.breaches is not None:
        counts = data.breaches.groupby(["lead_id", "rule"]).size().unstack(fill_value=0)
        for rule in SLA_RULES:
            per = counts[rule] if rule in counts.columns else pd.Series(dtype=float)
            out[f"breach_{rule}"] = per.reindex(out.index).fillna(0).astype(np.int64)

    deals = data.outcomes.copy()
    deals["closed_at"] = pd.to_datetime(deals["closed_at"], utc=True, errors="coerce")
    last = deals.sort_values(["lead_id", "closed_at"], kind="stable").drop_duplicates(
        "lead_id", keep="last"
    )
    last = last.set_index("lead_id")
    out["outcome"] = last["outcome"]
    out["won"] = out["outcome"] == Outcome.WON.value
    out["lost"] = out["outcome"] == Outcome.LOST.value
    out["revenue"] = pd.to_numeric(last["amount"], errors="coerce").where(out["won"]).fillna(0.0)

    not_accepted = out["first_decision"].isin(
        [SalesDecision.REJECTED.value, SalesDecision.RETURNED_TO_NURTURE.value]
    )
    out["not_accepted"] = not_accepted
    out["returned"] = out["first_decision"] == SalesDecision.RETURNED_TO_NURTURE.value
    out["nurture_known"] = False
    out["nurtured"] = False
    if data.touches is not None and len(data.touches):
        touches = data.touches[data.touches["type"].isin(NURTURE_TOUCHES)]
        at = pd.to_datetime(touches["at"], utc=True, errors="coerce")
        cut = pd.to_datetime(out["first_at"].reindex(touches["lead_id"]).to_numpy(), utc=True)
        later = set(touches.loc[(at > cut).to_numpy(), "lead_id"])
        out["nurture_known"] = not_accepted
        out["nurtured"] = not_accepted & out.index.isin(later)
    for name in GROUPABLE:
        values = out[name] if name in out.columns else pd.Series(None, index=out.index)
        out[name] = np.where(values.notna(), values.astype(object).astype(str), UNKNOWN).astype(
            object
        )
    return out.reset_index()


_TOTAL = "__total__"


def _aggregate(
    frame: pd.DataFrame, dims: Sequence[str], **aggs: tuple[str, Any]
) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    """Named aggregations overall (first, dimension ``None``) and per group of each dim."""
    out: list[tuple[str | None, str | None, dict[str, Any]]] = []
    keyed = frame.assign(**{_TOTAL: "all"})
    for dim in (_TOTAL, *dims):
        if keyed.empty:
            table = pd.DataFrame(columns=list(aggs))
        else:
            table = keyed.groupby(dim, sort=True).agg(**aggs)
        for group, row in zip(table.index, table.to_dict("records"), strict=True):
            out.append((None, None, row) if dim == _TOTAL else (dim, str(group), row))
    if not out or out[0][0] is not None:
        out.insert(0, (None, None, {k: 0 for k in aggs}))
    return out


def _rate(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _check_dims(group_by: Sequence[str]) -> list[str]:
    bad = [d for d in group_by if d not in GROUPABLE]
    if bad:
        raise ValueError(f"cannot group by {', '.join(bad)}: use {', '.join(GROUPABLE)}")
    return list(dict.fromkeys(group_by))


def _p90(values: pd.Series) -> float:
    return float(values.quantile(0.9)) if values.notna().any() else math.nan


# --- funnel -------------------------------------------------------------------------------


def funnel_report(
    data: ReportData,
    costs: CostInputs | None = None,
    group_by: Sequence[str] = DIMENSIONS,
    *,
    facts: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Lead → MQL → SQL → won per group, with revenue, LTV, CAC, LTV:CAC and ROMI."""
    dims = _check_dims(group_by)
    facts = _lead_facts(data) if facts is None else facts
    costs = costs or CostInputs()
    rows: list[dict[str, Any]] = []
    total: dict[str, Any] = {}
    sums = _aggregate(
        facts,
        dims,
        leads=("lead_id", "size"),
        mql=("mql", "sum"),
        decided=("decided", "sum"),
        sql=("sql", "sum"),
        won=("won", "sum"),
        lost=("lost", "sum"),
        revenue=("revenue", "sum"),
    )
    for dimension, group, agg in sums:
        row = _funnel_row(agg, costs, dimension or "", group)
        if dimension is None:
            total = row
        else:
            rows.append({"dimension": dimension, "group": group, **row})
    return {
        "section": "funnel",
        "total": total,
        "rows": rows,
        "assumptions": {
            "retention_multiple": costs.retention_multiple,
            "gross_margin": costs.gross_margin,
            "costs_given": costs.has_spend,
            "ltv": "average won amount × retention_multiple",
            "cac": "(marketing + sales cost) / won deals",
            "romi_pct": "(won revenue × gross_margin − marketing cost) / marketing cost × 100",
            "targets": {"ltv_cac": LTV_CAC_TARGET, "romi_pct": ROMI_TARGET_PCT},
        },
        "notes": [
            "rates are per cohort: deals still open count as not (yet) won, so recent "
            "cohorts show lower SQL→won and ROMI than they will end with",
            *(
                ["costs are taken to cover the same period as the leads reported"]
                if costs.has_spend
                else ["no cost inputs: CAC, LTV:CAC and ROMI are not computed"]
            ),
        ],
    }


def _funnel_row(
    agg: Mapping[str, Any], costs: CostInputs, dimension: str, group: str | None
) -> dict[str, Any]:
    leads, mql, decided = int(agg["leads"]), int(agg["mql"]), int(agg["decided"])
    sql, won, lost = int(agg["sql"]), int(agg["won"]), int(agg["lost"])
    revenue = float(agg["revenue"])
    avg_deal = revenue / won if won else None
    ltv = avg_deal * costs.retention_multiple if avg_deal is not None else None
    row: dict[str, Any] = {
        "leads": leads,
        "mql": mql,
        "decided": decided,
        "sql": sql,
        "won": won,
        "lost": lost,
        "open_deals": max(sql - won - lost, 0),
        "lead_to_mql": _rate(mql, leads),
        "mql_to_sql": _rate(sql, mql),
        "sql_to_won": _rate(won, sql),
        "win_rate_closed": _rate(won, won + lost),
        "mql_to_won": _rate(won, mql),
        "revenue": revenue,
        "avg_deal": avg_deal,
        "ltv": ltv,
        "marketing_cost": None,
        "sales_cost": None,
        "cac": None,
        "ltv_cac": None,
        "romi_pct": None,
        "cost_per_mql": None,
        "cost_per_sql": None,
    }
    spend = costs.spend(dimension, group)
    if spend is not None:
        marketing, sales = spend
        total_cost = marketing + sales
        cac = total_cost / won if won else None
        row.update(
            marketing_cost=marketing,
            sales_cost=sales,
            cac=cac,
            ltv_cac=ltv / cac if ltv is not None and cac else None,
            romi_pct=(revenue * costs.gross_margin - marketing) / marketing * 100.0
            if marketing
            else None,
            cost_per_mql=total_cost / mql if mql else None,
            cost_per_sql=total_cost / sql if sql else None,
        )
    return {k: _num(v) for k, v in row.items()}


# --- rejections ---------------------------------------------------------------------------


def rejection_report(
    data: ReportData, group_by: Sequence[str] = DIMENSIONS, *, facts: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Rejection tags per group: counts, shares and the lift against the overall share."""
    dims = _check_dims(group_by)
    facts = _lead_facts(data) if facts is None else facts
    fb = data.feedback[data.feedback["decision"].isin(SALES_DECISION_KINDS)]
    events = fb[["lead_id", "decision", "reason"]].merge(
        facts[["lead_id", *dims]], on="lead_id", how="inner"
    )
    events["reason"] = np.where(
        events["decision"] == SalesDecision.REJECTED.value,
        events["reason"].astype(object).where(events["reason"].notna(), "other"),
        None,
    )
    known = [r.value for r in RejectionReason]
    extra = sorted({str(r) for r in events["reason"].dropna()} - set(known))
    reasons = [*known, *extra]
    flags = {f"n_{r}": (events["reason"] == r).to_numpy() for r in reasons}
    events = events.assign(
        _rejected=events["decision"] == SalesDecision.REJECTED.value,
        _returned=events["decision"] == SalesDecision.RETURNED_TO_NURTURE.value,
        **flags,
    )
    sums = _aggregate(
        events,
        dims,
        decisions=("decision", "size"),
        rejections=("_rejected", "sum"),
        returned=("_returned", "sum"),
        **{name: (name, "sum") for name in flags},
    )
    overall: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    total: dict[str, Any] = {}
    for dimension, group, agg in sums:
        row = _rejection_row(agg, reasons, overall)
        if dimension is None:
            total = row
            overall = {r: v["share"] or 0.0 for r, v in row["reasons"].items()}
        else:
            rows.append({"dimension": dimension, "group": group, **row})
    return {
        "section": "rejections",
        "reasons": reasons,
        "total": total,
        "rows": rows,
        "notes": [
            "counts are sales decisions (feedback rows); a lead rejected twice counts twice",
            "lift = the group's share of a reason / the overall share (> 1: over-represented); "
            "most_over_represented ignores data-quality tags and reasons seen < 5 times",
        ],
    }


def _rejection_row(
    agg: Mapping[str, Any], reasons: Sequence[str], overall: Mapping[str, float]
) -> dict[str, Any]:
    n = int(agg["rejections"])
    per_reason: dict[str, dict[str, Any]] = {}
    for reason in reasons:
        count = int(agg[f"n_{reason}"])
        share = _rate(count, n)
        base = overall.get(reason)
        per_reason[reason] = {
            "count": count,
            "share": _num(share),
            "lift": _num(share / base) if share is not None and base else None,
        }
    top = max(reasons, key=lambda r: per_reason[r]["count"]) if n else None
    quality = {q.value for q in DATA_QUALITY_REASONS}
    fixable = [r for r in reasons if r not in quality and per_reason[r]["count"] >= 5]
    excess = max(fixable, key=lambda r: per_reason[r]["lift"] or 0.0, default=None)
    return {
        "decisions": int(agg["decisions"]),
        "rejections": n,
        "rejection_rate": _num(_rate(n, int(agg["decisions"]))),
        "returned_to_nurture": int(agg["returned"]),
        "top_reason": top,
        "most_over_represented": excess if overall else None,
        "reasons": per_reason,
    }


# --- SLA ------------------------------------------------------------------------------------


def sla_report(
    data: ReportData, group_by: Sequence[str] = DIMENSIONS, *, facts: pd.DataFrame | None = None
) -> dict[str, Any]:
    """The handoff SLA in data (DOMAIN.md): response times, attempts, nurture returns."""
    dims = _check_dims(group_by)
    facts = _lead_facts(data) if facts is None else facts
    sums = _aggregate(
        facts,
        dims,
        handed_over=("mql", "sum"),
        decided=("decided", "sum"),
        undecided=("undecided", "sum"),
        response_known=("response_known", "sum"),
        within_8h=("within_8h", "sum"),
        within_24h=("within_24h", "sum"),
        response_hours_median=("response_hours", "median"),
        response_hours_p90=("response_hours", _p90),
        decision_hours_median=("decision_hours", "median"),
        decision_hours_p90=("decision_hours", _p90),
        rejections=("rej_n", "sum"),
        rej_known=("rej_known", "sum"),
        rej_3plus=("rej_3plus", "sum"),
        nr_n=("nr_n", "sum"),
        nr_known=("nr_known", "sum"),
        nr_3plus=("nr_3plus", "sum"),
        not_accepted=("not_accepted", "sum"),
        returned=("returned", "sum"),
        nurture_known=("nurture_known", "sum"),
        nurtured=("nurtured", "sum"),
        **{
            f"breach_{rule}": (f"breach_{rule}", "sum")
            for rule in SLA_RULES
            if f"breach_{rule}" in facts.columns
        },
        **(
            {"sql": ("sql", "sum"), "sql_qualified": ("sql_qualified", "sum")}
            if "sql_qualified" in facts.columns
            else {}
        ),
    )
    rows: list[dict[str, Any]] = []
    total: dict[str, Any] = {}
    for dimension, group, agg in sums:
        row = _sla_row(agg)
        if dimension is None:
            total = row
        else:
            rows.append({"dimension": dimension, "group": group, **row})
    hours = facts["response_hours"].dropna().to_numpy(dtype=float)
    counts, _ = np.histogram(hours, bins=np.asarray(RESPONSE_HOUR_EDGES, dtype=float))
    return {
        "section": "sla",
        "targets": {
            "decision_hours": data.clocks.decision_hours,
            "sql_confirm_hours": data.clocks.sql_confirm_hours,
            "first_contact_hours": data.clocks.first_contact_hours,
            "min_attempts": data.clocks.min_contact_attempts,
        },
        "total": total,
        "rows": rows,
        "response_hours_histogram": {
            "edges": [e if math.isfinite(e) else None for e in RESPONSE_HOUR_EDGES],
            "counts": [int(c) for c in counts],
        },
        "notes": [
            "response time = first_response_hours of the lead's first sales decision, or "
            "(decision time − handoff time) where it is missing; the contract records one "
            "response time, so the 8 h accept/reject and the 24 h first-contact windows are "
            "both measured on it; decision_hours is the time to the recorded decision",
            "attempt shares count rejections whose contact_attempts is known",
            "nurtured_after_rejection_share: leads not accepted that got a nurture touch "
            "(email, content, webinar) after the decision; needs the touches table",
            *(
                [
                    "breaches_*: SLA breaches from the lead lifecycle, each clock on its own "
                    "event (decision from the handoff, a contacted event for the first "
                    "contact, a qualification for the SQL confirmation), late or still "
                    "missing; see docs/lifecycle.md",
                    "sql_qualified_share: accepted leads whose qualification (BANT or GPCT) "
                    "sales confirmed, on the acceptance or later",
                ]
                if data.breaches is not None
                else []
            ),
        ],
    }


def _sla_row(agg: Mapping[str, Any]) -> dict[str, Any]:
    row = {
        "handed_over": int(agg["handed_over"]),
        "decided": int(agg["decided"]),
        "undecided": int(agg["undecided"]),
        "response_hours_median": agg["response_hours_median"],
        "response_hours_p90": agg["response_hours_p90"],
        "within_8h_share": _rate(agg["within_8h"], agg["response_known"]),
        "first_contact_within_24h_share": _rate(agg["within_24h"], agg["response_known"]),
        "decision_hours_median": agg["decision_hours_median"],
        "decision_hours_p90": agg["decision_hours_p90"],
        "rejections": int(agg["rejections"]),
        "no_response_rejections": int(agg["nr_n"]),
        "no_response_3plus_attempts_share": _rate(agg["nr_3plus"], agg["nr_known"]),
        "no_response_under_3_attempts": int(agg["nr_known"] - agg["nr_3plus"]),
        "rejections_3plus_attempts_share": _rate(agg["rej_3plus"], agg["rej_known"]),
        "not_accepted": int(agg["not_accepted"]),
        "returned_to_nurture_share": _rate(agg["returned"], agg["not_accepted"]),
        "nurtured_after_rejection_share": _rate(agg["nurtured"], agg["nurture_known"]),
    }
    for rule in SLA_RULES:
        if f"breach_{rule}" in agg:
            row[f"breaches_{rule}"] = int(agg[f"breach_{rule}"])
    if "sql_qualified" in agg:
        row["sql_qualified_share"] = _rate(agg["sql_qualified"], agg["sql"])
    return {k: _num(v) for k, v in row.items()}


# --- calibration ----------------------------------------------------------------------------


def _observed(facts: pd.DataFrame) -> pd.DataFrame:
    """Observed labels per lead: ``y_sql`` (accepted) and ``y_won``; NaN = not known yet.

    Data-quality rejections (duplicate, bad contact data) say nothing about the buyer and
    are left out, as in training; a lead rejected or returned without a later acceptance
    counts as not accepted; P(won) is judged on closed deals and on leads sales turned down.
    """
    quality = facts["first_reason"].isin([r.value for r in DATA_QUALITY_REASONS]) & ~facts["sql"]
    y_sql = np.where(facts["sql"], 1.0, np.where(facts["decided"], 0.0, np.nan))
    y_sql[quality.to_numpy()] = np.nan
    y_won = np.where(facts["won"], 1.0, np.where(facts["lost"] | (y_sql == 0.0), 0.0, np.nan))
    return pd.DataFrame({"lead_id": facts["lead_id"], "y_sql": y_sql, "y_won": y_won})


def calibration_report(data: ReportData, *, facts: pd.DataFrame | None = None) -> dict[str, Any]:
    """Predicted vs observed conversion by score band, for P(SQL) and P(won)."""
    if data.predictions is None or data.predictions.empty:
        return {
            "section": "calibration",
            "available": False,
            "stages": {},
            "by_decision": [],
            "notes": ["no predictions for the leads of this period: nothing to compare"],
        }
    facts = _lead_facts(data) if facts is None else facts
    observed = _observed(facts)
    observed["cohort_at"] = pd.to_datetime(facts["cohort_at"], utc=True, errors="coerce")
    joined = data.predictions.drop_duplicates("lead_id", keep="last").merge(
        observed, on="lead_id", how="inner"
    )
    # Deals take months to close: in a young cohort the won deals are still open while
    # the losses (rejections) are already known, which biases the observed win rate low.
    horizon = _latest_event(data)
    mature = (
        joined["cohort_at"] <= horizon - pd.Timedelta(days=WON_MATURITY_DAYS)
        if horizon is not None
        else pd.Series(False, index=joined.index)
    )
    stages: dict[str, Any] = {}
    notes: list[str] = []
    for stage, p_col, y_col, edges in (
        ("sql", "p_sql", "y_sql", P_SQL_EDGES),
        ("won", "p_won", "y_won", P_WON_EDGES),
    ):
        if p_col not in joined.columns:
            continue
        rows = joined[[p_col, y_col]].apply(pd.to_numeric, errors="coerce")
        mature_only = False
        if stage == "won":
            known = rows[y_col].notna()
            mature_only = int((mature & known).sum()) >= MIN_CALIBRATION_ROWS
            if mature_only:
                rows = rows[mature]
            else:
                notes.append(
                    f"won: fewer than {MIN_CALIBRATION_ROWS} leads older than "
                    f"{WON_MATURITY_DAYS} days, so young cohorts are included: their open "
                    "deals bias the observed win rate low"
                )
        rows = rows.dropna()
        stages[stage] = {
            **_reliability(rows[p_col].to_numpy(), rows[y_col].to_numpy(), edges),
            "mature_only": mature_only,
        }
    by_decision: list[dict[str, Any]] = []
    if "decision" in joined.columns:
        for decision, part in joined.groupby("decision", sort=False):
            by_decision.append(
                {
                    "decision": str(decision),
                    "n": len(part),
                    "mean_p_sql": _num(pd.to_numeric(part.get("p_sql"), errors="coerce").mean())
                    if "p_sql" in part
                    else None,
                    "observed_sql_rate": _num(part["y_sql"].mean()),
                    "n_sql_known": int(part["y_sql"].notna().sum()),
                    "mean_p_won": _num(part["p_won"].mean()),
                    "observed_won_rate": _num(part["y_won"].mean()),
                    "n_won_known": int(part["y_won"].notna().sum()),
                }
            )
        order = {d.value: i for i, d in enumerate(reversed(list(HandoffDecision)))}
        by_decision.sort(key=lambda r: order.get(r["decision"], 99))
    return {
        "section": "calibration",
        "available": bool(stages),
        "stages": stages,
        "by_decision": by_decision,
        "notes": [
            "sql: P(SQL) vs accepted by sales (data-quality rejections left out); "
            "won: P(won) vs won, among closed deals and leads sales turned down, for leads "
            f"at least {WON_MATURITY_DAYS} days old (mature_only) where there are enough",
            "ece = the count-weighted mean |predicted − observed| over the bands",
            *notes,
        ],
    }


def _latest_event(data: ReportData) -> pd.Timestamp | None:
    """The newest timestamp in the data: how far outcomes can have been observed."""
    stamps = [
        pd.to_datetime(data.feedback["at"], utc=True, errors="coerce").max(),
        pd.to_datetime(data.outcomes["closed_at"], utc=True, errors="coerce").max(),
        pd.to_datetime(data.leads["cohort_at"], utc=True, errors="coerce").max(),
    ]
    stamps = [s for s in stamps if s is not None and not pd.isna(s)]
    return max(stamps) if stamps else None


def _reliability(p: np.ndarray, y: np.ndarray, edges: Sequence[float]) -> dict[str, Any]:
    p = np.clip(p.astype(float), 0.0, 1.0)
    y = y.astype(float)
    idx = np.clip(np.searchsorted(np.asarray(edges[1:-1]), p, side="right"), 0, len(edges) - 2)
    bands: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(len(edges) - 1):
        sel = idx == b
        n = int(sel.sum())
        if not n:
            continue
        mean_p, rate = float(p[sel].mean()), float(y[sel].mean())
        ece += n * abs(mean_p - rate)
        bands.append(
            {
                "band": f"{edges[b]:.2f}–{edges[b + 1]:.2f}",
                "lo": edges[b],
                "hi": edges[b + 1],
                "n": n,
                "predicted": _num(mean_p),
                "observed": _num(rate),
            }
        )
    n = len(p)
    return {
        "n": n,
        "mean_predicted": _num(float(p.mean())) if n else None,
        "observed_rate": _num(float(y.mean())) if n else None,
        "ece": _num(ece / n) if n else None,
        "brier": _num(float(np.mean((p - y) ** 2))) if n else None,
        "bands": bands,
    }


# --- drift ----------------------------------------------------------------------------------


def _status(value: float | None, n_ref: int, n_cur: int, noise: float | None) -> str:
    """ok / warn / alert, or insufficient_data where sampling noise alone could cross warn."""
    if value is None or min(n_ref, n_cur) < MIN_DRIFT_ROWS:
        return "insufficient_data"
    if noise is None or noise > MAX_NOISE_SHARE * PSI_WARN:
        return "insufficient_data"
    if value >= PSI_ALERT:
        return "alert"
    if value >= PSI_WARN:
        return "warn"
    return "ok"


def drift_report(
    current: pd.DataFrame | None,
    reference: pd.DataFrame | Mapping[str, Any] | None,
    *,
    columns: Sequence[str] | None = None,
    score_column: str = "p_won",
    reference_name: str = "training data",
    percentile_columns: Sequence[str] = ("fit_score", "engagement_score"),
    percentile_rows: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """PSI per feature and for the score, with warn (0.1) / alert (0.25) statuses.

    ``reference`` is a feature frame (e.g. the training rows) or a stored
    :func:`reference_profile`. Columns in ``percentile_columns`` (the served fit and
    engagement scores, 0–100 percentiles of the *training* distribution) are also checked
    against the uniform distribution they have when nothing drifted, so the training data
    is a reference for them even without a profile. ``percentile_rows`` (default:
    ``current``) are the rows those checks use.
    """
    out: dict[str, Any] = {
        "section": "drift",
        "reference": reference_name,
        "thresholds": {
            "warn": PSI_WARN,
            "alert": PSI_ALERT,
            "min_rows": MIN_DRIFT_ROWS,
            "max_noise": MAX_NOISE_SHARE * PSI_WARN,
        },
        "features": [],
        "score": None,
        "status": "insufficient_data",
        "max_psi": None,
        "warnings": [],
        "n_reference": 0,
        "n_current": 0,
    }
    if current is None or reference is None or current.empty:
        out["notes"] = ["no feature rows to compare"]
        return out
    if isinstance(reference, pd.DataFrame):
        cols = list(columns) if columns is not None else drift_columns(reference)
        profile = reference_profile(reference, cols, score_column=score_column)
    else:
        profile = dict(reference)
    n_ref = int(profile.get("n", 0))
    n_cur = len(current)
    out["n_reference"], out["n_current"] = n_ref, n_cur
    wanted = columns if columns is not None else list(profile["columns"])
    entries: list[dict[str, Any]] = []
    for name in wanted:
        if name not in profile["columns"] or name not in current.columns:
            continue
        if name in DRIFT_EXCLUDED:
            continue
        result = population_stability(profile["columns"][name], current[name])
        noise = _noise(result["bins"], n_ref, n_cur)
        entry = {
            "feature": name,
            "kind": profile["columns"][name]["kind"],
            "reference": reference_name,
            **result,
            "psi": _num(result["psi"]),
            "noise": _num(noise),
            "status": _status(result["psi"], n_ref, n_cur, noise),
        }
        if name == score_column:
            out["score"] = entry
        else:
            entries.append(entry)
    rows = current if percentile_rows is None else percentile_rows
    for name in percentile_columns:
        if name not in rows.columns:
            continue
        values = pd.to_numeric(rows[name], errors="coerce").dropna()
        if values.empty:
            continue
        uniform = {
            "kind": "numeric",
            "edges": [float(e) for e in np.linspace(0, 100, PSI_BINS + 1)[1:-1]],
            "shares": [*([1.0 / PSI_BINS] * PSI_BINS), 0.0],
        }
        result = population_stability(uniform, values)
        noise = (PSI_BINS - 1) / len(values)  # the reference is exact: only one sample
        entries.append(
            {
                "feature": name,
                "kind": "percentile",
                "reference": "training distribution (uniform percentiles)",
                **result,
                "psi": _num(result["psi"]),
                "noise": _num(noise),
                "status": _status(result["psi"], MIN_DRIFT_ROWS, len(values), noise),
            }
        )
    entries.sort(key=lambda e: -(e["psi"] or 0.0))
    out["features"] = entries
    checked = [*entries, *([out["score"]] if out["score"] else [])]
    psis = [e["psi"] for e in checked if e["psi"] is not None]
    out["max_psi"] = max(psis) if psis else None
    statuses = {e["status"] for e in checked}
    for level in ("alert", "warn", "ok"):
        if level in statuses:
            out["status"] = level
            break
    for e in checked:
        if e["status"] in {"warn", "alert"}:
            shift = e.get("top_shift") or {}
            limit = PSI_ALERT if e["status"] == "alert" else PSI_WARN
            new = e.get("new_values") or {}
            detail = (
                "values not in the reference: "
                + ", ".join(f"{k} {_pct(v)}" for k, v in new.items())
                if new and shift.get("bin") == OTHER
                else f"largest shift in {shift.get('bin')}: "
                f"{_pct(shift.get('reference_share'))} → {_pct(shift.get('current_share'))}"
            )
            out["warnings"].append(
                f"drift {e['status']}: {e['feature']} PSI {e['psi']:.3f} ≥ {limit} ({detail})"
            )
    return out


def _noise(bins: int, n_ref: int, n_cur: int) -> float | None:
    """PSI expected from sampling alone (≈ (bins − 1)·(1/n_ref + 1/n_cur))."""
    if not n_ref or not n_cur:
        return None
    return (bins - 1) * (1.0 / n_ref + 1.0 / n_cur)


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} %"


# --- everything -----------------------------------------------------------------------------


def build_report(
    data: ReportData,
    *,
    costs: CostInputs | None = None,
    group_by: Sequence[str] = DIMENSIONS,
    start: Any = None,
    end: Any = None,
    sections: Sequence[str] = SECTIONS,
) -> dict[str, Any]:
    """All report sections for the leads of ``[start, end)``, as one JSON-able dict."""
    dims = _check_dims(group_by)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown report section(s): {', '.join(unknown)}")
    data = data.restrict(start, end)
    facts = _lead_facts(data)
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": data.source,
        "period": {
            "start": _iso(_ts(start)),
            "end": _iso(_ts(end)),
            "first_lead": _iso(pd.to_datetime(data.leads["cohort_at"], utc=True).min()),
            "last_lead": _iso(pd.to_datetime(data.leads["cohort_at"], utc=True).max()),
            "leads": len(data.leads),
        },
        "group_by": dims,
        "notes": list(data.notes),
    }
    if "funnel" in sections:
        report["funnel"] = funnel_report(data, costs, dims, facts=facts)
    if "rejections" in sections:
        report["rejections"] = rejection_report(data, dims, facts=facts)
    if "sla" in sections:
        report["sla"] = sla_report(data, dims, facts=facts)
    if "calibration" in sections:
        report["calibration"] = calibration_report(data, facts=facts)
    if "drift" in sections:
        current, reference = data.drift_inputs()
        report["drift"] = drift_report(
            current, reference, reference_name=data.reference_name, percentile_rows=data.current
        )
    report["warnings"] = _warnings(report)
    return report


def _warnings(report: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    drift = report.get("drift")
    if drift:
        out.extend(drift["warnings"])
    sla = report.get("sla")
    if sla:
        short = sla["total"].get("no_response_under_3_attempts") or 0
        if short:
            out.append(
                f"SLA: {short} no_response rejection(s) with fewer than "
                f"{sla['targets']['min_attempts']} contact attempts"
            )
    funnel = report.get("funnel")
    if funnel:
        ratio = funnel["total"].get("ltv_cac")
        if ratio is not None and ratio < LTV_CAC_TARGET:
            out.append(f"LTV:CAC {ratio:.2f} is below the {LTV_CAC_TARGET:g}:1 target")
        romi = funnel["total"].get("romi_pct")
        if romi is not None and romi < ROMI_TARGET_PCT:
            out.append(f"ROMI {romi:.0f} % is below the {ROMI_TARGET_PCT:.0f} % target")
    return out


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).isoformat()


def section_json(report: Mapping[str, Any]) -> str:
    """The report as strict JSON (raises on NaN: every number must already be clean)."""
    return json.dumps(report, ensure_ascii=False, allow_nan=False, default=str)
