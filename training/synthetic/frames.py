"""From per-lead arrays to the four contract tables (up to the snapshot, sorted)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.contract import (
    COMPANY_SIZES,
    DEPARTMENTS,
    FEEDBACK_COLUMNS,
    LEAD_COLUMNS,
    OUTCOME_COLUMNS,
    REVENUE_BANDS,
    SENIORITIES,
    TOUCH_COLUMNS,
    Outcome,
    RejectionReason,
    SalesDecision,
)
from training.synthetic.deals import _Deals
from training.synthetic.effects import (
    _CHANNELS,
    _COMPANY_STEMS,
    _COMPANY_SUFFIXES,
    _COUNTRIES,
    _FIRST_NAMES,
    _FREEMAIL,
    _INDUSTRIES,
    _JOB_TITLES,
    _LAST_NAMES,
    _LOSS_REASONS,
    _SECONDS_PER_DAY,
    _TOUCH_TYPES,
)
from training.synthetic.population import _campaign_table, _Population
from training.synthetic.sales import _comment_texts, _SalesPath
from training.synthetic.touches import _Touches
from training.synthetic.window import _Window

# --- frames ------------------------------------------------------------------------------------


def _lead_ids(n: int) -> pd.Series:
    width = max(6, len(str(n)))
    digits = pd.Series(np.arange(1, n + 1)).astype("str").str.zfill(width)
    return ("L" + digits).astype("str")


def _labels(codes: np.ndarray, vocabulary: list[str] | tuple[str, ...]) -> pd.Series:
    """Codes to a string column (-1 = missing) without a per-row Python loop.

    An Arrow ``take`` from the vocabulary: the same ``str`` column as building it from
    a NumPy object array, without a Python string per row (ten million touch types).
    """
    import pyarrow as pa

    codes = np.asarray(codes)
    strings = pa.array(list(vocabulary), pa.large_string()).take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.array(strings, dtype="str"))


def _timestamps(window: _Window, days: np.ndarray) -> pd.Series:
    """Float days since start to tz-aware UTC timestamps, rounded to whole seconds."""
    seconds = np.rint(np.asarray(days) * _SECONDS_PER_DAY).astype(np.int64)
    start_s = int(window.start.value // 1_000_000_000)
    stamps = (seconds + start_s).astype("datetime64[s]").astype("datetime64[us]")
    return pd.Series(stamps).dt.tz_localize("UTC")


def _leads_frame(pop: _Population, ids: pd.Series, window: _Window) -> pd.DataFrame:
    """The leads table; PII is assembled with vectorised string ops from small vocabularies."""
    countries = list(_COUNTRIES.values())
    first = _labels(pop.first_name, _FIRST_NAMES)
    last = _labels(pop.last_name, _LAST_NAMES)
    stems = np.asarray(_COMPANY_STEMS, dtype=object)
    suffixes = np.asarray(_COMPANY_SUFFIXES, dtype=object)
    company = pd.Series(stems[pop.company // len(_COMPANY_SUFFIXES)], dtype="str") + pd.Series(
        suffixes[pop.company % len(_COMPANY_SUFFIXES)], dtype="str"
    )
    tld = _labels(pop.country, [c.tld for c in countries])
    freemail = _labels(pop.company % len(_FREEMAIL), _FREEMAIL)
    domain = (company + "." + tld).where(~pd.Series(pop.freemail), freemail)
    local = (first + "." + last).str.lower().str.replace(" ", "", regex=False)
    phone = pop.phone_number.astype(np.int64)
    digits = pd.Series(phone).astype("str").str.zfill(7)
    dial = _labels(pop.country, [c.dial for c in countries])
    titles = [title for s in SENIORITIES for title in _JOB_TITLES[s]]
    leads = pd.DataFrame(
        {
            "lead_id": ids,
            "created_at": _timestamps(window, pop.created),
            "mql_at": _timestamps(window, pop.mql),
            "channel": _labels(pop.channel, [c.value for c in _CHANNELS]),
            "campaign": _labels(pop.campaign, _campaign_table()[0]),
            "industry": _labels(pop.industry, list(_INDUSTRIES)),
            "company_size": _labels(pop.size, COMPANY_SIZES),
            "country": _labels(pop.country, list(_COUNTRIES)),
            "region": _labels(pop.country, [c.region for c in countries]),
            "revenue_band": _labels(pop.revenue, REVENUE_BANDS),
            "job_title": _labels(pop.seniority * len(DEPARTMENTS) + pop.department, titles),
            "seniority": _labels(pop.seniority, SENIORITIES),
            "department": _labels(pop.department, DEPARTMENTS),
            "consent_email": pop.consent_email,
            "consent_phone": pop.consent_phone,
            "name": first + " " + last,
            "email": local + "@" + domain,
            "phone": dial + "-555-" + digits.str[:3] + "-" + digits.str[3:],
        }
    )
    return leads[list(LEAD_COLUMNS)]


def _order_by_lead_then_time(lead: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Sort order by (lead, second) via one int64 key: ~4x faster than lexsort on 10M rows."""
    if len(at) == 0:
        return np.arange(0)
    seconds = np.rint(at * _SECONDS_PER_DAY).astype(np.int64)
    seconds -= seconds.min()
    return np.argsort(lead.astype(np.int64) * (int(seconds.max()) + 1) + seconds, kind="stable")


