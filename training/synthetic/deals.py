"""Deals: every SQL becomes one, won with its path's win probability, amount and cycle
from company size, loss reasons from competition, budget and cycle length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synthetic.arrays import _choice_rows, _lookup, _size_param, _softmax
from training.synthetic.effects import (
    _AMOUNT_MEDIAN,
    _AMOUNT_SIGMA,
    _CYCLE_SCALE_DAYS,
    _CYCLE_SHAPE,
)
from training.synthetic.population import _Population
from training.synthetic.sales import _SalesPath

# --- deals -----------------------------------------------------------------------------------


@dataclass
class _Deals:
    lead: np.ndarray
    won: np.ndarray
    amount: np.ndarray
    closed_at: np.ndarray
    loss_reason: np.ndarray  # codes into _LOSS_REASONS, -1 for won


def _draw_deals(rng: np.random.Generator, pop: _Population, path: _SalesPath) -> _Deals:
    """Every SQL becomes a deal; won with the path's win probability."""
    lead = np.flatnonzero(np.isfinite(path.sql_at))
    m = len(lead)
    won = rng.random(m) < path.p_win[lead]
    cycle_factor = _lookup(_size_param("cycle"), pop.size[lead])
    cycle = np.maximum(rng.gamma(_CYCLE_SHAPE, _CYCLE_SCALE_DAYS, m) * cycle_factor, 1.0)
    amount_factor = _lookup(_size_param("amount"), pop.size[lead])
    amount = _AMOUNT_MEDIAN * amount_factor * np.exp(rng.normal(0.0, _AMOUNT_SIGMA, m))
    amount = np.where(won, np.round(amount, -2), np.nan)
    stretch = cycle / 90.0 - 1.0
    loss_logits = np.column_stack(
        [
            -0.2 + 1.0 * pop.competition[lead] + 0.8 * stretch,  # competitor
            0.2 + 0.3 * stretch,  # no_decision
            -0.3 - 0.8 * pop.budget[lead],  # price
            np.full(m, -0.5),  # timing
        ]
    )
    loss = _choice_rows(rng, _softmax(loss_logits))
    return _Deals(
        lead=lead,
        won=won,
        amount=amount,
        closed_at=path.sql_at[lead] + cycle,
        loss_reason=np.where(won, -1, loss),
    )
