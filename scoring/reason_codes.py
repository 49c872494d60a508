"""Reasons as codes with parameters: what a field's effect says, never how it reads.

A reason is a code and the lead's own values it quotes, e.g. ``demo_request.stale.lowers``
with ``{"days_ago": 13}``; :mod:`scoring.reason_text` words it in a language from the
message catalog. Two rules keep a reason from contradicting itself:

* **The direction is part of the code** (``.raises`` / ``.lowers``), taken from the sign
  of the field's contribution, and each direction has its own wording: a fact that
  usually helps but lowers this lead's score says so instead of reading like a plus.
* **The situation comes from the input value**, not the sign: an absent activity is
  worded as absence either way, consent by its actual value (agreed / refused / not
  given), a category the model never saw as unseen (``category.unseen``).

Every code, its parameters and its wording are listed in ``docs/reasons.md``; a test
checks that each code this module can produce has a message in every language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set
from typing import Any

from scoring.features import OTHER, FeatureSpec

RAISES = "raises"
LOWERS = "lowers"

STALE_DAYS = 7
"""A demo request or pricing-page view at least this many days old that *lowers* the
score is worded as old ("older demo requests count for less"): the model's recency
features only ever lower the score as they grow (``SILENCE_FEATURES``), and a week is the
shortest age sales would call old. A younger one that lowers the score gets the neutral
"counts for less than usual for a lead like this" instead of a claim about its age."""

OWN_VALUE_CODES: frozenset[str] = frozenset(
    {"channel", "industry", "company_size", "revenue_band", "seniority"}
)
"""Category fields with a wording of their own for a known value (ICP, buying authority,
budget, channel); other category fields use the generic ``category.value``."""

CONSENT_COLUMNS: dict[str, str] = {"consent_email": "by_email", "consent_phone": "by_phone"}
"""The consent columns and the parameter each is quoted as."""


def direction(code: str) -> int:
    """+1 for a code that raises the score, -1 for one that lowers it."""
    return 1 if code.endswith("." + RAISES) else -1


def _number(value: float) -> int | float:
    """A count or day number as the request implied it: an int when it is whole."""
    return int(value) if float(value).is_integer() else round(float(value), 2)


def _present(value: Any) -> bool:
    return (
        value is not None and value != "" and not (isinstance(value, float) and math.isnan(value))
    )


class ReasonCoder:
    """Turns (field, direction, the lead's values) into a code and its parameters."""

    def __init__(self, spec: FeatureSpec, vocabularies: Mapping[str, Mapping[str, int]]) -> None:
        self.spec = spec
        self.decode = {col: {c: v for v, c in vocab.items()} for col, vocab in vocabularies.items()}

    def code(
        self,
        field_name: str,
        positive: bool,
        row: Mapping[str, float],
        raw: Mapping[str, Any],
        unseen: Set[str] = frozenset(),
    ) -> tuple[str, dict[str, Any]]:
        """The code (ending in ``.raises`` or ``.lowers``) and the values it quotes."""
        situation, params = self._situation(field_name, positive, row, raw, unseen)
        return f"{situation}.{RAISES if positive else LOWERS}", params

    def _situation(
        self,
        field_name: str,
        positive: bool,
        row: Mapping[str, float],
        raw: Mapping[str, Any],
        unseen: Set[str],
    ) -> tuple[str, dict[str, Any]]:
        def n(col: str) -> float:
            value = row.get(col, math.nan)
            return 0.0 if math.isnan(value) else value

        def days(col: str) -> int | None:
            """Days elapsed to the nearest whole day, halves up (36 hours before ``as_of``
            is 2 days ago, 11 hours is today)."""
            value = row.get(col, math.nan)
            return None if math.isnan(value) else math.floor(value + 0.5)

        if field_name == "demo_request":
            if n("n_demo_request") > 0:
                ago = days("days_since_demo_request")
                old = not positive and ago is not None and ago >= STALE_DAYS
                return ("demo_request.stale" if old else "demo_request.requested"), {
                    "days_ago": ago
                }
            return "demo_request.none", {}
        if field_name == "pricing_page":
            if n("n_pricing_page_view") > 0:
                ago = days("days_since_pricing_page_view")
                old = not positive and ago is not None and ago >= STALE_DAYS
                params = {"views": _number(n("n_pricing_page_view")), "days_ago": ago}
                return ("pricing_page.stale" if old else "pricing_page.viewed"), params
            return "pricing_page.none", {}
        if field_name == "webinar":
            if n("n_webinar_attended") > 0:
                return "webinar.attended", {"webinars": _number(n("n_webinar_attended"))}
            if n("n_webinar_registered") > 0:
                return "webinar.registered", {"webinars": _number(n("n_webinar_registered"))}
            return "webinar.none", {}
        if field_name == "content":
            if n("n_content_download") > 0:
                return "content.downloaded", {"downloads": _number(n("n_content_download"))}
            return "content.none", {}
        if field_name == "email_engagement":
            if n("n_email_click") > 0:
                return "email_engagement.clicked", {"clicks": _number(n("n_email_click"))}
            if n("n_email_open") > 0:
                return "email_engagement.opened", {"opens": _number(n("n_email_open"))}
            return "email_engagement.none", {}
        if field_name == "website_activity":
            visits = sum(n(f"n_{t}") for t in ("page_view", "form_submit", "chat", "call"))
            if visits > 0:
                return "website_activity.active", {"activities": _number(visits)}
            return "website_activity.none", {}
        if field_name == "recent_engagement":
            if n("n_touches_14d") > 0:
                return "recent_engagement.active", {"touches": _number(n("n_touches_14d"))}
            last = days("days_since_last_touch")
            if last is None:
                return "recent_engagement.none", {}
            return "recent_engagement.quiet", {"days_ago": last}
        if field_name == "lead_age":
            age = days("lead_age_days")
            return ("lead_age.unknown", {}) if age is None else ("lead_age.age", {"days_ago": age})
        if field_name == "season":
            month = row.get("month_of_year", math.nan)
            if not math.isnan(month):
                return "season.month", {"month": int(month)}
            return "season.unknown", {}
        if field_name == "consent":
            return self._consent(row, raw)
        return self._field(field_name, row, raw, unseen)

    def _consent(
        self, row: Mapping[str, float], raw: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {}
        for col, name in CONSENT_COLUMNS.items():
            if col not in self.spec.boolean:
                continue
            value = row.get(col, math.nan)
            params[name] = None if math.isnan(value) else bool(value)
        values = set(params.values())
        if True in values:
            return "consent.agreed", params
        if False in values:
            return "consent.refused", params
        return "consent.not_given", params

    def _field(
        self, field_name: str, row: Mapping[str, float], raw: Mapping[str, Any], unseen: Set[str]
    ) -> tuple[str, dict[str, Any]]:
        sent = raw.get(field_name)
        if field_name in self.spec.numeric:
            number = row.get(field_name, math.nan)
            if math.isnan(number):
                return "number.missing", {}
            return "number.value", {"value": _number(number)}
        if field_name in unseen and _present(sent):
            return "category.unseen", {"value": str(sent)}
        code = row.get(field_name, math.nan)
        if math.isnan(code):
            return "category.missing", {}
        if field_name in self.spec.ordinal:
            value = str(sent) if _present(sent) else self.spec.ordinal[field_name][int(code)]
        else:
            label = self.decode.get(field_name, {}).get(int(code), OTHER)
            if label == OTHER:
                return "category.rare", ({"value": str(sent)} if _present(sent) else {})
            value = str(sent) if _present(sent) else label
        own = field_name if field_name in OWN_VALUE_CODES else "category"
        return f"{own}.value", {"value": value}


__all__ = ["LOWERS", "RAISES", "STALE_DAYS", "ReasonCoder", "direction"]
