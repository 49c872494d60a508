"""The reason catalog: every code the coder can produce is worded in every language.

A new situation in :mod:`scoring.reason_codes` without a message would reach a
salesperson as its bare code; a Russian message missing would show English on a Russian
page. Driven over rows that reach each branch, both directions, with known, rare,
unseen and missing category values.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from scoring.explain import TOUCH_FIELDS
from scoring.features import FeatureSpec
from scoring.reason_codes import ReasonCoder, direction
from scoring.reason_text import REASON_LANGUAGES, message_ids, render

ROWS: list[dict[str, float]] = [
    {  # active in every way
        "n_demo_request": 1,
        "days_since_demo_request": 2.5,
        "n_pricing_page_view": 3,
        "days_since_pricing_page_view": 9,
        "n_webinar_attended": 1,
        "n_webinar_registered": 1,
        "n_content_download": 2,
        "n_email_click": 1,
        "n_email_open": 3,
        "n_page_view": 5,
        "n_touches_14d": 1,
        "days_since_last_touch": 1,
        "lead_age_days": 29,
        "month_of_year": 3,
        "consent_email": 1.0,
        "consent_phone": math.nan,
        "company_size": 3.0,
        "industry": 0.0,
        "channel": 1.0,
    },
    {  # some registered, opened; a stale demo request
        "n_demo_request": 2,
        "days_since_demo_request": 13,
        "n_webinar_registered": 1,
        "n_email_open": 2,
        "days_since_last_touch": 20,
        "n_chat": 1,
        "consent_email": 0.0,
        "industry": 2.0,  # the __other__ code
        "channel": 2.0,
    },
    {"days_since_demo_request": math.nan, "lead_age_days": 1, "month_of_year": 12},
    {"lead_age_days": math.nan, "month_of_year": math.nan},
]
RAWS: list[dict[str, Any]] = [
    {"industry": "software", "channel": "webinar", "company_size": "201-500"},
    {"industry": "crypto", "channel": "fax", "company_size": "huge"},
    {},
]
VOCAB = {"industry": {"software": 0, "retail": 1, "__other__": 2}, "channel": {"webinar": 1}}


def _codes() -> set[tuple[str, str, tuple[tuple[str, Any], ...]]]:
    spec = FeatureSpec()
    coder = ReasonCoder(spec, VOCAB)
    fields = [*TOUCH_FIELDS, "consent", *spec.categorical, *spec.ordinal]
    out = set()
    for field, row, raw, positive, unseen in itertools.product(
        fields, ROWS, RAWS, (True, False), (frozenset(), frozenset({"industry", "company_size"}))
    ):
        code, params = coder.code(field, positive, row, raw, unseen)
        assert direction(code) == (1 if positive else -1)
        out.add((field, code, tuple(sorted(params.items()))))
    return out


def test_every_code_has_a_message_in_every_language() -> None:
    produced = _codes()
    codes = {code for _, code, _ in produced}
    assert len(codes) >= 45  # the rows above reach most situations
    for lang in REASON_LANGUAGES:
        missing = codes - message_ids(lang)
        assert not missing, (lang, sorted(missing))
    assert message_ids("en") == message_ids("ru")
    for (field, code, params), lang in itertools.product(produced, REASON_LANGUAGES):
        text = render(code, dict(params), lang, field)
        assert text and "{" not in text and "__" not in text, (code, lang, text)


def test_unseen_consent_and_absence_are_worded_as_they_are() -> None:
    coder = ReasonCoder(FeatureSpec(), VOCAB)
    code, params = coder.code(
        "industry", False, {"industry": 2.0}, {"industry": "crypto"}, {"industry"}
    )
    assert render(code, params, "en", "industry") == (
        "industry 'crypto' was never seen in training: treated as unknown"
    )
    consent = {"consent_email": 0.0, "consent_phone": math.nan}
    code, params = coder.code("consent", True, consent, {})
    assert params == {"by_email": False, "by_phone": None}
    assert "refused" in render(code, params, "en") and "agreed" not in render(code, params, "en")
    none = coder.code("website_activity", True, {}, {})
    assert render(*none, "en") == (
        "no website activity — leads like this one are not penalised for it"
    )
    assert render(*coder.code("website_activity", False, {}, {}), "en") == "no website activity"


def test_russian_plurals_and_numbers_follow_cldr() -> None:
    code = "demo_request.requested.raises"
    words = [render(code, {"days_ago": n}, "ru") for n in (1, 2, 5, 11, 21, 1000)]
    assert words == [
        "запросил демо 1 день назад",
        "запросил демо 2 дня назад",
        "запросил демо 5 дней назад",
        "запросил демо 11 дней назад",
        "запросил демо 21 день назад",
        "запросил демо 1\xa0000 дней назад",
    ]
    assert render(code, {"days_ago": 0}, "en") == "requested a demo today"
    assert render("season.month.lowers", {"month": 3}, "ru").startswith("март:")
