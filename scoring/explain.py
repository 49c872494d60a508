"""Reasons in words a salesperson understands.

LightGBM's ``pred_contrib`` gives exact TreeSHAP contributions per feature, in log-odds,
that add up with the base value to the raw score. A salesperson does not think in
``n_touches_14d`` and ``days_since_last_touch``: features are summed into the data
contract's *fields* ("recent engagement", "demo request", "company size") and each
field becomes one phrase built from the lead's own values ("requested a demo 2 days
ago", "company size 201-500 is in the ICP"). Sums keep additivity: the fields'
contributions plus the base value still equal the raw score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.features import OTHER, TOUCH_TYPES, FeatureSpec

TOUCH_FIELDS: dict[str, tuple[str, ...]] = {
    "demo_request": ("n_demo_request", "days_since_demo_request"),
    "pricing_page": ("n_pricing_page_view", "days_since_pricing_page_view"),
    "webinar": ("n_webinar_registered", "n_webinar_attended"),
    "content": ("n_content_download",),
    "email_engagement": ("n_email_open", "n_email_click"),
    "website_activity": ("n_page_view", "n_form_submit", "n_chat", "n_call"),
    "recent_engagement": (
        "n_touches_14d",
        "n_touches_90d",
        "engagement_recency",
        "days_since_last_touch",
        "days_since_first_touch",
    ),
    "lead_age": ("lead_age_days",),
    "season": ("month_of_year",),
}
"""Which engagement features make up each field a salesperson sees."""

FIELD_LABELS: dict[str, str] = {
    "channel": "channel",
    "campaign": "campaign",
    "industry": "industry",
    "country": "country",
    "region": "region",
    "department": "department",
    "company_size": "company size",
    "revenue_band": "revenue",
    "seniority": "seniority",
    "consent": "contact consent",
}

FIT_FIELDS: frozenset[str] = frozenset(
    {"industry", "company_size", "revenue_band", "seniority", "department", "country", "region"}
)
"""Fields that describe who the lead is (ICP fit) rather than what it did."""

NO_RELIABLE_ESTIMATE = "no reliable estimate"
"""What the API says instead of a likely rejection reason when the reason model did not
beat its baselines (``training.train.REASON_RULE``)."""

REJECTION_TEXT: dict[str, str] = {
    "no_budget": "no budget for it now",
    "not_icp": "not our ideal customer profile",
    "too_early": "too early: not ready to buy yet",
    "competitor_won": "likely to choose a competitor",
    "no_response": "unlikely to answer contact attempts",
    "bad_contact_data": "contact data looks wrong",
    "duplicate": "a duplicate of an existing lead",
    "other": "another reason",
}
"""How a likely rejection reason reads on the lead page and in the API."""

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def feature_fields(spec: FeatureSpec, feature_names: Sequence[str]) -> list[str]:
    """Map each feature (column of the encoded matrix) to the field it explains."""
    owner: dict[str, str] = {}
    for field_name, members in TOUCH_FIELDS.items():
        for member in members:
            owner[member] = field_name
    for col in spec.boolean:
        owner[col] = "consent" if col.startswith("consent") else col
    return [owner.get(name, name) for name in feature_names]


@dataclass(frozen=True)
class FieldMap:
    """A 0/1 matrix that sums feature contributions into field contributions."""

    fields: tuple[str, ...]
    matrix: np.ndarray  # (n_features, n_fields)

    @classmethod
    def build(cls, spec: FeatureSpec, feature_names: Sequence[str]) -> FieldMap:
        owners = feature_fields(spec, feature_names)
        fields = tuple(dict.fromkeys(owners))
        matrix = np.zeros((len(feature_names), len(fields)))
        for i, owner in enumerate(owners):
            matrix[i, fields.index(owner)] = 1.0
        return cls(fields, matrix)

    def aggregate(self, contrib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split ``pred_contrib`` output (features + base column) into fields and base."""
        return contrib[:, :-1] @ self.matrix, contrib[:, -1]


def _days(value: float) -> str:
    if math.isnan(value):
        return "a while"
    days = round(value)
    if days <= 0:
        return "today"
    return "1 day ago" if days == 1 else f"{days} days ago"


def _times(n: float, noun: str) -> str:
    n = round(n)
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun}" + ("es" if noun.endswith(("ch", "sh", "s", "x")) else "s")


