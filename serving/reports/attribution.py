"""The attribution section: who gets the credit for MQLs, SQLs, won deals and revenue.

Marketing and sales argue over first touch versus last touch; this section puts five
models side by side, per channel and per campaign, so the argument is about numbers:

``first_touch``
    All the credit to the first touch.
``last_touch``
    All the credit to the last touch before the conversion.
``linear``
    Equal credit to every touch before the conversion.
``u_shaped``
    40 % to the first touch, 40 % to the last, the other 20 % split evenly over the
    touches between (one touch: all of it; two: half each).
``time_decay``
    Credit halving every ``half_life_days`` (setting ``LEADSCORE_ATTRIBUTION_HALF_LIFE_DAYS``,
    default 7) of a touch's age at the conversion: the touches that closed the deal count
    most, the early ones still count.

Conversions are a lead's moments: it became an *MQL* (handed to sales), an *SQL* (its
first acceptance), a *won* deal (the deal's close date), whose *revenue* is the won
amount. Only touches at or before a conversion's moment take part in it, so a touch
after the deal closed cannot claim it. Each conversion hands out exactly one unit of
credit (its amount for revenue), whatever the model, so every model's column sums to
the same totals as the funnel.

The lead's own source — its ``channel`` and ``campaign`` at its creation (``created_at``,
else its cohort time) — is a touch of its own, usually its first (a visit the analytics
recorded before the lead existed comes earlier): every conversion has at least one
touch, and a lead without recorded touches is credited to the channel the funnel counts
it under. Recorded touches without a channel (the decision log kept none before the
touch's ``channel`` was stored) are left out and counted in a note; a touch without a
campaign is credited to the campaign ``(unknown)``.

Only the touches of converted leads are read and joined (bounded: at most all touches
of the MQLs), in pandas: the touches live in the decision log's feature snapshots (JSON)
or in a CRM history's touches table, neither of which a SQL ``GROUP BY`` reaches simply.
A lead's credits depend on that lead alone (:func:`lead_credits`), so the store's report
keeps them per lead in its roll-ups, computed by this same code when the lead changes
(``serving.store.rollup_attribution``), and adds up day sums on each request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import Outcome, SalesDecision
from scoring.drift import _num
from serving.reports.facts import UNKNOWN
from serving.reports.notes import Note
from serving.reports.report_data import ReportData

MODELS: tuple[str, ...] = ("first_touch", "last_touch", "linear", "u_shaped", "time_decay")
"""The attribution models, in the order the report shows them."""
STAGES: tuple[str, ...] = ("mql", "sql", "won", "revenue")
"""What is credited: conversions counted (MQL, SQL, won) and the won revenue."""
DIMENSIONS: tuple[str, ...] = ("channel", "campaign")
"""What a touch is credited to."""
U_ENDS = 0.4
"""The U-shaped model's share for the first and for the last touch each."""

_ORIGIN = -1  # sort key of the lead's own source: first among touches at the same moment


def attribution_report(data: ReportData, *, half_life_days: float | None = None) -> dict[str, Any]:
    """Credit of MQLs, SQLs, won deals and revenue per channel and campaign, per model.

    ``half_life_days``: the time-decay model's; default the data's (settings), else
    :data:`~serving.reports.report_data.HALF_LIFE_DAYS` (7 days).
    """
    half_life_days = data.half_life_days if half_life_days is None else half_life_days
    conversions, credits, unchanneled = lead_credits(data, half_life_days)
    totals = credit_totals(conversions, credits)
    sums = {dimension: group_sums(credits, dimension) for dimension in DIMENSIONS}
    return attribution_section(sums, totals, int(unchanneled.sum()), half_life_days)