def _touches_frame(touches: _Touches, ids: pd.Series, window: _Window) -> pd.DataFrame:
    """Touch rows up to the snapshot, sorted by lead then time."""
    keep = np.flatnonzero(touches.at <= window.days)
    keep = keep[_order_by_lead_then_time(touches.lead[keep], touches.at[keep])]
    frame = pd.DataFrame(
        {
            "lead_id": ids.take(touches.lead[keep]).reset_index(drop=True),
            "at": _timestamps(window, touches.at[keep]),
            "type": _labels(touches.type[keep], [t.value for t in _TOUCH_TYPES]),
            "channel": _labels(touches.channel[keep], [c.value for c in _CHANNELS]),
        }
    )
    return frame[list(TOUCH_COLUMNS)]


def _feedback_frame(path: _SalesPath, ids: pd.Series, window: _Window) -> pd.DataFrame:
    """One row per sales decision made up to the snapshot (a comeback adds a second)."""
    decisions = [d.value for d in SalesDecision]
    first = np.flatnonzero(path.first_at <= window.days)
    returned = np.isfinite(path.return_at)
    second = np.flatnonzero(returned & (np.nan_to_num(path.sql_at, nan=np.inf) <= window.days))
    lead = np.concatenate([first, second])
    at = np.concatenate([path.first_at[first], path.sql_at[second]])
    accepted = np.full(len(second), decisions.index(SalesDecision.ACCEPTED))
    decision = np.concatenate([path.first_decision[first], accepted])
    reason = np.concatenate([path.first_reason[first], np.full(len(second), -1)])
    attempts = np.concatenate([path.attempts[first], path.return_attempts[second]])
    response = np.concatenate([path.first_response[first], path.return_response[second]])
    comment = np.concatenate([path.first_comment[first], path.return_comment[second]])
    order = np.lexsort((at, lead))
    frame = pd.DataFrame(
        {
            "lead_id": ids.take(lead[order]).reset_index(drop=True),
            "at": _timestamps(window, at[order]),
            "decision": _labels(decision[order], decisions),
            "reason": _labels(reason[order], [r.value for r in RejectionReason]),
            "contact_attempts": attempts[order].astype(np.int64),
            "first_response_hours": response[order].astype(float),
            "comment": _labels(comment[order], _comment_texts()),
        }
    )
    return frame[list(FEEDBACK_COLUMNS)]


def _outcomes_frame(deals: _Deals, ids: pd.Series, window: _Window) -> pd.DataFrame:
    """One row per deal closed up to the snapshot (open deals are censored)."""
    keep = deals.closed_at <= window.days
    order = np.lexsort((deals.closed_at[keep], deals.lead[keep]))
    lead = deals.lead[keep][order]
    outcomes = [o.value for o in Outcome]
    won = deals.won[keep][order]
    frame = pd.DataFrame(
        {
            "lead_id": ids.take(lead).reset_index(drop=True),
            "outcome": _labels(
                np.where(won, outcomes.index(Outcome.WON), outcomes.index(Outcome.LOST)), outcomes
            ),
            "amount": deals.amount[keep][order].astype(float),
            "closed_at": _timestamps(window, deals.closed_at[keep][order]),
            "loss_reason": _labels(deals.loss_reason[keep][order], _LOSS_REASONS),
        }
    )
    return frame[list(OUTCOME_COLUMNS)]
