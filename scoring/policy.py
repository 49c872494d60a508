"""The handoff decision policy: which band a scored lead falls in.

The policy is versioned *with* the model (it is part of the MLflow model), because a
threshold only means something for the probabilities of the model it was chosen for.
How the threshold was chosen (expected value, sales capacity or a minimum SQL
acceptance rate) lives in ``training.threshold``; this module only applies it.

Bands, on the calibrated P(won) of the lead:

* ``hand_to_sales`` — P(won) >= ``handoff_threshold``;
* ``disqualify`` — P(SQL) below ``disqualify_below`` (sales would almost surely
  reject it: spending a contact on it is waste, and nurturing will not fix the fit);
* ``nurture`` — everything else: back to marketing, re-scored as it engages.

Engagement decays (``docs/lifecycle.md``): a lead whose last touch is more than
``stale_after_days`` old at the scoring moment is never handed over, however well it
fits; it is nurtured until it engages again. Touch features already fade (a 14-day
half-life) but a tree model cannot extrapolate past the silences it saw in training,
so a top-fit lead silent for 216 days kept its hand-over on fit alone. 90 days is the
longest touch-count window the features have (``n_touches_90d``); by then a touch
weighs 0.5^(90/14) ≈ 1 % of a fresh one. A lead without any touch on record is not
"silent" (a flat export has no touch log): the rule does not apply to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from scoring.contract import HandoffDecision

STALE_AFTER_DAYS = 90.0
"""Default silence after which a lead is not handed over (see the module docstring)."""

BANDS: tuple[HandoffDecision, ...] = (
    HandoffDecision.DISQUALIFY,
    HandoffDecision.NURTURE,
    HandoffDecision.HAND_TO_SALES,
)


@dataclass(frozen=True)
class ThresholdPolicy:
    """A versioned decision policy.

    ``inputs`` records what the threshold was chosen from (method, deal value, cost
    of a contact, capacity, target acceptance rate, ...), so a reviewer can see *why*
    the line is where it is.
    """

    handoff_threshold: float
    disqualify_below: float
    method: str
    score: str = "p_won"
    inputs: dict[str, Any] = field(default_factory=dict)
    stale_after_days: float | None = STALE_AFTER_DAYS
    """No hand-over after this many days without a touch (``None``: no decay rule)."""

    def decide(
        self,
        p_won: np.ndarray,
        p_sql: np.ndarray | None = None,
        days_silent: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return band indices into :data:`BANDS` (0 disqualify, 1 nurture, 2 hand over).

        ``days_silent`` (days since the last touch, NaN: no touch on record) applies the
        decay rule: a hand-over older than ``stale_after_days`` of silence is nurtured.
        """
        p_won = np.asarray(p_won, dtype=float)
        bands = np.ones(len(p_won), dtype=np.int8)
        gate = p_sql if p_sql is not None else p_won
        bands[np.asarray(gate, dtype=float) < self.disqualify_below] = 0
        bands[p_won >= self.handoff_threshold] = 2
        if days_silent is not None and self.stale_after_days is not None:
            with np.errstate(invalid="ignore"):
                stale = np.asarray(days_silent, dtype=float) > self.stale_after_days
            bands[(bands == 2) & stale] = 1
        return bands

    def decisions(
        self,
        p_won: np.ndarray,
        p_sql: np.ndarray | None = None,
        days_silent: np.ndarray | None = None,
    ) -> list[str]:
        return [BANDS[b].value for b in self.decide(p_won, p_sql, days_silent)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdPolicy:
        return cls(**data)
