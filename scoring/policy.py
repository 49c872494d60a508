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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from scoring.contract import HandoffDecision

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

    def decide(self, p_won: np.ndarray, p_sql: np.ndarray | None = None) -> np.ndarray:
        """Return band indices into :data:`BANDS` (0 disqualify, 1 nurture, 2 hand over)."""
        p_won = np.asarray(p_won, dtype=float)
        bands = np.ones(len(p_won), dtype=np.int8)
        gate = p_sql if p_sql is not None else p_won
        bands[np.asarray(gate, dtype=float) < self.disqualify_below] = 0
        bands[p_won >= self.handoff_threshold] = 2
        return bands

    def decisions(self, p_won: np.ndarray, p_sql: np.ndarray | None = None) -> list[str]:
        return [BANDS[b].value for b in self.decide(p_won, p_sql)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdPolicy:
        return cls(**data)
