"""Store reports with the sections SQL can compute computed in the database.

:func:`store_report` returns what ``build_report(from_store(...))`` returns — the same
keys, rows, notes and warnings — but the funnel and rejection sections are read from
the roll-ups (:mod:`serving.store.report_sums` and, for calibration,
:mod:`serving.store.calibration_sums`, over the day sums that :mod:`serving.store.rollups`
keeps current; each request first folds in the leads that changed) instead of the whole
decision log and feedback read into pandas; attribution from each lead's credits summed
per cohort day (:mod:`serving.store.rollup_attribution`); the SLA section from its
roll-ups (:mod:`serving.store.report_sla`) when the request says its moment ``as_of``,
and drift against the served model's reference profile from its roll-up
(:mod:`serving.store.rollup_drift`, per decision day and bin). Sections not yet moved
(:data:`PANDAS_SECTIONS`: drift without a stored reference profile) still go through
``from_store``; a request that needs none of them never reads the log. The report
endpoints and the marketing page both call it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from scoring.contract import RejectionReason
from scoring.lifecycle import SlaClocks
from serving.reports import SECTIONS, CostInputs, ReportData, build_report
from serving.reports.attribution import attribution_section
from serving.reports.build import report_head, report_warnings
from serving.reports.calibration import WON_MATURITY_DAYS, calibration_from_sums
from serving.reports.drift import UNIFORM_PERCENTILES, drift_from_counts
from serving.reports.facts import check_dims
from serving.reports.funnel import funnel_from_sums
from serving.reports.rejections import rejections_from_sums
from serving.reports.report_data import HALF_LIFE_DAYS, as_timestamp
from serving.reports.sla import sla_from_sums
from serving.reports.store_inputs import behind_note, store_notes
from serving.storage import Store
from serving.store.calibration_sums import calibration_sums
from serving.store.engine import in_memory
from serving.store.report_sla import sla_sums
from serving.store.report_sums import (
    attribution_sums,
    funnel_sums,
    lead_period,
    rejection_sums,
    unscored_feedback,
)
from serving.store.rollup_attribution import ensure_half_life
from serving.store.rollup_drift import drift_period_counts, use_profile
from serving.store.rollup_sla import use_clocks
from serving.store.rollups import pending_leads

SQL_SECTIONS: tuple[str, ...] = ("funnel", "rejections", "calibration", "sla", "attribution")
"""Sections computed by SQL aggregates and roll-ups (the SLA given its moment ``as_of``)."""
PANDAS_SECTIONS: tuple[str, ...] = ("drift",)
"""Sections still computed from the whole log in pandas (``from_store``): drift only when
the served model carries no reference profile (the first half of the period's decisions
is then the reference, and its numeric edges are that half's deciles: no sum kept ahead
of time can give them exactly); the SLA when a caller gives no ``as_of`` (the pandas
path then judges the open clocks at the latest moment in the data)."""


def store_report(
    store: Store,
    pandas_inputs: Callable[[], ReportData],
    *,
    costs: CostInputs | None = None,
    group_by: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    sections: Sequence[str],
    reference_given: bool,
    drift_reference: Mapping[str, Any] | None = None,
    reference_name: str | None = None,
    clocks: SlaClocks | None = None,
    as_of: datetime | None = None,
    half_life_days: float | None = None,
) -> dict[str, Any]:
    """The report of ``sections``: SQL for :data:`SQL_SECTIONS`, ``pandas_inputs()`` (read
    only when needed) for the others. ``reference_given``: the served model carries a
    drift reference profile (else the report notes the first-half comparison);
    ``drift_reference`` is that profile (and ``reference_name`` its name): with it the
    drift section is counted in SQL too, without it the first half of the served
    decisions is the reference, which only the pandas path makes. ``clocks`` (default:
    the settings' defaults, as ``from_store``) and ``as_of`` (the moment open SLA clocks
    are judged at) are the SLA section's; without ``as_of`` it is the pandas path's.
    ``half_life_days``: the attribution's time decay (setting
    ``attribution_half_life_days``; default 7 days)."""
    dims = check_dims(group_by)
    clocks = clocks or SlaClocks()
    sla_fast = "sla" in sections and as_of is not None
    if sla_fast:
        use_clocks(store.engine, clocks)
    half_life = HALF_LIFE_DAYS if half_life_days is None else float(half_life_days)
    if "attribution" in sections:
        if not half_life > 0:
            raise ValueError("half_life_days must be positive")
        ensure_half_life(store.engine, half_life)  # a new value: its leads are marked dirty
    caught_up = store.refresh_rollups() is not None
    fast = {
        *(s for s in SQL_SECTIONS if s != "sla" or sla_fast),
        *(("drift",) if drift_reference is not None else ()),
    }
    slow = [s for s in sections if s not in fast]
    if slow:
        report = build_report(
            pandas_inputs(), costs=costs, group_by=dims, start=start, end=end, sections=slow
        )
    else:
        report = _sql_head(store, dims, start, end, reference_given)
    lo, hi = _utc(start), _utc(end)
    edges = UNIFORM_PERCENTILES["edges"]
    reads: dict[str, Callable[[], Any]] = {}
    if "funnel" in sections:
        reads["funnel"] = lambda: funnel_sums(store.engine, dims, lo, hi)
    if "rejections" in sections:
        known = [r.value for r in RejectionReason]
        reads["rejections"] = lambda: rejection_sums(store.engine, dims, lo, hi, known)
    if "calibration" in sections:
        maturity = timedelta(days=WON_MATURITY_DAYS)
        reads["calibration"] = lambda: calibration_sums(store.engine, lo, hi, maturity=maturity)
    if sla_fast and as_of is not None:
        moment = _utc(as_of) or as_of
        reads["sla"] = lambda: sla_sums(store.engine, dims, lo, hi, moment)
    if "attribution" in sections:
        reads["attribution"] = lambda: attribution_sums(store.engine, lo, hi, half_life)
    if "drift" in sections and drift_reference is not None:
        profile = drift_reference

        def drift_counts() -> Any:
            use_profile(store.engine, profile, edges)  # rebuilds only for a new profile
            return drift_period_counts(store.engine, profile, edges, lo, hi)

        reads["drift"] = drift_counts
    found = read_side_by_side(store.engine, reads)
    if "funnel" in found:
        report["funnel"] = funnel_from_sums(found["funnel"], costs)
    if "rejections" in found:
        report["rejections"] = rejections_from_sums(*found["rejections"])
    if "calibration" in found:
        report["calibration"] = calibration_from_sums(*found["calibration"])
    if "sla" in found:
        sums, histogram = found["sla"]
        report["sla"] = sla_from_sums(sums, histogram, clocks, with_breaches=True)
    if "attribution" in found:
        credit, totals, unchanneled = found["attribution"]
        report["attribution"] = attribution_section(credit, totals, unchanneled, half_life)
    if "drift" in found and drift_reference is not None:
        report["drift"] = drift_from_counts(
            drift_reference, *found["drift"], reference_name=reference_name or "training data"
        )
    ordered = {k: v for k, v in report.items() if k not in (*SECTIONS, "warnings")}
    ordered.update({s: report[s] for s in SECTIONS if s in sections})  # as build_report
    ordered["warnings"] = report_warnings(ordered)
    pending = 0 if caught_up else pending_leads(store.engine)
    if pending:
        ordered["notes"] = [*ordered["notes"], behind_note(pending)]
    return ordered


READERS = 4
"""Threads the sections' sums are read on, shared by all requests: at most this many
report queries of this process run at once."""


@functools.cache
def _readers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(READERS, thread_name_prefix="report-read")


def read_side_by_side(engine: Engine, reads: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """``{name: read()}``, the reads run side by side on their own connections.

    Each section's sums are one or two queries the database answers on its own (a
    million decisions: 60–90 ms each on PostgreSQL), with no Python between them, so a
    page of four sections waited for four in a row. Side by side they take about as long
    as the slowest (the database works on several cores; the waiting threads hold no
    GIL). An in-memory SQLite database is one connection per thread, so its reads run in
    turn.
    """
    if len(reads) < 2 or in_memory(engine.url):
        return {name: read() for name, read in reads.items()}
    futures = {name: _readers().submit(read) for name, read in reads.items()}
    return {name: future.result() for name, future in futures.items()}


def _sql_head(
    store: Store,
    dims: list[str],
    start: datetime | None,
    end: datetime | None,
    reference_given: bool,
) -> dict[str, Any]:
    """The report's period, grouping and notes, as ``build_report`` writes them."""
    return report_head(
        "store",
        start,
        end,
        lead_period(store.engine, _utc(start), _utc(end)),
        dims,
        store_notes(not reference_given, unscored_feedback(store.engine)),
    )


def _utc(value: datetime | None) -> datetime | None:
    stamp = as_timestamp(value)
    return None if stamp is None else pd.Timestamp(stamp).to_pydatetime()
