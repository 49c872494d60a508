"""A funnel simulation that proves the loop: weeks of leads, sales, feedback and retraining.

Against a *running* server, week after week:

1. the week's new MQLs (from the synthetic generator, continuing after the 18-month
   history the first champion learned from) are scored through ``POST /v1/score/batch``
   at their MQL time, with the touches they had made by then;
2. a simulated sales team works the leads the server handed over, following the SLA
   (accept/reject within 8 h, first contact within 24 h, ≥3 attempts before
   ``no_response``): what it decides for a lead is what the generator's hidden truth
   says that lead would get; rejected leads go back to nurturing (``too_early`` ones
   may come back and be accepted 30–150 days later); accepted ones close as won or lost
   ~90 days on;
3. every decision and outcome goes back through ``POST /v1/feedback`` in the week it
   happens, with its own timestamp;
4. every ``retrain_every`` weeks, a challenger is trained on history + feedback
   (:func:`training.retrain.retrain`, with :func:`sim_train_config`) and put through the
   promotion gate; the server is told to reload.

Leads the server does not hand over get no sales feedback — as in real life, the loop
only learns from what it sends.

The drift scenario (``drift=True``): from ``drift_week`` on, the leads of
``drift_channel`` (``paid_search``) are silently worse — they look the same (same
campaigns, firmographics and touches) but sales accepts far fewer of them (an
acceptance logit penalty of 3: bought or bot-inflated leads) — and marketing, pleased
with the cheap volume, triples that channel (``drift_volume``: a new lead vendor), so the
bad leads become a third of the MQLs. On top, the generator's own drift: paid-social
quality falls (visible in the features) and a new industry, ``crypto``, appears. A
frozen model keeps handing the vendor's leads over; the loop can learn it only from
the rejections, and no sooner than its weekly clock allows (labels mature for a week,
a week is held out for the gate, a week validates: a challenger trains on feedback up
to three weeks old). ``drift=False`` runs the same weeks without any of it — the same
leads up to the drift — as a control.

Each week's row (:class:`WeekRow`) also carries what only a simulation can know: the
generator's true P(SQL) and P(won) of the handed and the not-handed leads (calibration
where the loop is blind) and the true expected SQLs and wins among the week's top
``capacity`` leads by served P(won) (ranking quality at a fixed volume, comparable
across runs). ``docs/loop.md`` has the figures of the default runs and how to
reproduce them; the same seed gives the same table.

The package's modules: :mod:`~training.simulate.config` (the run's settings, the weekly
row, retraining on the weekly clock), :mod:`~training.simulate.world` (the simulated
leads), :mod:`~training.simulate.server` (the child server),
:mod:`~training.simulate.weeks` (the weeks), :mod:`~training.simulate.run` (a whole run)
and :mod:`~training.simulate.summary` (what the table says, the docs' figure).
"""

from __future__ import annotations

from training.simulate.config import (
    WEEK,
    ServedTables,
    SimConfig,
    WeekRow,
    sim_train_config,
)
from training.simulate.run import prepare, simulate
from training.simulate.server import SIM_ADMIN_KEY, free_port, running_server
from training.simulate.summary import plot_acceptance, summarise
from training.simulate.weeks import Simulation, gate_verdict
from training.simulate.world import simulation_world

__all__ = [
    "SIM_ADMIN_KEY",
    "WEEK",
    "ServedTables",
    "SimConfig",
    "Simulation",
    "WeekRow",
    "free_port",
    "gate_verdict",
    "plot_acceptance",
    "prepare",
    "running_server",
    "sim_train_config",
    "simulate",
    "simulation_world",
    "summarise",
]
