"""The funnel section: lead → MQL → SQL → won per group, with revenue and unit economics.

Per channel, campaign and segment: counts and conversion rates, revenue and LTV, and —
when cost inputs are given (:class:`~serving.reports.costs.CostInputs`) — CAC, LTV:CAC
and ROMI, with DOMAIN.md's definitions and targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from scoring.drift import _num
from serving.reports.costs import CostInputs
from serving.reports.facts import (
    GroupSums,
    aggregate,
    check_dims,
    lead_facts,
    ratio,
    total_and_rows,
)
from serving.reports.notes import Note
from serving.reports.report_data import DIMENSIONS, ReportData

LTV_CAC_TARGET = 3.0
"""DOMAIN.md's target: a customer is worth at least three times what it cost to win."""
ROMI_TARGET_PCT = 200.0
"""DOMAIN.md's target return on marketing investment, in percent."""


def funnel_report(
    data: ReportData,
    costs: CostInputs | None = None,
    group_by: Sequence[str] = DIMENSIONS,
    *,
    facts: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Lead → MQL → SQL → won per group, with revenue, LTV, CAC, LTV:CAC and ROMI."""
    dims = check_dims(group_by)
    facts = lead_facts(data) if facts is None else facts
    costs = costs or CostInputs()
    sums = aggregate(
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
    return funnel_from_sums(sums, costs)


def funnel_from_sums(sums: GroupSums, costs: CostInputs | None = None) -> dict[str, Any]:
    """The funnel section from its per-group sums (``leads, mql, decided, sql, won, lost,
    revenue``): made by :func:`aggregate` over lead facts, or by SQL
    (:mod:`serving.reports.store_sql`), so both paths render the same JSON."""
    costs = costs or CostInputs()
    total, rows = total_and_rows(
        sums, lambda dimension, group, agg: _funnel_row(agg, costs, dimension or "", group)
    )
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
            Note(
                "funnel.cohort",
                "rates are per cohort: deals still open count as not (yet) won, so recent "
                "cohorts show lower SQL→won and ROMI than they will end with",
            ),
            (
                Note(
                    "funnel.costs_period",
                    "costs are taken to cover the same period as the leads reported",
                )
                if costs.has_spend
                else Note(
                    "funnel.no_costs", "no cost inputs: CAC, LTV:CAC and ROMI are not computed"
                )
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
        "lead_to_mql": ratio(mql, leads),
        "mql_to_sql": ratio(sql, mql),
        "sql_to_won": ratio(won, sql),
        "win_rate_closed": ratio(won, won + lost),
        "mql_to_won": ratio(won, mql),
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
