"""The lead population: arrivals, MQL times, firmographics, contact data, hidden flags
and the hidden latents (fit, budget, intent, readiness) everything else depends on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.contract import (
    COMPANY_SIZES,
    DEPARTMENTS,
    REVENUE_BANDS,
    SENIORITIES,
    Channel,
)
from training.synthetic.arrays import _choice_by_group, _lookup, _normalised, _size_param
from training.synthetic.effects import (
    _ARRIVAL_GROWTH_PER_YEAR,
    _ARRIVAL_LATE_DECEMBER,
    _ARRIVAL_MONTH,
    _ARRIVAL_WEEKEND,
    _CAMPAIGNS,
    _CHANNELS,
    _COMPANY_STEMS,
    _COMPANY_SUFFIXES,
    _COUNTRIES,
    _CRYPTO_SHARE_AFTER_DRIFT,
    _DEPARTMENT,
    _DRIFT_PAID_SOCIAL,
    _DUPLICATE_RATE,
    _FIRST_NAMES,
    _HIDDEN_DRIFT_PENALTY,
    _INDUSTRIES,
    _JUNK_RATE,
    _LAST_NAMES,
    _MIN_GAP_DAYS,
    _REGIONS,
    _SENIORITY,
    _ChannelRow,
)
from training.synthetic.window import _Window

# --- the lead population --------------------------------------------------------------------


@dataclass
class _Population:
    """Per-lead arrays, sorted by creation time (index i is lead i+1)."""

    created: np.ndarray  # float days since start
    mql: np.ndarray
    channel: np.ndarray  # codes into _CHANNELS
    campaign: np.ndarray  # codes into _campaign_table()
    industry: np.ndarray  # codes into _INDUSTRIES
    size: np.ndarray
    revenue: np.ndarray
    country: np.ndarray
    seniority: np.ndarray
    department: np.ndarray
    consent_email: np.ndarray
    consent_phone: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    company: np.ndarray
    freemail: np.ndarray
    phone_number: np.ndarray
    bad_contact: np.ndarray  # hidden flags
    duplicate: np.ndarray
    junk: np.ndarray
    fit: np.ndarray  # hidden latents
    budget: np.ndarray
    competition: np.ndarray
    industry_win: np.ndarray
    intent: np.ndarray
    readiness: np.ndarray
    hidden_penalty: np.ndarray  # logit penalty of the unobservable drift (0 without)

    @property
    def n(self) -> int:
        return len(self.created)


def _campaign_table() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Flatten _CAMPAIGNS: names, intent and fit offsets, and per-channel weights."""
    names: list[str] = []
    intent: list[float] = []
    fit: list[float] = []
    weights = np.zeros((len(_CHANNELS), sum(len(c) for c in _CAMPAIGNS.values())))
    for c, channel in enumerate(_CHANNELS):
        for name, row in _CAMPAIGNS[channel].items():
            weights[c, len(names)] = row.weight
            names.append(name)
            intent.append(row.intent)
            fit.append(row.fit)
    return names, np.asarray(intent), np.asarray(fit), weights


def _draw_arrivals(rng: np.random.Generator, n: int, window: _Window) -> np.ndarray:
    """Creation times (sorted, float days) from a seasonal, growing daily rate."""
    n_days = int(np.ceil(window.days))
    days = pd.date_range(window.start.floor("D"), periods=n_days, freq="D")
    rate = _lookup(_ARRIVAL_MONTH, days.month.to_numpy() - 1)
    rate[(days.month == 12) & (days.day >= 20)] *= _ARRIVAL_LATE_DECEMBER
    rate[days.dayofweek >= 5] *= _ARRIVAL_WEEKEND
    rate *= 1.0 + _ARRIVAL_GROWTH_PER_YEAR * np.arange(n_days) / 365.25
    day = rng.choice(n_days, size=n, p=rate / rate.sum())
    hour = _business_hours(rng, n)
    offset = (window.start - window.start.floor("D")) / pd.Timedelta(days=1)
    created = np.clip(day + hour - offset, 0.0, window.days - 0.01)
    return np.sort(created)


