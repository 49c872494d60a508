"""The generator's entry point: month blocks of leads, simulated and assembled.

Each block runs the whole causal chain (population → touches → sales path → deals)
with its own random stream, which is what keeps drift / no-drift histories identical
before the drift month.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
import pandas as pd

from scoring.contract import (
    Channel,
)
from training.history import CRMHistory
from training.synthetic.arrays import _stack
from training.synthetic.deals import _Deals, _draw_deals
from training.synthetic.effects import _CHANNELS
from training.synthetic.frames import (
    _feedback_frame,
    _lead_ids,
    _leads_frame,
    _outcomes_frame,
    _touches_frame,
)
from training.synthetic.population import _draw_arrivals, _draw_population, _Population
from training.synthetic.sales import _draw_sales_path, _SalesPath
from training.synthetic.touches import (
    _draw_post_mql_touches,
    _draw_pre_mql_touches,
    _engagement,
    _touch_channels,
    _Touches,
)
from training.synthetic.window import _make_window, _Window

# --- public API ----------------------------------------------------------------------------


def generate(
    n_leads: int = 20_000,
    *,
    months: int = 18,
    start: str = "2025-01-01",
    seed: int = 42,
    drift: bool = False,
    drift_at: str | None = None,
    hidden_drift_channel: str | None = None,
) -> CRMHistory:
    """Generate a synthetic CRM history with the planted mechanisms of the module doc.

    ``snapshot_at`` is the end of the window (``start`` + ``months``): feedback,
    outcomes and touches after it are not in the tables, as in a real export.
    ``drift_at`` is only meaningful with ``drift=True`` (default: the first of the month
    two thirds into the window). The same arguments always give identical frames.

    ``hidden_drift_channel`` (with ``drift=True``) adds a drift no feature shows: from
    ``drift_at`` that channel's leads look exactly as before (same touches, same
    firmographics) but sales accepts far fewer of them — bought or bot-inflated leads.
    Only sales feedback can reveal it; the funnel simulation uses it to show the loop.

    Leads are simulated in blocks by creation month, each block with its own random
    stream derived from ``seed``. That is why ``drift=True`` and ``drift=False`` with the
    same seed share an identical history up to the month that contains ``drift_at``
    (a clean before/after comparison), and why intermediate arrays stay small at 1M leads.
    """
    _check_arguments(n_leads, months, drift, drift_at, hidden_drift_channel)
    window = _make_window(start, months, drift, drift_at)
    if hidden_drift_channel is not None:
        hidden = list(_CHANNELS).index(Channel(hidden_drift_channel))
        window = replace(window, hidden_channel=hidden)
    created = _draw_arrivals(_block_rng(seed, 0), n_leads, window)
    block = np.searchsorted(window.month_edges, created, side="right") - 1
    edges = np.searchsorted(block, np.arange(months + 1))
    spans = [(b, int(lo), int(hi)) for b, (lo, hi) in enumerate(pairwise(edges)) if hi > lo]
    blocks = [
        _simulate_block(_block_rng(seed, b + 1), created[lo:hi], window) for b, lo, hi in spans
    ]
    offsets = [lo for _, lo, _ in spans]
    pop = _stack([b.pop for b in blocks])
    path = _stack([b.path for b in blocks])
    touches = _stack([b.touches for b in blocks], offsets, "lead")
    deals = _stack([b.deals for b in blocks], offsets, "lead")
    del blocks  # every array is in the stacked copies now: the tables need the memory

    ids = _lead_ids(n_leads)
    # each table's arrays go once it is built (ten million touches' are ~0.5 GB): the
    # tables of a million leads are then not all built beside all the arrays
    touch_frame = _touches_frame(touches, ids, window)
    del touches
    leads = _leads_frame(pop, ids, window)
    del pop
    outcomes = _outcomes_frame(deals, ids, window)
    del deals
    return CRMHistory(
        leads=leads,
        touches=touch_frame,
        feedback=_feedback_frame(path, ids, window),
        outcomes=outcomes,
        snapshot_at=window.end,
        oracle=pd.DataFrame({"lead_id": ids, "p_sql_true": path.p_sql, "p_won_true": path.p_won}),
        extra={
            "generator": "training.synthetic",
            "seed": seed,
            "drift_at": window.drift_at if drift else None,
        },
    )


def _check_arguments(
    n_leads: int,
    months: int,
    drift: bool,
    drift_at: str | None,
    hidden_drift_channel: str | None,
) -> None:
    """Refuse arguments that would silently mean nothing (a drift date without drift)."""
    if n_leads < 1:
        raise ValueError("n_leads must be at least 1")
    if months < 1:
        raise ValueError("months must be at least 1")
    if drift_at is not None and not drift:
        raise ValueError("drift_at is only used with drift=True")
    if hidden_drift_channel is not None and not drift:
        raise ValueError("hidden_drift_channel is only used with drift=True")


# --- blocks -----------------------------------------------------------------------------------


def _block_rng(seed: int, block: int) -> np.random.Generator:
    """An independent stream per block (0 = arrivals), stable across ``drift`` settings."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


@dataclass
class _Block:
    """Everything simulated for the leads created in one calendar month."""

    pop: _Population
    path: _SalesPath
    touches: _Touches
    deals: _Deals


def _simulate_block(rng: np.random.Generator, created: np.ndarray, window: _Window) -> _Block:
    """The whole causal chain for a block of leads: profile → touches → sales → deals."""
    pop = _draw_population(rng, created, window)
    pre = _draw_pre_mql_touches(rng, pop)
    engagement, total = _engagement(pop, pre)
    path = _draw_sales_path(rng, pop, window, engagement, total)
    deals = _draw_deals(rng, pop, path)
    post = _draw_post_mql_touches(rng, pop, path)
    touches = _stack([pre, post])
    touches.channel = _touch_channels(rng, pop, touches)
    return _Block(pop, path, touches, deals)