def lead_credits(
    data: ReportData, half_life_days: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Every lead's conversions and their touches' credits (:func:`touch_credits`), and
    per converted lead how many of its recorded touches had no channel.

    Each lead's credits depend on that lead alone: the report computes them for every
    lead of its period at once, the roll-ups (``serving.store.rollup_attribution``) for
    the leads that changed, and both add them up the same way (:func:`group_sums`).
    """
    if not half_life_days > 0:
        raise ValueError("half_life_days must be positive")
    conversions = conversion_moments(data)
    touches, unchanneled = lead_touches(data, set(conversions["lead_id"]))
    return conversions, touch_credits(conversions, touches, half_life_days), unchanneled


def credit_totals(conversions: pd.DataFrame, credits: pd.DataFrame) -> dict[str, Any]:
    """What every model's column adds up to: conversions per stage, the won revenue, and
    how many touches take part."""
    return {
        "mql": int((conversions["stage"] == "mql").sum()),
        "sql": int((conversions["stage"] == "sql").sum()),
        "won": int((conversions["stage"] == "won").sum()),
        "revenue": float(conversions.loc[conversions["stage"] == "won", "value"].sum()),
        "touches": int(credits.drop_duplicates(["lead_id", "touch"]).shape[0]),
    }


def credit_columns(models: tuple[str, ...] = MODELS) -> list[str]:
    """The columns of :func:`group_sums`: ``<model>.<stage>`` for each model and stage."""
    return [f"{model}.{stage}" for model in models for stage in STAGES]


def group_sums(credits: pd.DataFrame, dimension: str, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """The credits added up per group of ``dimension`` (and per ``by`` columns first, e.g.
    ``lead_id``): one column per :func:`credit_columns`, revenue weighted by the deal."""
    stage = credits["stage"].to_numpy()
    value = credits["value"].to_numpy()
    frame = pd.DataFrame({name: credits[name].to_numpy() for name in (*by, dimension)})
    for model in MODELS:
        credit = credits[model].to_numpy()
        frame[f"{model}.mql"] = np.where(stage == "mql", credit, 0.0)
        frame[f"{model}.sql"] = np.where(stage == "sql", credit, 0.0)
        frame[f"{model}.won"] = np.where(stage == "won", credit, 0.0)
        frame[f"{model}.revenue"] = np.where(stage == "won", credit * value, 0.0)
    sums = frame.groupby([*by, dimension], sort=True).sum()
    return sums.rename_axis([*by, "group"]) if by else sums.rename_axis("group")


def attribution_section(
    sums: Mapping[str, pd.DataFrame],
    totals: Mapping[str, Any],
    unchanneled: int,
    half_life_days: float,
) -> dict[str, Any]:
    """The section from each dimension's :func:`group_sums` (index ``group``) and the
    :func:`credit_totals`: what the pandas path and the roll-ups both render."""
    rows = [
        row
        for dimension in DIMENSIONS
        for row in _rows(sums[dimension], dimension, totals["revenue"])
    ]
    notes = [
        Note(
            "attribution.origin",
            "a lead's own channel and campaign at its creation count as its first touch; "
            "only touches at or before a conversion share its credit",
        ),
        Note(
            "attribution.half_life",
            f"time decay: a touch's credit halves every {half_life_days:g} days before the "
            "conversion",
            days=f"{half_life_days:g}",
        ),
    ]
    if unchanneled:
        notes.append(
            Note(
                "attribution.no_channel",
                f"{unchanneled} recorded touch(es) without a channel are not attributed",
                n=unchanneled,
            )
        )
    return {
        "section": "attribution",
        "models": list(MODELS),
        "stages": list(STAGES),
        "dimensions": list(DIMENSIONS),
        "half_life_days": half_life_days,
        "u_shaped": {"first": U_ENDS, "last": U_ENDS, "middle": 1.0 - 2 * U_ENDS},
        "total": dict(totals),
        "rows": rows,
        "notes": notes,
    }


def by_group(section: Mapping[str, Any], dimension: str) -> list[dict[str, Any]]:
    """The section's rows of ``dimension`` side by side: one entry per group, in the
    section's order, ``{"group": ..., "models": {model: row}}`` (for the HTML tables)."""
    groups: dict[str, dict[str, Any]] = {}
    for row in section.get("rows", []):
        if row["dimension"] == dimension:
            entry = groups.setdefault(row["group"], {"group": row["group"], "models": {}})
            entry["models"][row["model"]] = row
    return list(groups.values())


def conversion_moments(data: ReportData) -> pd.DataFrame:
    """One row per conversion: ``lead_id, stage (mql/sql/won), at, value`` (1, or the won
    amount for ``won``, whose row also carries the revenue)."""
    leads = data.leads.assign(lead_id=data.leads["lead_id"].astype(str))
    fb = data.feedback.assign(
        lead_id=data.feedback["lead_id"].astype(str),
        at=pd.to_datetime(data.feedback["at"], utc=True, errors="coerce"),
    )
    decided = fb[fb["decision"].isin([d.value for d in SalesDecision])]
    first_decision = decided.groupby("lead_id")["at"].min()
    handoff = pd.to_datetime(leads["handoff_at"], utc=True, errors="coerce")
    handoff = handoff.fillna(
        pd.Series(first_decision.reindex(leads["lead_id"]).to_numpy(), index=leads.index)
    )
    is_mql = leads["mql"].astype(bool) | leads["lead_id"].isin(first_decision.index)
    mql = pd.DataFrame(
        {"lead_id": leads["lead_id"][is_mql], "stage": "mql", "at": handoff[is_mql], "value": 1.0}
    )
    accepted = fb[fb["decision"] == SalesDecision.ACCEPTED.value].groupby("lead_id")["at"].min()
    sql = pd.DataFrame(
        {"lead_id": accepted.index, "stage": "sql", "at": accepted.to_numpy(), "value": 1.0}
    )
    deals = data.outcomes.assign(
        lead_id=data.outcomes["lead_id"].astype(str),
        closed_at=pd.to_datetime(data.outcomes["closed_at"], utc=True, errors="coerce"),
    )
    last = deals.sort_values(["lead_id", "closed_at"], kind="stable").drop_duplicates(
        "lead_id", keep="last"
    )  # the deal result the funnel counts (facts._add_deal_result)
    won = last[last["outcome"] == Outcome.WON.value]
    won_rows = pd.DataFrame(
        {
            "lead_id": won["lead_id"].to_numpy(),
            "stage": "won",
            "at": won["closed_at"].to_numpy(),
            "value": pd.to_numeric(won["amount"], errors="coerce").fillna(0.0).to_numpy(),
        }
    )
    known = set(leads["lead_id"])
    out = pd.concat([mql, sql, won_rows], ignore_index=True)
    out = out[out["lead_id"].isin(known)].reset_index(drop=True)
    out["at"] = pd.to_datetime(out["at"], utc=True)
    out["conversion"] = np.arange(len(out))
    return out


def lead_touches(data: ReportData, lead_ids: set[str]) -> tuple[pd.DataFrame, pd.Series]:
    """The touches of ``lead_ids``: ``lead_id, at, channel, campaign, touch, order``, the
    lead's own source first; and per lead how many recorded touches had no channel."""
    leads = data.leads[data.leads["lead_id"].astype(str).isin(lead_ids)]
    origin = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].astype(str).to_numpy(),
            "at": _created(leads).to_numpy(),
            "channel": _labels(leads.get("channel"), len(leads)),
            "campaign": _labels(leads.get("campaign"), len(leads)),
            "order": _ORIGIN,
        }
    )
    recorded = data.attribution_touches if data.attribution_touches is not None else data.touches
    unchanneled = pd.Series(0, index=pd.Index([], dtype=object, name="lead_id"), dtype=int)
    parts = [origin]
    if recorded is not None and len(recorded):
        mine = recorded[recorded["lead_id"].astype(str).isin(lead_ids)]
        channel = (
            mine["channel"] if "channel" in mine.columns else pd.Series(None, index=mine.index)
        )
        has_channel = channel.notna() & (channel.astype(str) != "")
        unchanneled = mine.loc[~has_channel, "lead_id"].astype(str).value_counts()
        mine = mine[has_channel]
        # a CRM history's touches carry no campaign; web-analytics imports keep the UTM tag
        named = [c for c in ("campaign", "utm_campaign") if c in mine.columns]
        campaign = None
        for name in named:  # the first of them given (a column-wise bfill transposes)
            campaign = mine[name] if campaign is None else campaign.fillna(mine[name])
        parts.append(
            pd.DataFrame(
                {
                    "lead_id": mine["lead_id"].astype(str).to_numpy(),
                    "at": pd.to_datetime(mine["at"], utc=True, errors="coerce").to_numpy(),
                    "channel": mine["channel"].astype(str).to_numpy(),
                    "campaign": _labels(campaign, len(mine)),
                    "order": np.arange(len(mine)),
                }
            )
        )
    touches = pd.concat(parts, ignore_index=True)
    touches["at"] = pd.to_datetime(touches["at"], utc=True)
    touches = touches[touches["at"].notna()]
    touches = touches.sort_values(["lead_id", "at", "order"], kind="stable").reset_index(drop=True)
    touches["touch"] = np.arange(len(touches))
    return touches, unchanneled


