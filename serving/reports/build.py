"""All sections at once: :func:`build_report` for a period, its warnings, strict JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from serving.reports.attribution import attribution_report
from serving.reports.calibration import calibration_report
from serving.reports.costs import CostInputs
from serving.reports.drift import drift_report
from serving.reports.facts import check_dims, lead_facts
from serving.reports.funnel import LTV_CAC_TARGET, ROMI_TARGET_PCT, funnel_report
from serving.reports.notes import Note
from serving.reports.rejections import rejection_report
from serving.reports.report_data import DIMENSIONS, ReportData, as_timestamp
from serving.reports.sla import sla_report

SECTIONS: tuple[str, ...] = ("funnel", "rejections", "sla", "calibration", "drift", "attribution")


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
    dims = check_dims(group_by)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown report section(s): {', '.join(unknown)}")
    data = data.restrict(start, end)
    facts = lead_facts(data)
    cohort = pd.to_datetime(data.leads["cohort_at"], utc=True)
    report = report_head(
        data.source,
        start,
        end,
        (cohort.min(), cohort.max(), len(data.leads)),
        dims,
        data.notes,
    )
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
    if "attribution" in sections:
        report["attribution"] = attribution_report(data)
    report["warnings"] = report_warnings(report)
    return report


def report_head(
    source: str,
    start: Any,
    end: Any,
    leads: tuple[Any, Any, int],
    group_by: Sequence[str],
    notes: Sequence[Any],
) -> dict[str, Any]:
    """What every report starts with: when, from where, the period asked for and the
    leads' first and last time and count (``leads``), the grouping and the notes.

    One place for it, whether the sections come from pandas (:func:`build_report`) or
    from SQL aggregates (``serving.report_sql``), so both answer the same head.
    """
    first, last, count = leads
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "period": {
            "start": _iso(as_timestamp(start)),
            "end": _iso(as_timestamp(end)),
            "first_lead": _iso(first),
            "last_lead": _iso(last),
            "leads": count,
        },
        "group_by": list(group_by),
        "notes": list(notes),
    }


def report_warnings(report: Mapping[str, Any]) -> list[str]:
    """The report's warnings, from the sections it has (drift, SLA, funnel targets)."""
    out: list[str] = []
    drift = report.get("drift")
    if drift:
        out.extend(drift["warnings"])
    sla = report.get("sla")
    if sla:
        short = sla["total"].get("no_response_under_3_attempts") or 0
        if short:
            attempts = sla["targets"]["min_attempts"]
            out.append(
                Note(
                    "sla.few_attempts",
                    f"SLA: {short} no_response rejection(s) with fewer than "
                    f"{attempts} contact attempts",
                    n=short,
                    attempts=attempts,
                )
            )
    funnel = report.get("funnel")
    if funnel:
        ratio = funnel["total"].get("ltv_cac")
        if ratio is not None and ratio < LTV_CAC_TARGET:
            out.append(
                Note(
                    "funnel.ltv_cac_low",
                    f"LTV:CAC {ratio:.2f} is below the {LTV_CAC_TARGET:g}:1 target",
                    ratio=ratio,
                    target=LTV_CAC_TARGET,
                )
            )
        romi = funnel["total"].get("romi_pct")
        if romi is not None and romi < ROMI_TARGET_PCT:
            out.append(
                Note(
                    "funnel.romi_low",
                    f"ROMI {romi:.0f} % is below the {ROMI_TARGET_PCT:.0f} % target",
                    romi=romi,
                    target=ROMI_TARGET_PCT,
                )
            )
    return out


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).isoformat()


def section_json(report: Mapping[str, Any]) -> str:
    """The report as strict JSON (raises on NaN: every number must already be clean)."""
    return json.dumps(report, ensure_ascii=False, allow_nan=False, default=str)
