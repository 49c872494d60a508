"""The sales path: accept / reject / return-to-nurture, reasons, response times,
contact attempts, comebacks of too_early leads, comments, and the oracle probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from scoring.contract import (
    RejectionReason,
    SalesDecision,
)
from training.synthetic.arrays import _choice_rows, _lookup, _sigmoid, _softmax, _weekday
from training.synthetic.effects import (
    _BAD_CONTACT_NO_RESPONSE,
    _COMMENT_MISSING,
    _COMMENTS,
    _CONVERSION_MONTH,
    _MIN_GAP_DAYS,
    _REJECT_OUTCOMES,
    _RESPONSE_MEDIAN_HOURS,
    _RESPONSE_SIGMA,
    _RESPONSE_WEEKEND_WAIT,
    _RETURN_DAYS,
    _RETURN_INTERCEPT,
    _SQL_ENGAGEMENT,
    _SQL_INTERCEPT,
    _SQL_NOISE_SD,
    _WIN_INTERCEPT,
    _WIN_NOISE_SD,
    _WIN_RETURNER_BONUS,
)
from training.synthetic.population import _Population
from training.synthetic.window import _Window

# --- the sales path ----------------------------------------------------------------------------


@dataclass
class _SalesPath:
    """What sales did with each lead, and the oracle probabilities behind it."""

    p_sql: np.ndarray
    p_won: np.ndarray
    first_at: np.ndarray  # first decision time (days; always set)
    first_response: np.ndarray  # hours
    first_decision: np.ndarray  # codes into SalesDecision order
    first_reason: np.ndarray  # codes into RejectionReason order, -1 = none
    attempts: np.ndarray
    accepted_first: np.ndarray  # bool
    return_at: np.ndarray  # re-handoff time of too_early comebacks (nan otherwise)
    return_response: np.ndarray
    return_attempts: np.ndarray
    sql_at: np.ndarray  # acceptance time (nan if never SQL)
    p_win: np.ndarray  # win probability on the path actually taken
    first_comment: np.ndarray  # codes into _comment_texts(), -1 = none
    return_comment: np.ndarray


def _conversion_season(window: _Window, days: np.ndarray) -> np.ndarray:
    ts = window.start + pd.to_timedelta(days, unit="D")
    month = ts.month.to_numpy() - 1
    late_december = (ts.month == 12) & (ts.day >= 20)
    return _lookup(_CONVERSION_MONTH, month) - 0.2 * np.asarray(late_december)


def _reason_logits(pop: _Population, engagement: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Logits of each rejection outcome in _REJECT_OUTCOMES: each tag has its own cause."""
    lag_days = pop.mql - pop.created
    return np.column_stack(
        [
            0.0 - 1.5 * pop.fit,  # not_icp: firmographics
            -0.6 - 1.5 * pop.budget,  # no_budget: small company / revenue
            -0.8 - 1.5 * engagement + 0.5 * pop.fit + 0.3 * total,  # too_early: quiet lately
            # competitor_won: crowded markets, big companies (long cycles), slow MQLs
            -1.9 + 1.6 * pop.competition + 0.25 * (pop.size - 3) + 0.05 * lag_days,
            np.full(pop.n, -2.4),  # no_response: a base rate of no-shows
            -1.6 - 0.3 * pop.intent,  # returned_to_nurture
        ]
    )


def _response_hours(rng: np.random.Generator, window: _Window, handoff: np.ndarray) -> np.ndarray:
    """Hours to the first sales response: lognormal; weekend hand-offs wait for Monday."""
    n = len(handoff)
    hours = np.exp(rng.normal(np.log(_RESPONSE_MEDIAN_HOURS), _RESPONSE_SIGMA, n))
    weekday = _weekday(window, handoff)
    to_monday = np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))
    to_monday = np.where(rng.random(n) < _RESPONSE_WEEKEND_WAIT, to_monday, 0)
    absolute = window.epoch_day + handoff
    wait = np.where(to_monday > 0, (np.floor(absolute) + to_monday + 8 / 24 - absolute) * 24, 0.0)
    return np.round(np.maximum(hours + wait, 0.05), 2)


class _PathOdds(NamedTuple):
    """The probabilities behind one lead's sales path (the oracle is made of these)."""

    p_accept: np.ndarray
    reason_p: np.ndarray  # rows: P(each of _REJECT_OUTCOMES)
    p_return: np.ndarray  # a too_early lead comes back
    p_win_first: np.ndarray
    p_win_return: np.ndarray
    p_sql: np.ndarray
    p_won: np.ndarray