def touch_credits(
    conversions: pd.DataFrame, touches: pd.DataFrame, half_life_days: float
) -> pd.DataFrame:
    """One row per (conversion, touch at or before it) with each model's credit, already
    multiplied by the conversion's value for revenue (column ``<model>``, share of one)."""
    joined = conversions.merge(touches, on="lead_id", suffixes=("", "_touch"))
    joined = joined[joined["at_touch"] <= joined["at"].fillna(joined["at_touch"])]
    # a conversion whose touches all came later (bad clocks) keeps the lead's first touch
    missing = conversions[~conversions["conversion"].isin(joined["conversion"])]
    if len(missing):
        first = touches.drop_duplicates("lead_id", keep="first")
        joined = pd.concat([joined, missing.merge(first, on="lead_id", suffixes=("", "_touch"))])
    joined = joined.sort_values(["conversion", "at_touch", "order"], kind="stable")
    joined = joined.reset_index(drop=True)
    group = joined.groupby("conversion", sort=False)
    n = group["touch"].transform("size").to_numpy()
    pos = group.cumcount().to_numpy()
    first, last = pos == 0, pos == n - 1
    middle_share = np.where(n > 2, (1.0 - 2 * U_ENDS) / np.maximum(n - 2, 1), 0.0)
    u_shaped = np.where(
        n == 1, 1.0, np.where(n == 2, 0.5, np.where(first | last, U_ENDS, middle_share))
    )
    moment = joined["at"].fillna(group["at_touch"].transform("max"))
    age_days = (moment - joined["at_touch"]).dt.total_seconds().to_numpy() / 86_400.0
    weight = np.exp2(-np.maximum(age_days, 0.0) / half_life_days)
    decay = weight / pd.Series(weight).groupby(joined["conversion"].to_numpy()).transform("sum")
    joined["first_touch"] = first.astype(float)
    joined["last_touch"] = last.astype(float)
    joined["linear"] = 1.0 / n
    joined["u_shaped"] = u_shaped
    joined["time_decay"] = decay.to_numpy()
    return joined


