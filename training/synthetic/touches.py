"""Marketing touches: before MQL (intent and readiness), after it (sales, nurture,
comebacks), and the recency-weighted engagement the sales path reacts to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring.contract import (
    Channel,
    TouchType,
)
from training.synthetic.arrays import _choice_by_group, _normalised, _sigmoid, _stack
from training.synthetic.effects import (
    _CHANNELS,
    _COMEBACK_MIX,
    _ENGAGEMENT_CENTER,
    _ENGAGEMENT_SCALE,
    _ENGAGEMENT_TAU_DAYS,
    _MIN_GAP_DAYS,
    _NURTURE_MIX,
    _SALES_MIX,
    _TOTAL_CENTER,
    _TOTAL_SCALE,
    _TOUCH_MIX,
    _TOUCH_TYPES,
    _TRIGGER_BASE,
    _TRIGGER_SLOPE,
    _TRIGGER_TYPES,
)
from training.synthetic.population import _Population
from training.synthetic.sales import _SalesPath

# --- touches -----------------------------------------------------------------------------------


@dataclass
class _Touches:
    lead: np.ndarray  # int index into the population
    at: np.ndarray  # float days since start
    type: np.ndarray  # codes into _TOUCH_TYPES
    channel: np.ndarray  # codes into _CHANNELS (-1 until _touch_channels)


_INTENT_BINS = np.linspace(-3.5, 3.5, 25)


def _intent_bin(intent: np.ndarray) -> np.ndarray:
    return np.clip(np.digitize(intent, _INTENT_BINS) - 1, 0, len(_INTENT_BINS) - 2)


def _intent_mix(base: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Type probabilities per intent bin: base shares tilted by exp(slope * intent)."""
    centers = (_INTENT_BINS[:-1] + _INTENT_BINS[1:]) / 2
    return _normalised(base[None, :] * np.exp(slope[None, :] * centers[:, None]))


def _fixed_mix(mix: dict[TouchType, float]) -> np.ndarray:
    return _normalised([[mix.get(t, 0.0) for t in _TOUCH_TYPES]])


def _draw_pre_mql_touches(rng: np.random.Generator, pop: _Population) -> _Touches:
    """Touches before MQL: count and mix from intent, timing from readiness."""
    n = pop.n
    counts = rng.poisson(np.exp(1.4 + 0.45 * pop.intent))
    lead = np.repeat(np.arange(n, dtype=np.int32), counts)
    m = len(lead)
    recent_share = _sigmoid(1.3 * pop.readiness - 0.3)[lead]
    component = rng.random(m)
    recent = component < recent_share
    very_old = component > recent_share + (1.0 - recent_share) * 0.85
    age = np.where(
        recent,
        14.0 * rng.beta(1.0, 1.8, m),
        np.where(very_old, rng.uniform(60.0, 180.0, m), rng.uniform(14.0, 60.0, m)),
    )
    age = np.maximum(age, _MIN_GAP_DAYS)
    base = np.asarray([_TOUCH_MIX[t][0] for t in _TOUCH_TYPES])
    slope = np.asarray([_TOUCH_MIX[t][1] for t in _TOUCH_TYPES])
    types = _choice_by_group(rng, _intent_bin(pop.intent)[lead], _intent_mix(base, slope))
    at = pop.mql[lead] - age

    # the conversion that made the lead an MQL, minutes before mql_at (after created_at)
    trigger_mix = _intent_mix(np.asarray(_TRIGGER_BASE), np.asarray(_TRIGGER_SLOPE))
    trigger_code = np.asarray([_TOUCH_TYPES.index(t) for t in _TRIGGER_TYPES])
    trigger_type = trigger_code[_choice_by_group(rng, _intent_bin(pop.intent), trigger_mix)]
    lead_gap = pop.mql - pop.created
    trigger_at = pop.mql - np.minimum(rng.uniform(1.0, 60.0, n) / 1440.0, 0.5 * lead_gap)
    return _Touches(
        lead=np.concatenate([lead, np.arange(n, dtype=np.int32)]),
        at=np.concatenate([at, trigger_at]),
        type=np.concatenate([types, trigger_type.astype(np.int16)]),
        channel=np.full(len(lead) + n, -1, dtype=np.int8),
    )


