"""Choosing the handoff threshold, on validation data, by one of three business rules.

* ``expected_value`` — hand a lead over when P(won) x expected deal value exceeds the
  cost of working it (a sales contact: discovery call, 3+ attempts, BANT).
* ``capacity`` — sales can take at most N new leads a day within the 8 h SLA: the
  threshold is the score of the N-th best lead of an average day (never below the
  expected-value break-even: capacity is a ceiling, not a target).
* ``acceptance_rate`` — the lowest threshold at which the leads handed over are
  accepted as SQL at least ``min_acceptance_rate`` of the time (the rate sales and
  marketing agree on in the SLA).

The result is a :class:`scoring.policy.ThresholdPolicy` stored with the model version.
:func:`policy_warnings` flags a policy that hands over more than half of the leads, or
none: either the inputs do not fit the data (a capacity of 12 a day on an export of 3
leads a day hands every lead over) or the model cannot separate leads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from scoring.policy import ThresholdPolicy

Method = Literal["expected_value", "capacity", "acceptance_rate"]
MAX_HANDOFF_SHARE = 0.5
"""A policy handing over more than this share of the validation leads gets a warning."""


@dataclass(frozen=True)
class PolicyInputs:
    """The business inputs of the threshold choice (all stored with the model)."""

    method: Method = "capacity"
    expected_deal_value: float = 75_000.0
    contact_cost: float = 600.0
    daily_capacity: float = 12.0
    min_acceptance_rate: float = 0.6
    disqualify_below: float = 0.05


def choose_policy(
    p_won: np.ndarray,
    p_sql: np.ndarray | None,
    mql_at: pd.Series,
    inputs: PolicyInputs,
    y_sql: np.ndarray | None = None,
) -> ThresholdPolicy:
    """Pick the handoff threshold on validation-period scores.

    ``y_sql`` (observed acceptance) is used by ``acceptance_rate`` when available;
    otherwise the calibrated P(SQL) stands in for it.
    """
    p_won = np.asarray(p_won, dtype=float)
    breakeven = inputs.contact_cost / inputs.expected_deal_value
    details: dict[str, float] = {"breakeven_threshold": breakeven}
    if inputs.method == "expected_value":
        threshold = breakeven
    elif inputs.method == "capacity":
        days = max((mql_at.max() - mql_at.min()).total_seconds() / 86_400, 1.0)
        allowed = int(np.floor(inputs.daily_capacity * days))
        details["validation_days"] = days
        if allowed >= len(p_won):
            threshold = breakeven
        else:
            cut = np.sort(p_won)[::-1][max(allowed - 1, 0)]
            threshold = max(
                float(np.nextafter(cut, np.inf)) if allowed == 0 else float(cut), breakeven
            )
    elif inputs.method == "acceptance_rate":
        if y_sql is None and p_sql is None:
            raise ValueError("acceptance_rate needs P(SQL) or observed acceptance (y_sql)")
        accepted = np.asarray(y_sql if y_sql is not None else p_sql, dtype=float)
        order = np.argsort(-p_won)
        running = np.cumsum(accepted[order]) / np.arange(1, len(order) + 1)
        # a threshold hands over *every* lead with that score, so only the end of a run
        # of tied scores is a possible cut (isotonic calibration makes many ties)
        ranked = p_won[order]
        last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
        ok = np.flatnonzero((running >= inputs.min_acceptance_rate) & last_of_tie)
        threshold = float(p_won[order][ok[-1]]) if ok.size else float(p_won.max())
    else:
        raise ValueError(f"unknown threshold method {inputs.method!r}")
    handed = p_won >= threshold
    details["handoff_share_validation"] = float(handed.mean())
    if p_sql is not None and handed.any():
        details["expected_acceptance_rate"] = float(np.mean(np.asarray(p_sql)[handed]))
    return ThresholdPolicy(
        handoff_threshold=float(threshold),
        disqualify_below=inputs.disqualify_below,
        method=inputs.method,
        inputs={**inputs.__dict__, **details},
    )


def policy_warnings(policy: ThresholdPolicy) -> list[str]:
    """One line per problem: the policy hands over more than half of the leads, or none."""
    share = policy.inputs.get("handoff_share_validation")
    if share is None:
        return []
    where = f"the {policy.method} policy (threshold P(won) >= {policy.handoff_threshold:.4f})"
    if share > MAX_HANDOFF_SHARE:
        hint = ""
        if policy.method == "capacity":
            hint = (
                f"; daily_capacity {policy.inputs.get('daily_capacity')} is more than the "
                "leads arriving a day, so it does not limit anything"
            )
        return [f"{where} hands {share:.1%} of the validation leads to sales{hint}"]
    if share == 0:
        return [f"{where} hands no validation lead to sales"]
    return []