class _Timing(NamedTuple):
    """When sales acted on a lead: first decision, comeback, acceptance (days / hours)."""

    response: np.ndarray
    attempts: np.ndarray
    first_at: np.ndarray
    return_at: np.ndarray
    return_response: np.ndarray
    return_attempts: np.ndarray
    sql_at: np.ndarray


def _draw_sales_path(
    rng: np.random.Generator,
    pop: _Population,
    window: _Window,
    engagement: np.ndarray,
    total: np.ndarray,
) -> _SalesPath:
    """The whole sales path of a block of leads; the helpers draw in a fixed order."""
    odds = _path_odds(rng, pop, window, engagement, total)
    accepted, decision, reason, comes_back = _draw_first_decision(rng, pop, odds)
    timing = _draw_timing(rng, pop, window, reason, accepted, comes_back)
    return _SalesPath(
        p_sql=odds.p_sql,
        p_won=odds.p_won,
        first_at=timing.first_at,
        first_response=timing.response,
        first_decision=decision,
        first_reason=reason,
        attempts=timing.attempts,
        accepted_first=accepted,
        return_at=timing.return_at,
        return_response=timing.return_response,
        return_attempts=timing.return_attempts,
        sql_at=timing.sql_at,
        p_win=np.where(accepted, odds.p_win_first, odds.p_win_return),
        first_comment=_draw_comments(rng, _comment_keys(decision, reason)),
        return_comment=_draw_comments(rng, np.full(pop.n, len(_comment_vocabulary()) - 1)),
    )


def _path_odds(
    rng: np.random.Generator,
    pop: _Population,
    window: _Window,
    engagement: np.ndarray,
    total: np.ndarray,
) -> _PathOdds:
    """P(accept), the rejection mix, P(comeback) and the win odds (with unseen noise)."""
    n = pop.n
    flagged = pop.bad_contact | pop.duplicate | pop.junk
    sql_noise = rng.normal(0.0, _SQL_NOISE_SD, n)
    p_accept = _sigmoid(
        _SQL_INTERCEPT
        + pop.fit
        + _SQL_ENGAGEMENT * engagement
        + _conversion_season(window, pop.mql)
        + sql_noise
        - pop.hidden_penalty
    )
    p_accept[flagged] = 0.0
    reason_p = _softmax(_reason_logits(pop, engagement, total))
    too_early_col = _REJECT_OUTCOMES.index(RejectionReason.TOO_EARLY)
    p_too_early = reason_p[:, too_early_col]
    p_return = _sigmoid(_RETURN_INTERCEPT + 0.6 * pop.intent + 0.3 * pop.fit)

    win_logit = (
        _WIN_INTERCEPT
        + 0.6 * pop.fit
        + 0.5 * pop.budget
        - 0.6 * pop.competition
        + pop.industry_win
        + rng.normal(0.0, _WIN_NOISE_SD, n)
    )
    p_win_first = _sigmoid(win_logit)
    p_win_return = _sigmoid(win_logit + _WIN_RETURNER_BONUS)
    comeback_path = np.where(flagged, 0.0, (1.0 - p_accept) * p_too_early * p_return)
    p_sql = p_accept + comeback_path
    p_won = p_accept * p_win_first + comeback_path * p_win_return
    return _PathOdds(p_accept, reason_p, p_return, p_win_first, p_win_return, p_sql, p_won)