def _engagement(pop: _Population, pre: _Touches) -> tuple[np.ndarray, np.ndarray]:
    """Standardised recency-weighted engagement and total pre-MQL activity per lead."""
    weight = np.asarray([_TOUCH_MIX[t][2] for t in _TOUCH_TYPES])[pre.type]
    age = pop.mql[pre.lead] - pre.at
    score = np.bincount(
        pre.lead, weights=weight * np.exp(-age / _ENGAGEMENT_TAU_DAYS), minlength=pop.n
    )
    count = np.bincount(pre.lead, minlength=pop.n)
    engagement = (np.log1p(score) - _ENGAGEMENT_CENTER) / _ENGAGEMENT_SCALE
    total = (np.log1p(count) - _TOTAL_CENTER) / _TOTAL_SCALE
    return engagement, total


def _touch_block(
    rng: np.random.Generator,
    lead: np.ndarray,
    counts: np.ndarray,
    begin: np.ndarray,
    offset: np.ndarray,
    mix: dict[TouchType, float],
) -> _Touches:
    """``counts[i]`` touches for ``lead[i]`` at ``begin[i]`` + ``offset`` (days, one per touch)."""
    rows = np.repeat(np.arange(len(lead)), counts)
    types = _choice_by_group(rng, np.zeros(len(rows), dtype=np.int8), _fixed_mix(mix))
    return _Touches(
        lead=lead[rows].astype(np.int32),
        at=begin[rows] + offset,
        type=types,
        channel=np.full(len(rows), -1, dtype=np.int8),
    )


def _draw_post_mql_touches(
    rng: np.random.Generator, pop: _Population, path: _SalesPath
) -> _Touches:
    """Engagement after MQL: sales activity, nurture, and the comeback of too_early leads."""
    flagged = pop.bad_contact | pop.duplicate | pop.junk
    # sales-driven activity after acceptance (first acceptance or comeback)
    sql = np.flatnonzero(np.isfinite(path.sql_at))
    k = rng.poisson(6.0, len(sql))
    sales = _touch_block(
        rng, sql, k, path.sql_at[sql], rng.exponential(25.0, k.sum()) + _MIN_GAP_DAYS, _SALES_MIX
    )
    # nurture after a rejection / return to nurture (flagged leads barely open emails)
    nurtured = np.flatnonzero(~path.accepted_first)
    k = rng.poisson(np.where(flagged[nurtured], 0.5, 2.5))
    nurture = _touch_block(
        rng,
        nurtured,
        k,
        path.first_at[nurtured],
        rng.uniform(_MIN_GAP_DAYS, 180.0, k.sum()),
        _NURTURE_MIX,
    )
    # the comeback burst: the 3 weeks before a too_early lead is handed over again
    back = np.flatnonzero(np.isfinite(path.return_at))
    k = 2 + rng.poisson(4.0, len(back))
    span = np.minimum(21.0, path.return_at[back] - path.first_at[back] - _MIN_GAP_DAYS)
    begin = path.return_at[back] - span
    offset = rng.random(k.sum()) * np.repeat(span, k)
    comeback = _touch_block(rng, back, k, begin, offset, _COMEBACK_MIX)
    return _stack([sales, nurture, comeback])


def _touch_channels(rng: np.random.Generator, pop: _Population, touches: _Touches) -> np.ndarray:
    """Mostly the lead's own channel, sometimes direct or email; emails come by email."""
    channels = list(_CHANNELS)
    direct, email = channels.index(Channel.DIRECT), channels.index(Channel.EMAIL)
    by_email = np.asarray(
        [t in (TouchType.EMAIL_OPEN, TouchType.EMAIL_CLICK) for t in _TOUCH_TYPES]
    )
    live = np.asarray([t in (TouchType.CALL, TouchType.CHAT) for t in _TOUCH_TYPES])
    u = rng.random(len(touches.lead))
    channel = np.where(u < 0.78, pop.channel[touches.lead], np.where(u < 0.92, direct, email))
    channel = np.where(live[touches.type] & (channel == email), direct, channel)
    return np.where(by_email[touches.type], email, channel).astype(np.int8)
