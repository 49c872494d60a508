"""The simulated weeks' leads, and everything sales will do with them (:func:`simulation_world`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.history import CRMHistory
from training.simulate.config import WEEK, SimConfig
from training.synthetic import generate

_WORLD_TABLES = ("leads", "touches", "feedback", "outcomes", "oracle")


def simulation_world(cfg: SimConfig, start: pd.Timestamp) -> CRMHistory:
    """The leads of the simulated weeks (and everything sales will do with them).

    Two generated worlds from one seed derived from ``cfg.seed`` (so neither replays the
    base history's random stream): a calm one (``drift=False``) supplies every lead
    created before the drift, a drifted one (``drift=True``, the hidden drift on
    ``drift_channel``) every lead created after it. The run without the drift uses the
    calm world throughout, so it shares the pre-drift weeks lead for lead and is an exact
    control. Both are generated ``drift_volume`` times larger and thinned back to the
    usual rate, except the drifting channel's leads created after the drift, which are
    all kept: that channel's volume is multiplied by ``drift_volume`` (a new lead vendor)
    while everything else, seasonality included, stays as it was. Lead ids are renumbered
    ``S000001…`` by creation time (the base history's are ``L…``: a served lead must
    never be mistaken for a historical one when feedback is merged).
    """
    drift_at = start + cfg.drift_week * WEEK
    calm = _world(cfg, start, drift_at, drift=False)
    parts = [(calm, _kept(cfg, calm, drift_at, 2, False if cfg.drift else None))]
    if cfg.drift:
        drifted = _world(cfg, start, drift_at, drift=True)
        parts.append((drifted, _kept(cfg, drifted, drift_at, 3, True)))
    tables: dict[str, list[pd.DataFrame]] = {t: [] for t in _WORLD_TABLES}
    for part, (history, ids) in enumerate(parts):
        for name in _WORLD_TABLES:
            frame = getattr(history, name)
            tables[name].append(frame[frame["lead_id"].isin(set(ids))].assign(_part=part))
    renumbered = _renumbered(tables)
    return CRMHistory(
        leads=renumbered["leads"],
        touches=renumbered["touches"],
        feedback=renumbered["feedback"],
        outcomes=renumbered["outcomes"],
        snapshot_at=calm.snapshot_at,
        oracle=renumbered["oracle"],
        extra={**calm.extra, "drift_at": drift_at if cfg.drift else None},
    )


def _world(cfg: SimConfig, start: pd.Timestamp, drift_at: pd.Timestamp, drift: bool) -> CRMHistory:
    """One generated world, ``drift_volume`` times larger than the run needs, from a seed
    derived from ``cfg.seed`` (so it does not replay the base history's random stream)."""
    months = int(np.ceil(cfg.weeks * 7 / 30.4)) + 1
    boost = max(cfg.drift_volume, 1.0)
    seed = int(np.random.SeedSequence([cfg.seed, 1]).generate_state(1)[0])
    n_leads = int(cfg.leads_per_week * months * 30.4 / 7 * boost)
    return generate(
        n_leads,
        months=months,
        start=str(start.date()),
        seed=seed,
        drift=drift,
        drift_at=str(drift_at.date()) if drift else None,
        hidden_drift_channel=cfg.drift_channel if drift else None,
    )


def _kept(
    cfg: SimConfig, history: CRMHistory, drift_at: pd.Timestamp, stream: int, after: bool | None
) -> pd.Series:
    """The world's leads thinned back to the usual rate; ``after``: only those created
    after the drift (the drifting channel's all kept), ``False``: only those before."""
    boost = max(cfg.drift_volume, 1.0)
    leads = history.leads
    keep = np.random.default_rng([cfg.seed, stream]).random(len(leads)) < 1.0 / boost
    if after is not None:
        late = (leads["created_at"] >= drift_at).to_numpy()
        if after:
            keep = (keep | (leads["channel"] == cfg.drift_channel).to_numpy()) & late
        else:
            keep &= ~late
    return leads.loc[keep, "lead_id"]


def _renumbered(tables: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The parts' tables as one, lead ids ``S000001…`` by creation time."""
    leads = pd.concat(tables["leads"], ignore_index=True)
    leads = leads.sort_values(["created_at", "_part", "lead_id"], kind="stable")
    new_id = {
        (part, old): f"S{i + 1:06d}"
        for i, (part, old) in enumerate(zip(leads["_part"], leads["lead_id"], strict=True))
    }
    out: dict[str, pd.DataFrame] = {}
    for name, frames in tables.items():
        frame = pd.concat(frames, ignore_index=True)
        frame["lead_id"] = [
            new_id[(p, old)] for p, old in zip(frame["_part"], frame["lead_id"], strict=True)
        ]
        out[name] = frame.drop(columns="_part")
    return out