def _business_hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Time of day as a fraction of a day, peaking early afternoon UTC."""
    return np.clip(rng.normal(0.55, 0.15, n), 0.0, 0.9999)


def _draw_mql(rng: np.random.Generator, created: np.ndarray, window: _Window) -> np.ndarray:
    """MQL = creation + 0–20 days, at a moment the lead acts.

    A third convert in the session that created them (the form was the trigger); the
    rest on a later day, in business hours and mostly on a weekday, which is what makes
    weekend MQLs (and their Monday responses) the exception rather than a third.
    """
    n = len(created)
    quick = rng.random(n) < 0.33
    day = np.floor(window.epoch_day + created) + np.ceil(18.0 * rng.beta(1.2, 3.0, n))
    weekday = (day.astype(np.int64) + 3) % 7
    to_monday = np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))
    day = day + np.where(rng.random(n) < 0.75, to_monday, 0)
    later = day + _business_hours(rng, n) - window.epoch_day - created
    lag = np.where(quick, rng.uniform(0.004, 0.08, n), later)
    lag = np.clip(lag, 0.0, 20.0)
    room = 0.99 * (window.days - created)  # leads created near the end convert sooner
    return created + np.maximum(np.minimum(lag, lag * room / 20.0), 5 * _MIN_GAP_DAYS)


def _draw_population(rng: np.random.Generator, created: np.ndarray, window: _Window) -> _Population:
    """Profile, contact data, hidden flags and latents for leads created at ``created``.

    The order of the random draws is part of the output: the same seed must keep giving
    the same history, so the helpers below draw in the order this function calls them.
    """
    n = len(created)
    mql = _draw_mql(rng, created, window)
    post_drift = created >= window.drift_day
    channel_p = _normalised([r.share for r in _CHANNELS.values()])
    channel = rng.choice(len(_CHANNELS), size=n, p=channel_p)
    drifted_social = post_drift & (channel == list(_CHANNELS).index(Channel.PAID_SOCIAL))
    hidden_drift = post_drift & (channel == window.hidden_channel)
    _, camp_intent, camp_fit, camp_weights = _campaign_table()
    campaign = _choice_by_group(rng, channel, camp_weights)
    firmographics = _draw_firmographics(rng, n, post_drift)
    channel_row = {
        f: np.asarray([getattr(r, f) for r in _CHANNELS.values()]) for f in _ChannelRow._fields
    }
    bad_contact, duplicate, junk = _draw_flags(rng, channel, drifted_social, channel_row)
    contact = _draw_contact(rng, n, bad_contact)
    pop = _Population(
        created=created,
        mql=mql,
        channel=channel,
        campaign=campaign,
        **firmographics,
        **contact,
        bad_contact=bad_contact,
        duplicate=duplicate,
        junk=junk,
        fit=np.zeros(n),
        budget=np.zeros(n),
        competition=np.zeros(n),
        industry_win=np.zeros(n),
        intent=np.zeros(n),
        readiness=np.zeros(n),
        hidden_penalty=np.where(hidden_drift, _HIDDEN_DRIFT_PENALTY, 0.0),
    )
    _copy_duplicates(rng, pop)
    _draw_latents(rng, pop, drifted_social, camp_intent, camp_fit, channel_row)
    return pop


def _draw_firmographics(
    rng: np.random.Generator, n: int, post_drift: np.ndarray
) -> dict[str, np.ndarray]:
    """Industry (crypto surges after the drift), size, revenue, country, role, consent."""
    industry_names = list(_INDUSTRIES)
    base_shares = _normalised([r.share for r in _INDUSTRIES.values()])
    industry = rng.choice(len(industry_names), size=n, p=base_shares)
    crypto = post_drift & (rng.random(n) < _CRYPTO_SHARE_AFTER_DRIFT)
    industry[crypto] = industry_names.index("crypto")

    size = rng.choice(len(COMPANY_SIZES), size=n, p=_normalised(_size_param("share")))
    revenue_raw = _lookup(_size_param("revenue_center"), size) + rng.normal(0.0, 0.7, n)
    revenue = np.clip(np.rint(revenue_raw), 0, len(REVENUE_BANDS) - 1).astype(np.int8)

    regions = list(_REGIONS)
    country_p = _normalised([_REGIONS[row.region][0] * row.share for row in _COUNTRIES.values()])
    country = rng.choice(len(_COUNTRIES), size=n, p=country_p)
    region = np.asarray([regions.index(r.region) for r in _COUNTRIES.values()])[country]

    seniority_p = _normalised([_SENIORITY[s][0] for s in SENIORITIES])
    seniority = rng.choice(len(SENIORITIES), size=n, p=seniority_p)
    owner, c_level = SENIORITIES.index("owner"), SENIORITIES.index("c_level")
    seniority[(seniority == owner) & (size >= 3)] = c_level  # owners run small companies
    department_p = _normalised([_DEPARTMENT[d][0] for d in DEPARTMENTS])
    department = rng.choice(len(DEPARTMENTS), size=n, p=department_p)

    emea = region == regions.index("EMEA")
    return {
        "industry": industry,
        "size": size,
        "revenue": revenue,
        "country": country,
        "seniority": seniority,
        "department": department,
        "consent_email": rng.random(n) < np.where(emea, 0.72, 0.9),
        "consent_phone": rng.random(n) < np.where(emea, 0.4, 0.55),
    }


def _draw_flags(
    rng: np.random.Generator,
    channel: np.ndarray,
    drifted_social: np.ndarray,
    channel_row: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hidden bad-contact, duplicate and junk flags, mutually exclusive (one draw)."""
    bad_p = np.where(
        drifted_social, _DRIFT_PAID_SOCIAL.bad_contact, channel_row["bad_contact"][channel]
    )
    flag_u = rng.random(len(channel))
    bad_contact = flag_u < bad_p
    duplicate = (flag_u >= bad_p) & (flag_u < bad_p + _DUPLICATE_RATE)
    junk = (flag_u >= bad_p + _DUPLICATE_RATE) & (flag_u < bad_p + _DUPLICATE_RATE + _JUNK_RATE)
    return bad_contact, duplicate, junk


