"""The drift section: population stability (PSI) per feature and for the score.

Against a training reference (a feature frame, or a stored ``reference_profile``), and
for the served fit and engagement percentiles against the uniform distribution they have
when nothing drifted. A PSI is judged (ok / warn / alert) only where there are enough
rows and sampling noise alone could not cross the warn threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.drift import (
    DRIFT_EXCLUDED,
    OTHER,
    PSI_BINS,
    _num,
    drift_columns,
    population_stability,
    population_stability_counts,
    reference_profile,
)
from serving.reports.notes import Note

PSI_WARN = 0.1
PSI_ALERT = 0.25
MIN_DRIFT_ROWS = 100
"""Below this many rows on either side PSI is mostly sampling noise: no warn/alert."""
MAX_NOISE_SHARE = 0.5
"""A PSI is judged only where the PSI expected from sampling alone (``noise``) is at most
this share of the warn threshold; otherwise its status is ``insufficient_data``."""


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
    out = _no_drift_yet(reference_name)
    if current is None or reference is None or current.empty:
        out["notes"] = [Note("drift.no_rows", "no feature rows to compare")]
        return out
    if isinstance(reference, pd.DataFrame):
        cols = list(columns) if columns is not None else drift_columns(reference)
        profile = reference_profile(reference, cols, score_column=score_column)
    else:
        profile = dict(reference)
    out["n_reference"], out["n_current"] = int(profile.get("n", 0)), len(current)
    wanted = columns if columns is not None else list(profile["columns"])
    entries: list[dict[str, Any]] = []
    for entry in _profile_entries(current, profile, wanted, reference_name):
        if entry["feature"] == score_column:
            out["score"] = entry
        else:
            entries.append(entry)
    rows = current if percentile_rows is None else percentile_rows
    entries.extend(_percentile_entries(rows, percentile_columns))
    return _finish(out, entries)


def _finish(out: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The entries (the score's already in ``out``) sorted, judged overall, warned on."""
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
    out["warnings"] = [_warning(e) for e in checked if e["status"] in {"warn", "alert"}]
    return out


