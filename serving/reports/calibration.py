"""The calibration section: predicted vs observed conversion by score band.

P(SQL) against acceptance by sales, P(won) against won deals (on leads old enough for
their deals to have closed, where there are enough), per score band and per handoff
decision, with the expected calibration error and the Brier score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import DATA_QUALITY_REASONS, HandoffDecision
from scoring.drift import _num
from serving.reports.facts import lead_facts
from serving.reports.notes import Note
from serving.reports.report_data import ReportData

WON_MATURITY_DAYS = 180
"""P(won) is checked on leads at least this old: most of their deals have closed."""
MIN_CALIBRATION_ROWS = 50
"""Fewer mature leads than this: young cohorts are included in the P(won) check."""
P_SQL_EDGES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
P_WON_EDGES: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.0)


def calibration_report(data: ReportData, *, facts: pd.DataFrame | None = None) -> dict[str, Any]:
    """Predicted vs observed conversion by score band, for P(SQL) and P(won)."""
    if data.predictions is None or data.predictions.empty:
        return _unavailable()
    facts = lead_facts(data) if facts is None else facts
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
    stages, notes = _stages(joined, mature)
    return _section(stages, _by_decision(joined), notes)


def _unavailable() -> dict[str, Any]:
    return {
        "section": "calibration",
        "available": False,
        "stages": {},
        "by_decision": [],
        "notes": [
            Note(
                "calibration.none",
                "no predictions for the leads of this period: nothing to compare",
            )
        ],
    }


def _section(
    stages: dict[str, Any], by_decision: list[dict[str, Any]], notes: list[str]
) -> dict[str, Any]:
    return {
        "section": "calibration",
        "available": bool(stages),
        "stages": stages,
        "by_decision": by_decision,
        "notes": [
            Note(
                "calibration.stages",
                "sql: P(SQL) vs accepted by sales (data-quality rejections left out); "
                "won: P(won) vs won, among closed deals and leads sales turned down, for "
                f"leads at least {WON_MATURITY_DAYS} days old (mature_only) where there are "
                "enough",
                days=WON_MATURITY_DAYS,
            ),
            Note(
                "calibration.ece",
                "ece = the count-weighted mean |predicted − observed| over the bands",
            ),
            *notes,
        ],
    }


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


def _stages(joined: pd.DataFrame, mature: pd.Series) -> tuple[dict[str, Any], list[str]]:
    """Reliability per stage (``sql``, ``won``), and a note where P(won) had to include
    young cohorts."""
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
                notes.append(_young_note())
        rows = rows.dropna()
        stages[stage] = {
            **_reliability(rows[p_col].to_numpy(), rows[y_col].to_numpy(), edges),
            "mature_only": mature_only,
        }
    return stages, notes


def _young_note() -> Note:
    return Note(
        "calibration.young",
        f"won: fewer than {MIN_CALIBRATION_ROWS} leads older than "
        f"{WON_MATURITY_DAYS} days, so young cohorts are included: their open "
        "deals bias the observed win rate low",
        rows=MIN_CALIBRATION_ROWS,
        days=WON_MATURITY_DAYS,
    )


def _by_decision(joined: pd.DataFrame) -> list[dict[str, Any]]:
    """Mean predicted and observed rates per handoff decision, hand_to_sales first."""
    by_decision: list[dict[str, Any]] = []
    if "decision" not in joined.columns:
        return by_decision
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
    by_decision.sort(key=_decision_rank)
    return by_decision


def _decision_rank(row: dict[str, Any]) -> int:
    """hand_to_sales first, then nurture, disqualify; anything else last."""
    order = {d.value: i for i, d in enumerate(reversed(list(HandoffDecision)))}
    return order.get(row["decision"], 99)


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
        bands.append(_band(edges, b, n, mean_p, rate))
    n = len(p)
    return {
        "n": n,
        "mean_predicted": _num(float(p.mean())) if n else None,
        "observed_rate": _num(float(y.mean())) if n else None,
        "ece": _num(ece / n) if n else None,
        "brier": _num(float(np.mean((p - y) ** 2))) if n else None,
        "bands": bands,
    }


def _band(edges: Sequence[float], b: int, n: int, mean_p: float, rate: float) -> dict[str, Any]:
    """One reliability band as both paths report it (rows in memory, or the store's sums),
    so the SQL section cannot drift from the pandas one in shape."""
    return {
        "band": f"{edges[b]:.2f}–{edges[b + 1]:.2f}",
        "lo": edges[b],
        "hi": edges[b + 1],
        "n": n,
        "predicted": _num(mean_p),
        "observed": _num(rate),
    }


def calibration_from_sums(
    sql: Sequence[Mapping[str, Any]],
    won: Sequence[Mapping[str, Any]],
    decisions: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The section from sums kept in the database
    (``serving.store.calibration_sums.calibration_sums``): what
    :func:`calibration_report` answers for the same leads, without a row per lead here.

    ``sql``: per ``y_sql, sql_band``: ``n, p_sql_clip_sum, sql_sq_sum``; ``won``: per
    ``y_won, won_band, mature``: ``n, p_won_clip_sum, won_sq_sum``; ``decisions``: per
    ``decision, y_sql, y_won``: ``n, p_sql_n, p_sql_sum, p_won_sum``. Finer rows (every
    key in every row) serve as well: each part reads only its own keys.
    """
    if not decisions:
        return _unavailable()
    notes: list[str] = []
    stages: dict[str, Any] = {"sql": _reliability_from_sums(sql, "sql", P_SQL_EDGES)}
    known_mature = sum(c["n"] for c in won if c["y_won"] is not None and c["mature"])
    mature_only = known_mature >= MIN_CALIBRATION_ROWS
    if not mature_only:
        notes.append(_young_note())
    judged = [c for c in won if c["mature"]] if mature_only else list(won)
    stages["won"] = _reliability_from_sums(judged, "won", P_WON_EDGES)
    stages["sql"]["mature_only"], stages["won"]["mature_only"] = False, mature_only
    return _section(stages, _by_decision_from_sums(decisions), notes)


def _reliability_from_sums(
    combos: Sequence[Mapping[str, Any]], stage: str, edges: Sequence[float]
) -> dict[str, Any]:
    """:func:`_reliability` of the rows whose prediction and label are both known."""
    y_key, band_key = f"y_{stage}", f"{stage}_band"
    kept = [c for c in combos if c[y_key] is not None and c[band_key] is not None]
    bands: list[dict[str, Any]] = []
    n_all, p_all, y_all, sq_all, ece = 0, 0.0, 0.0, 0.0, 0.0
    for b in range(len(edges) - 1):
        part = [c for c in kept if int(c[band_key]) == b]
        n = sum(int(c["n"]) for c in part)
        if not n:
            continue
        p_sum = sum(float(c[f"p_{stage}_clip_sum"]) for c in part)
        y_sum = sum(float(c[y_key]) * int(c["n"]) for c in part)
        mean_p, rate = p_sum / n, y_sum / n
        ece += n * abs(mean_p - rate)
        n_all, p_all, y_all = n_all + n, p_all + p_sum, y_all + y_sum
        sq_all += sum(float(c[f"{stage}_sq_sum"]) for c in part)
        bands.append(_band(edges, b, n, mean_p, rate))
    return {
        "n": n_all,
        "mean_predicted": _num(p_all / n_all) if n_all else None,
        "observed_rate": _num(y_all / n_all) if n_all else None,
        "ece": _num(ece / n_all) if n_all else None,
        "brier": _num(sq_all / n_all) if n_all else None,
        "bands": bands,
    }


def _by_decision_from_sums(combos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`_by_decision` from the per-combination sums."""
    out: list[dict[str, Any]] = []
    for decision in dict.fromkeys(str(c["decision"]) for c in combos):
        part = [c for c in combos if str(c["decision"]) == decision]
        n = sum(int(c["n"]) for c in part)
        p_sql_n = sum(int(c["p_sql_n"]) for c in part)
        sql_known = [c for c in part if c["y_sql"] is not None]
        won_known = [c for c in part if c["y_won"] is not None]
        n_sql, n_won = sum(int(c["n"]) for c in sql_known), sum(int(c["n"]) for c in won_known)
        out.append(
            {
                "decision": decision,
                "n": n,
                "mean_p_sql": _num(sum(float(c["p_sql_sum"] or 0.0) for c in part) / p_sql_n)
                if p_sql_n
                else None,
                "observed_sql_rate": _num(
                    sum(float(c["y_sql"]) * int(c["n"]) for c in sql_known) / n_sql
                )
                if n_sql
                else None,
                "n_sql_known": n_sql,
                "mean_p_won": _num(sum(float(c["p_won_sum"]) for c in part) / n) if n else None,
                "observed_won_rate": _num(
                    sum(float(c["y_won"]) * int(c["n"]) for c in won_known) / n_won
                )
                if n_won
                else None,
                "n_won_known": n_won,
            }
        )
    out.sort(key=_decision_rank)
    return out
