"""The result of an import: the history, its feature spec, what was set aside, and the
training settings a flat export calls for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd

from scoring.features import FeatureSpec
from training.history import CRMHistory
from training.importing.constants import FLAT_DEFAULTS
from training.importing.mapping import CRMMapping
from training.threshold import PolicyInputs
from training.train import TrainConfig

# --- applying a mapping -----------------------------------------------------------------


@dataclass
class ImportedExport:
    """A flat export turned into a history, with the spec and settings to train on it.

    ``sales_side`` holds the raw sales-side columns per lead (in memory only, never saved
    with the history): for analyses such as the benchmark's leak demonstration.
    """

    history: CRMHistory
    spec: FeatureSpec
    mapping: CRMMapping
    has_time: bool
    sales_side: pd.DataFrame
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def train_config(
        self, seed: int = 42, policy: PolicyInputs | None = None, **overrides: Any
    ) -> TrainConfig:
        """The :class:`~training.train.TrainConfig` for this export.

        * one stage, ``won`` (the file has one outcome, not a decision log);
        * ``plain`` label rules unless the mapping says otherwise: a flat export holds
          one final outcome per lead, so the rejection-aware rules' deferral window and
          exclusions have nothing to wait for — plain gives ``y_won = converted``;
        * a time split (the latest 20 % of MQLs test, the 20 % before validation) when
          the file has a time column, else stratified; ``maturity_days=0`` (open leads
          carry no label, so nothing needs to mature);
        * :data:`FLAT_DEFAULTS`, then the mapping's ``train:`` hyperparameters and
          policy, then ``overrides``.
        Without a time column the capacity policy (handoffs *per day*) is meaningless,
        so it falls back to the mapping's policy or ``expected_value``.
        """
        settings = dict(self.mapping.train)
        mapped_policy = settings.pop("policy", None)
        params: dict[str, Any] = {
            "seed": seed,
            "stages": ("won",),
            "split": "time" if self.has_time else "stratified",
            "maturity_days": 0,
            "label_rules": "plain",
            **FLAT_DEFAULTS,
            **settings,
        }
        if self.has_time:
            params.update(_time_windows(self.history))
        chosen = policy
        fallback = PolicyInputs(**mapped_policy) if mapped_policy else None
        if chosen is None:
            chosen = fallback or PolicyInputs(
                method="capacity" if self.has_time else "expected_value"
            )
        elif not self.has_time and chosen.method == "capacity":
            chosen = fallback or replace(chosen, method="expected_value")
            note = (
                f"no time column: the capacity policy needs leads per day; using "
                f"{chosen.method} instead"
            )
            if note not in self.notes:
                self.notes.append(note)
        params["policy"] = chosen
        params.update(overrides)
        valid = {f.name for f in fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in params.items() if k in valid})


def _time_windows(history: CRMHistory) -> dict[str, int]:
    """Test = the latest 20 % of MQLs, validation the 20 % before (in whole days)."""
    mql = history.leads["mql_at"].dropna()
    if mql.empty:
        return {}
    q60, q80 = mql.quantile(0.6), mql.quantile(0.8)
    day = pd.Timedelta(days=1)
    test_days = max(1, math.ceil((history.snapshot_at - q80) / day))
    valid_days = max(1, math.ceil((q80 - q60) / day))
    return {"test_days": test_days, "valid_days": valid_days}
