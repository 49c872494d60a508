"""Synthetic CRM histories shared by the training test modules, generated once per session.

Generation is cheap but not free, and several modules (model quality, ablation, point in
time) want the same history: caching it here keeps the suite fast without a conftest
fixture. Callers must not mutate the returned frames (build new ones instead).
"""

from __future__ import annotations

from functools import cache

from training.history import CRMHistory
from training.synthetic import generate

QUALITY_LEADS = 20_000
QUALITY_MONTHS = 24
"""Large enough for a test period of ~2,000 labelled leads (the ECE noise floor of a
perfectly calibrated P(SQL) on 500 leads is ~0.05 by itself), and two years so that the
training period contains every calendar month of the test period: with 18 months the
model never sees the holiday slump it is tested on (see docs/metrics.md)."""


@cache
def synthetic_history(n_leads: int, months: int = 18, seed: int = 42) -> CRMHistory:
    """``training.synthetic.generate`` with a per-session cache."""
    return generate(n_leads, months=months, seed=seed)


def quality_history() -> CRMHistory:
    """The history the model-quality and ablation tests train on."""
    return synthetic_history(QUALITY_LEADS, QUALITY_MONTHS, 42)