def _rows(sums: pd.DataFrame, dimension: str, revenue: float) -> list[dict[str, Any]]:
    """Flat rows ``dimension, group, model, mql, sql, won, revenue, revenue_share`` from
    :func:`group_sums`: the biggest groups first, by the model that spreads credit most
    evenly (its revenue as shown, rounded, so sums added up in another order — the
    roll-ups' — cannot reorder groups that tie)."""
    if sums.empty:
        return []
    key = sums["linear.revenue"].map(lambda v: _num(float(v)))
    ordered = sums.sort_index().assign(_key=key).sort_values("_key", ascending=False, kind="stable")
    out: list[dict[str, Any]] = []
    for group, row in ordered.iterrows():
        for model in MODELS:
            money = float(row[f"{model}.revenue"])
            out.append(
                {
                    "dimension": dimension,
                    "group": str(group),
                    "model": model,
                    "mql": _num(float(row[f"{model}.mql"])),
                    "sql": _num(float(row[f"{model}.sql"])),
                    "won": _num(float(row[f"{model}.won"])),
                    "revenue": _num(money),
                    "revenue_share": _num(money / revenue) if revenue else None,
                }
            )
    return out


def _created(leads: pd.DataFrame) -> pd.Series:
    """When each lead was created (its source touch): ``created_at`` where known (a
    store lead's snapshot), else its cohort time (a CRM lead's ``created_at``, a store
    lead's first scoring)."""
    cohort = pd.to_datetime(leads["cohort_at"], utc=True, errors="coerce")
    if "created_at" not in leads.columns:
        return cohort
    return pd.to_datetime(leads["created_at"], utc=True, errors="coerce").fillna(cohort)


def _labels(values: pd.Series | None, n: int) -> np.ndarray:
    """Group labels: the value as text, ``(unknown)`` where missing."""
    if values is None:
        return np.full(n, UNKNOWN, dtype=object)
    return np.where(values.notna(), values.astype(object).astype(str), UNKNOWN).astype(object)
