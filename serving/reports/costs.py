"""Cost inputs of the funnel report: spend per channel or campaign, LTV and margin.

Given as a JSON, YAML or CSV file (``leadscore report --costs``) or as the ``costs``
query parameter of ``/v1/reports/funnel``; without them CAC, LTV:CAC and ROMI are not
computed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class CostInputs:
    """Spend per channel (and optionally per campaign) plus the LTV and profit assumptions.

    ``channels`` / ``campaigns`` map a name to ``{"marketing": ..., "sales": ...}`` for the
    reported period. LTV = average won amount × ``retention_multiple`` (how many first-deal
    values a customer is worth over its lifetime: an *assumption*, stated in the report).
    ROMI = (won revenue × ``gross_margin`` − marketing spend) / marketing spend × 100 %.
    """

    channels: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    campaigns: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    retention_multiple: float = 3.0
    gross_margin: float = 1.0

    def __post_init__(self) -> None:
        if not (self.retention_multiple > 0 and math.isfinite(self.retention_multiple)):
            raise ValueError("retention_multiple must be a positive number")
        if not (0 < self.gross_margin <= 1):
            raise ValueError("gross_margin must be within (0, 1]")
        for table in (self.channels, self.campaigns):
            for name, row in table.items():
                for key, value in row.items():
                    if key not in {"marketing", "sales"}:
                        raise ValueError(f"costs for {name!r}: unknown field {key!r}")
                    if not isinstance(value, int | float) or not value >= 0:
                        raise ValueError(f"costs for {name!r}: {key} must be a number >= 0")

    @property
    def has_spend(self) -> bool:
        return bool(self.channels or self.campaigns)

    def spend(self, dimension: str, group: str | None) -> tuple[float, float] | None:
        """``(marketing, sales)`` for one group, the sum over channels for the total."""
        if group is None:
            if not self.channels:
                return None
            rows = list(self.channels.values())
        else:
            table = {"channel": self.channels, "campaign": self.campaigns}.get(dimension, {})
            if group not in table:
                return None
            rows = [table[group]]
        return (
            float(sum(r.get("marketing", 0.0) for r in rows)),
            float(sum(r.get("sales", 0.0) for r in rows)),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostInputs:
        known = {"channels", "campaigns", "retention_multiple", "gross_margin"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown cost field(s): {', '.join(unknown)}")

        def table(value: Any, what: str) -> dict[str, dict[str, float]]:
            if value is None:
                return {}
            if not isinstance(value, Mapping):
                raise ValueError(f"{what} must map a name to {{marketing, sales}}")
            out: dict[str, dict[str, float]] = {}
            for name, row in value.items():
                if not isinstance(row, Mapping):
                    raise ValueError(f"{what}.{name} must be {{marketing, sales}}")
                out[str(name)] = {
                    str(k): _as_float(v, f"{what}.{name}.{k}") for k, v in row.items()
                }
            return out

        return cls(
            channels=table(data.get("channels"), "channels"),
            campaigns=table(data.get("campaigns"), "campaigns"),
            retention_multiple=_as_float(data.get("retention_multiple", 3.0), "retention_multiple"),
            gross_margin=_as_float(data.get("gross_margin", 1.0), "gross_margin"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": {k: dict(v) for k, v in self.channels.items()},
            "campaigns": {k: dict(v) for k, v in self.campaigns.items()},
            "retention_multiple": self.retention_multiple,
            "gross_margin": self.gross_margin,
        }


def _as_float(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite")
    return number


def load_costs(path: Path) -> CostInputs:
    """Read cost inputs from JSON, YAML or CSV.

    JSON / YAML: ``{"channels": {"paid_search": {"marketing": 120000, "sales": 40000}},
    "campaigns": {...}, "retention_multiple": 3, "gross_margin": 0.8}``.
    CSV: one row per channel (``channel,marketing,sales``) or per campaign
    (``campaign,marketing,sales``); the assumptions keep their defaults.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path)
        key = "channel" if "channel" in frame.columns else "campaign"
        if key not in frame.columns:
            raise ValueError("a costs CSV needs a 'channel' or 'campaign' column")
        rows = {
            str(r[key]): {
                c: _as_float(r[c], f"{r[key]}.{c}")
                for c in ("marketing", "sales")
                if c in frame.columns and pd.notna(r[c])
            }
            for r in frame.to_dict("records")
        }
        return CostInputs.from_dict({"channels" if key == "channel" else "campaigns": rows})
    text = path.read_text()
    if suffix in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ValueError("the costs file must hold a mapping")
    return CostInputs.from_dict(data)