def _draw_first_decision(
    rng: np.random.Generator, pop: _Population, odds: _PathOdds
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accepted?, decision and reason codes, and whether a too_early lead comes back."""
    n = pop.n
    flagged = pop.bad_contact | pop.duplicate | pop.junk
    accepted = rng.random(n) < odds.p_accept
    reject_choice = _choice_rows(rng, odds.reason_p)
    decisions = list(SalesDecision)
    reasons = list(RejectionReason)
    reject_reason = np.asarray(
        [reasons.index(r) if r is not None else -1 for r in _REJECT_OUTCOMES]
    )[reject_choice]
    reason = np.where(accepted, -1, reject_reason)
    bad_reason = np.where(
        rng.random(n) < _BAD_CONTACT_NO_RESPONSE,
        reasons.index(RejectionReason.NO_RESPONSE),
        reasons.index(RejectionReason.BAD_CONTACT_DATA),
    )
    reason = np.where(pop.bad_contact, bad_reason, reason)
    reason = np.where(pop.duplicate, reasons.index(RejectionReason.DUPLICATE), reason)
    reason = np.where(pop.junk, reasons.index(RejectionReason.OTHER), reason)
    decision = np.where(
        accepted,
        decisions.index(SalesDecision.ACCEPTED),
        np.where(
            reason >= 0,
            decisions.index(SalesDecision.REJECTED),
            decisions.index(SalesDecision.RETURNED_TO_NURTURE),
        ),
    )
    too_early = reason == reasons.index(RejectionReason.TOO_EARLY)
    comes_back = too_early & (rng.random(n) < odds.p_return) & ~flagged
    return accepted, decision, reason, comes_back


def _draw_timing(
    rng: np.random.Generator,
    pop: _Population,
    window: _Window,
    reason: np.ndarray,
    accepted: np.ndarray,
    comes_back: np.ndarray,
) -> _Timing:
    """Response times, contact attempts (no_response chases for days) and comebacks."""
    n = pop.n
    reasons = list(RejectionReason)
    response = _response_hours(rng, window, pop.mql)
    attempts = _contact_attempts(rng, reason, reasons)
    no_response = reason == reasons.index(RejectionReason.NO_RESPONSE)
    chasing_days = np.where(no_response, (attempts - 1) * rng.uniform(0.5, 2.0, n), 0.0)
    first_at = pop.mql + np.maximum(response / 24.0, 3 * _MIN_GAP_DAYS) + chasing_days

    return_at = np.where(comes_back, first_at + rng.uniform(*_RETURN_DAYS, n), np.nan)
    return_response = _response_hours(rng, window, np.nan_to_num(return_at))
    return_attempts = 1 + rng.binomial(2, 0.3, n)
    second_at = return_at + np.maximum(return_response / 24.0, 3 * _MIN_GAP_DAYS)
    sql_at = np.where(accepted, first_at, second_at)
    return _Timing(
        response, attempts, first_at, return_at, return_response, return_attempts, sql_at
    )


def _comment_vocabulary() -> list[str]:
    """Comment keys: every rejection reason, then accepted, returned_to_nurture, comeback."""
    return [*(r.value for r in RejectionReason), "accepted", "returned_to_nurture", "comeback"]


def _comment_texts() -> list[str]:
    return [text for key in _comment_vocabulary() for text in _COMMENTS[key]]


def _comment_keys(decision: np.ndarray, reason: np.ndarray) -> np.ndarray:
    decisions = list(SalesDecision)
    n_reasons = len(RejectionReason)
    key = np.where(reason >= 0, reason, 0)
    key = np.where(decision == decisions.index(SalesDecision.ACCEPTED), n_reasons, key)
    nurture = decision == decisions.index(SalesDecision.RETURNED_TO_NURTURE)
    return np.where(nurture, n_reasons + 1, key)


def _draw_comments(rng: np.random.Generator, keys: np.ndarray) -> np.ndarray:
    """A short free-text comment per decision (sometimes missing, as in real CRMs)."""
    counts = np.asarray([len(_COMMENTS[k]) for k in _comment_vocabulary()])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = offsets[keys] + (rng.random(len(keys)) * counts[keys]).astype(np.int64)
    return np.where(rng.random(len(keys)) < _COMMENT_MISSING, -1, pick)


def _contact_attempts(
    rng: np.random.Generator, reason: np.ndarray, reasons: list[RejectionReason]
) -> np.ndarray:
    """1–6 attempts: no_response needs at least 3 (the SLA), bad data is found at once."""
    n = len(reason)
    attempts = 1 + rng.binomial(3, 0.3, n)
    attempts = np.where(
        reason == reasons.index(RejectionReason.NO_RESPONSE), 3 + rng.binomial(3, 0.5, n), attempts
    )
    attempts = np.where(
        reason == reasons.index(RejectionReason.BAD_CONTACT_DATA),
        1 + rng.binomial(2, 0.4, n),
        attempts,
    )
    data_quality = (reason == reasons.index(RejectionReason.DUPLICATE)) | (
        reason == reasons.index(RejectionReason.OTHER)
    )
    return np.where(data_quality, 1, attempts).astype(np.int64)