def _no_drift_yet(reference_name: str) -> dict[str, Any]:
    """The section before anything is compared: thresholds, no entries, no status."""
    return {
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


def _profile_entries(
    current: pd.DataFrame,
    profile: Mapping[str, Any],
    wanted: Sequence[str],
    reference_name: str,
) -> list[dict[str, Any]]:
    """One PSI entry per wanted column the profile and the current rows both have."""
    n_cur = len(current)
    entries: list[dict[str, Any]] = []
    for name in wanted:
        if name not in profile["columns"] or name not in current.columns:
            continue
        if name in DRIFT_EXCLUDED:
            continue
        result = population_stability(profile["columns"][name], current[name])
        entries.append(_profile_entry(name, profile, result, n_cur, reference_name))
    return entries


def _profile_entry(
    name: str,
    profile: Mapping[str, Any],
    result: Mapping[str, Any],
    n_cur: int,
    reference_name: str,
) -> dict[str, Any]:
    """One feature's entry from its :func:`population_stability` result."""
    n_ref = int(profile.get("n", 0))
    noise = _noise(result["bins"], n_ref, n_cur)
    return {
        "feature": name,
        "kind": profile["columns"][name]["kind"],
        "reference": reference_name,
        **result,
        "psi": _num(result["psi"]),
        "noise": _num(noise),
        "status": _status(result["psi"], n_ref, n_cur, noise),
    }


UNIFORM_PERCENTILES: dict[str, Any] = {
    "kind": "numeric",
    "edges": [float(e) for e in np.linspace(0, 100, PSI_BINS + 1)[1:-1]],
    "shares": [*([1.0 / PSI_BINS] * PSI_BINS), 0.0],
}
"""The served percentiles' distribution when nothing drifted: uniform over 0–100."""


def _percentile_entry(name: str, result: Mapping[str, Any], n_values: int) -> dict[str, Any]:
    noise = (PSI_BINS - 1) / n_values  # the reference is exact: only one sample
    return {
        "feature": name,
        "kind": "percentile",
        "reference": "training distribution (uniform percentiles)",
        **result,
        "psi": _num(result["psi"]),
        "noise": _num(noise),
        "status": _status(result["psi"], MIN_DRIFT_ROWS, n_values, noise),
    }


def drift_from_counts(
    profile: Mapping[str, Any],
    n_current: int,
    counts: Mapping[str, Mapping[str, int] | Sequence[int]],
    percentile_counts: Mapping[str, Sequence[int]],
    *,
    score_column: str = "p_won",
    reference_name: str = "training data",
) -> dict[str, Any]:
    """What :func:`drift_report` answers against a stored profile, from counts a database
    made (``serving.store.report_drift``): ``counts`` per profile column the served rows
    have (labels or bins, see :func:`~scoring.drift.population_stability_counts`), and
    ``percentile_counts`` per percentile column (its ten bins, missing values left out)."""
    out = _no_drift_yet(reference_name)
    if not n_current:
        out["notes"] = [Note("drift.no_rows", "no feature rows to compare")]
        return out
    out["n_reference"], out["n_current"] = int(profile.get("n", 0)), n_current
    entries: list[dict[str, Any]] = []
    for name in profile["columns"]:
        if name not in counts or name in DRIFT_EXCLUDED:
            continue
        result = population_stability_counts(profile["columns"][name], counts[name], n_current)
        entry = _profile_entry(name, profile, result, n_current, reference_name)
        if name == score_column:
            out["score"] = entry
        else:
            entries.append(entry)
    for name, bins in percentile_counts.items():
        n_values = int(sum(bins))
        if not n_values:
            continue
        result = population_stability_counts(UNIFORM_PERCENTILES, [*bins, 0], n_values)
        entries.append(_percentile_entry(name, result, n_values))
    return _finish(out, entries)


def _percentile_entries(rows: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """PSI of served percentiles (0–100) against the uniform distribution of training."""
    entries: list[dict[str, Any]] = []
    for name in columns:
        if name not in rows.columns:
            continue
        values = pd.to_numeric(rows[name], errors="coerce").dropna()
        if values.empty:
            continue
        result = population_stability(UNIFORM_PERCENTILES, values)
        entries.append(_percentile_entry(name, result, len(values)))
    return entries


def _warning(e: Mapping[str, Any]) -> Note:
    """The warning line of an entry in warn or alert: its PSI and where it shifted."""
    shift = e.get("top_shift") or {}
    limit = PSI_ALERT if e["status"] == "alert" else PSI_WARN
    new = e.get("new_values") or {}
    detail = (
        "values not in the reference: " + ", ".join(f"{k} {_pct(v)}" for k, v in new.items())
        if new and shift.get("bin") == OTHER
        else f"largest shift in {shift.get('bin')}: "
        f"{_pct(shift.get('reference_share'))} → {_pct(shift.get('current_share'))}"
    )
    text = f"drift {e['status']}: {e['feature']} PSI {e['psi']:.3f} ≥ {limit} ({detail})"
    return Note(
        "drift.new_values" if new and shift.get("bin") == OTHER else "drift.shift",
        text,
        status=e["status"],
        feature=e["feature"],
        psi=e["psi"],
        limit=limit,
        new_values=dict(new),
        bin=shift.get("bin"),
        reference_share=shift.get("reference_share"),
        current_share=shift.get("current_share"),
    )


def _noise(bins: int, n_ref: int, n_cur: int) -> float | None:
    """PSI expected from sampling alone (≈ (bins − 1)·(1/n_ref + 1/n_cur))."""
    if not n_ref or not n_cur:
        return None
    return (bins - 1) * (1.0 / n_ref + 1.0 / n_cur)


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} %"