class Phrasebook:
    """Turns (field, sign, the lead's values) into a sentence."""

    def __init__(self, spec: FeatureSpec, vocabularies: Mapping[str, Mapping[str, int]]) -> None:
        self.spec = spec
        self.decode = {col: {c: v for v, c in vocab.items()} for col, vocab in vocabularies.items()}

    def value(self, field_name: str, row: Mapping[str, float], raw: Mapping[str, Any]) -> str:
        """The lead's value of a categorical/ordinal field, as the CRM spells it."""
        if raw.get(field_name) not in (None, ""):
            return str(raw[field_name])
        code = row.get(field_name, math.nan)
        if math.isnan(code):
            return "unknown"
        if field_name in self.spec.ordinal:
            return self.spec.ordinal[field_name][int(code)]
        label = self.decode.get(field_name, {}).get(int(code), OTHER)
        return "an uncommon value" if label == OTHER else label

    def phrase(
        self, field_name: str, positive: bool, row: Mapping[str, float], raw: Mapping[str, Any]
    ) -> str:
        n = row.get
        if field_name == "demo_request":
            if n("n_demo_request", 0) > 0:
                return f"requested a demo {_days(n('days_since_demo_request', math.nan))}"
            return "has not requested a demo"
        if field_name == "pricing_page":
            views = n("n_pricing_page_view", 0)
            if views > 0:
                last = _days(n("days_since_pricing_page_view", math.nan))
                return f"viewed the pricing page {_times(views, 'time')}, last {last}"
            return "has not looked at pricing"
        if field_name == "webinar":
            if n("n_webinar_attended", 0) > 0:
                return f"attended {_times(n('n_webinar_attended', 0), 'webinar')}"
            if n("n_webinar_registered", 0) > 0:
                return "registered for a webinar but did not attend"
            return "has not attended a webinar"
        if field_name == "content":
            downloads = n("n_content_download", 0)
            if downloads > 0:
                return f"downloaded {_times(downloads, 'content piece')}"
            return "downloaded no content"
        if field_name == "email_engagement":
            if n("n_email_click", 0) > 0:
                return f"clicked {_times(n('n_email_click', 0), 'marketing email')}"
            if n("n_email_open", 0) > 0:
                return "opens marketing emails but never clicks"
            return "does not engage with marketing emails"
        if field_name == "website_activity":
            visits = sum(n(f"n_{t}", 0) for t in ("page_view", "form_submit", "chat", "call"))
            if visits > 0:
                return f"website, form, chat or call activity: {round(visits)} in the last year"
            return "no website activity"
        if field_name == "recent_engagement":
            recent = n("n_touches_14d", 0)
            if recent > 0 and positive:
                return f"active recently: {_times(recent, 'touch')} in the last 14 days"
            if recent > 0:
                return f"little recent activity: {_times(recent, 'touch')} in the last 14 days"
            last_touch = n("days_since_last_touch", math.nan)
            if math.isnan(last_touch):
                return "no recorded activity"
            return f"no activity in the last 14 days (last touch {_days(last_touch)})"
        if field_name == "lead_age":
            created = n("lead_age_days", math.nan)
            return (
                f"lead created {_days(created)}" if not math.isnan(created) else "lead age unknown"
            )
        if field_name == "season":
            month = n("month_of_year", math.nan)
            name = MONTHS[int(month) - 1] if not math.isnan(month) else "this month"
            verb = "convert better" if positive else "convert worse"
            return f"leads in {name} {verb}"
        if field_name == "consent":
            return "agreed to be contacted" if positive else "limited consent to be contacted"
        return self._field_phrase(field_name, positive, row, raw)

    def _field_phrase(
        self, field_name: str, positive: bool, row: Mapping[str, float], raw: Mapping[str, Any]
    ) -> str:
        label = FIELD_LABELS.get(field_name, field_name.replace("_", " "))
        if field_name in self.spec.numeric:
            number = row.get(field_name, math.nan)
            shown = "unknown" if math.isnan(number) else f"{number:g}"
            return f"{label} is {shown}" + (" (raises the score)" if positive else " (lowers it)")
        value = self.value(field_name, row, raw)
        if value == "unknown":
            return f"{label} not given" + ("" if positive else " (less is known about this lead)")
        if field_name == "company_size":
            return f"company size {value} is {'in' if positive else 'outside'} the ICP"
        if field_name == "industry":
            return f"{value} {'is an ICP industry' if positive else 'rarely buys'}"
        if field_name == "seniority":
            return f"{value} contact: {'has' if positive else 'likely lacks'} buying authority"
        if field_name == "revenue_band":
            return f"revenue {value}: budget {'likely' if positive else 'unlikely'}"
        if field_name == "channel":
            outcome = "convert" if positive else "rarely convert"
            return f"came through {value}, a channel whose leads {outcome}"
        verb = "converts well" if positive else "rarely converts"
        return f"{label} {value} {verb}"


def top_reasons(
    field_contrib: np.ndarray,
    fields: Sequence[str],
    rows: Sequence[Mapping[str, float]],
    raws: Sequence[Mapping[str, Any]],
    phrasebook: Phrasebook,
    k: int,
) -> list[dict[str, list[dict[str, Any]]]]:
    """The k strongest positive and k strongest negative fields per lead, as phrases."""
    result: list[dict[str, list[dict[str, Any]]]] = []
    # Plain Python lists: indexing numpy arrays element by element costs more than the rest.
    order = np.argsort(-field_contrib, axis=1).tolist()
    for i, contrib in enumerate(field_contrib.tolist()):
        positive = [j for j in order[i][:k] if contrib[j] > 0]
        negative = [j for j in order[i][::-1][:k] if contrib[j] < 0]
        result.append(
            {
                "positive": [
                    _reason(fields[j], contrib[j], rows[i], raws[i], phrasebook) for j in positive
                ],
                "negative": [
                    _reason(fields[j], contrib[j], rows[i], raws[i], phrasebook) for j in negative
                ],
            }
        )
    return result


def _reason(
    field_name: str,
    contribution: float,
    row: Mapping[str, float],
    raw: Mapping[str, Any],
    phrasebook: Phrasebook,
) -> dict[str, Any]:
    return {
        "field": field_name,
        "contribution": round(float(contribution), 4),
        "text": phrasebook.phrase(field_name, contribution > 0, row, raw),
    }


__all__ = [
    "FIT_FIELDS",
    "NO_RELIABLE_ESTIMATE",
    "REJECTION_TEXT",
    "TOUCH_TYPES",
    "FieldMap",
    "Phrasebook",
    "feature_fields",
    "top_reasons",
]
