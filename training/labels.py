"""Labels per funnel stage, shaped by the sales rejection tags.

The rules (``aware``, the default) read *why* sales rejected a lead:

* accepted as SQL at any time → ``y_sql = 1``;
* rejected as ``not_icp``, ``no_budget``, ``competitor_won``, ``no_response`` or
  ``other`` → ``y_sql = 0``: the buyer was not going to buy;
* rejected as ``duplicate`` or ``bad_contact_data`` → excluded: these say nothing
  about the buyer, only about the record;
* rejected as ``too_early`` or returned to nurture → labelled by what the lead did
  *later*: ``1`` if it came back and was accepted, ``0`` only once the deferral window
  has passed without that, excluded while it still may come back.

``y_won`` (MQL→won) is ``y_sql`` times the deal outcome; an SQL whose deal is still
open is excluded. ``y_won_given_sql`` is the outcome among SQLs.

The ``plain`` rules are the baseline the ablation compares against: the first sales
decision only, every rejection a 0, nothing excluded.

The ``aware-provisional`` rules are the aware ones, except that a deferred lead
(``too_early`` or returned to nurture) still inside its deferral window is a *provisional*
``y_sql = 0`` instead of excluded; it becomes ``1`` as soon as it comes back and is
accepted, as under the aware rules. For a weekly retraining whose labels would otherwise
lean positive (the rejections that may still come back are missing); it makes no
difference to rows older than the window (a 180-day ``maturity_days``). ``docs/loop.md``
has what it did in the simulation.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd

from scoring.contract import (
    DATA_QUALITY_REASONS,
    DEFERRED_REASONS,
    NEGATIVE_REASONS,
    Outcome,
    SalesDecision,
)
from training.history import CRMHistory

LabelRules = Literal["aware", "plain", "aware-provisional"]
DEFER_WINDOW_DAYS = 180
STAGE_LABELS: dict[str, str] = {"sql": "y_sql", "won_given_sql": "y_won_given_sql", "won": "y_won"}
"""The label column each funnel stage is learned on (training, the prior and the registry
read it; :func:`stage_labels` makes the columns)."""


def stage_labels(
    history: CRMHistory, rules: LabelRules = "aware", defer_window_days: int = DEFER_WINDOW_DAYS
) -> pd.DataFrame:
    """One row per lead: ``y_sql``, ``y_won_given_sql``, ``y_won`` (float, NaN = excluded).

    Also returns the first decision and reason (``first_decision``, ``first_reason``)
    and ``sql_at``, which the rejection-reason model and the reports use.
    """
    if rules not in get_args(LabelRules):
        raise ValueError(f"unknown label rules {rules!r}: use {', '.join(get_args(LabelRules))}")
    leads = history.leads[["lead_id", "mql_at"]].copy()
    fb = history.feedback.sort_values(["lead_id", "at"], kind="stable")
    # the first *row* per lead: groupby().first() would take the first non-null value of
    # each column separately and pair a later row's reason with the first decision
    first = fb.drop_duplicates("lead_id", keep="first").set_index("lead_id")
    first = first[["decision", "reason", "at"]]
    first.columns = ["first_decision", "first_reason", "first_at"]
    accepted = fb[fb["decision"] == SalesDecision.ACCEPTED].groupby("lead_id")["at"].min()
    out = leads.join(first, on="lead_id").join(accepted.rename("sql_at"), on="lead_id")

    outcomes = history.outcomes.drop_duplicates("lead_id", keep="last").set_index("lead_id")
    won = outcomes["outcome"].map({Outcome.WON.value: 1.0, Outcome.LOST.value: 0.0})
    out["deal_outcome"] = out["lead_id"].map(won)

    has_feedback = out["first_decision"].notna()
    first_reason = out["first_reason"].astype(object)
    if rules == "plain":
        y_sql = np.where(out["first_decision"] == SalesDecision.ACCEPTED, 1.0, 0.0)
        y_sql = np.where(has_feedback, y_sql, np.nan)
        first_accept = out["first_decision"] == SalesDecision.ACCEPTED
        sql_outcome = np.where(first_accept, out["deal_outcome"], np.nan)
    else:
        ever = out["sql_at"].notna()
        rejected = out["first_decision"] == SalesDecision.REJECTED
        returned = out["first_decision"] == SalesDecision.RETURNED_TO_NURTURE
        negative = rejected & first_reason.isin({r.value for r in NEGATIVE_REASONS})
        quality = rejected & first_reason.isin({r.value for r in DATA_QUALITY_REASONS})
        deferred = (rejected & first_reason.isin({r.value for r in DEFERRED_REASONS})) | returned
        matured = out["mql_at"] <= history.snapshot_at - pd.Timedelta(days=defer_window_days)
        if rules == "aware-provisional":
            matured[:] = True  # still deferred = a 0 for now; a comeback below makes it a 1
        y_sql = np.full(len(out), np.nan)
        y_sql[(negative | (deferred & matured)).to_numpy()] = 0.0
        y_sql[quality.to_numpy()] = np.nan
        y_sql[ever.to_numpy()] = 1.0
        y_sql[(~has_feedback).to_numpy()] = np.nan
        sql_outcome = np.where(ever, out["deal_outcome"], np.nan)

    out["y_sql"] = y_sql
    out["y_won_given_sql"] = np.where(out["y_sql"] == 1.0, sql_outcome, np.nan)
    out["y_won"] = np.where(out["y_sql"] == 0.0, 0.0, out["y_won_given_sql"])
    return out.drop(columns=["deal_outcome", "first_at"])