def _draw_contact(
    rng: np.random.Generator, n: int, bad_contact: np.ndarray
) -> dict[str, np.ndarray]:
    """Fake PII as codes into small vocabularies (bad contact data is often a freemail)."""
    return {
        "first_name": rng.integers(0, len(_FIRST_NAMES), n),
        "last_name": rng.integers(0, len(_LAST_NAMES), n),
        "company": rng.integers(0, len(_COMPANY_STEMS) * len(_COMPANY_SUFFIXES), n),
        "freemail": rng.random(n) < np.where(bad_contact, 0.4, 0.06),
        "phone_number": rng.integers(0, 10_000_000, n),
    }


def _copy_duplicates(rng: np.random.Generator, pop: _Population) -> None:
    """A duplicate is the same person and company as an earlier, original lead."""
    originals_before = np.cumsum(~pop.duplicate) - (~pop.duplicate)  # originals strictly before i
    pop.duplicate &= originals_before > 0
    dup = np.flatnonzero(pop.duplicate)
    original_idx = np.flatnonzero(~pop.duplicate)
    source = original_idx[(rng.random(len(dup)) * originals_before[dup]).astype(np.int64)]
    for name in (
        "industry", "size", "revenue", "country", "seniority", "department",
        "first_name", "last_name", "company", "freemail", "phone_number",
    ):  # fmt: skip
        arr = getattr(pop, name)
        arr[dup] = arr[source]


def _draw_latents(
    rng: np.random.Generator,
    pop: _Population,
    drifted_social: np.ndarray,
    camp_intent: np.ndarray,
    camp_fit: np.ndarray,
    channel_row: dict[str, np.ndarray],
) -> None:
    """Hidden ICP fit, budget, intent and readiness (see the module docstring)."""
    n = pop.n
    ind = list(_INDUSTRIES.values())
    region = np.asarray([list(_REGIONS).index(r.region) for r in _COUNTRIES.values()])[pop.country]
    channel_fit = np.where(drifted_social, _DRIFT_PAID_SOCIAL.fit, channel_row["fit"][pop.channel])
    channel_intent = np.where(
        drifted_social, _DRIFT_PAID_SOCIAL.intent, channel_row["intent"][pop.channel]
    )
    pop.fit = (
        _lookup([r.fit for r in ind], pop.industry)
        + _lookup(_size_param("fit"), pop.size)
        + _lookup([f for _, f in _REGIONS.values()], region)
        + _lookup([_SENIORITY[s][1] for s in SENIORITIES], pop.seniority)
        + _lookup([_DEPARTMENT[d][1] for d in DEPARTMENTS], pop.department)
        + channel_fit
        + camp_fit[pop.campaign]
    )
    revenue_surplus = pop.revenue - _lookup(_size_param("revenue_center"), pop.size)
    pop.budget = (
        _lookup(_size_param("budget"), pop.size)
        + 0.35 * revenue_surplus
        + _lookup([r.budget for r in ind], pop.industry)
    )
    pop.competition = _lookup([r.competition for r in ind], pop.industry)
    pop.industry_win = _lookup([r.win for r in ind], pop.industry)
    pop.intent = (
        channel_intent
        + camp_intent[pop.campaign]
        + _lookup([r.intent for r in ind], pop.industry)
        + 0.3 * pop.fit
        + rng.normal(0.0, 0.9, n)
    )
    pop.readiness = 0.3 * pop.intent + rng.normal(0.0, 1.0, n)
