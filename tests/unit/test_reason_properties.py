"""Reasons never contradict their sign or their input (issue 13, item 2).

Thousands of generated leads — known, rare, unseen and missing categories, every consent
state, touches of every type from a few hours to over a year before ``as_of`` — are
scored by a small trained model, and for every reason shown:

* its code's direction (``.raises`` / ``.lowers``) is the sign of its contribution, and
  its effect is at least :data:`scoring.explain.MIN_EFFECT`;
* its situation and parameters are what the request said, recomputed here from the
  request itself (days since the last demo request, counts, the category as sent, consent
  as sent, unseen values named as unseen);
* its text is the catalog's wording of that code and those parameters, in both languages;

and the contributions of all fields plus the base value add up to the model's raw score,
the shown reasons being some of those fields with their own contributions.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from scoring.contract import COMPANY_SIZES, REVENUE_BANDS, SENIORITIES
from scoring.explain import MIN_EFFECT
from scoring.features import TOUCH_TYPES
from scoring.model import LeadScorer
from scoring.reason_codes import direction
from scoring.reason_text import render
from training.synthetic import generate
from training.train import TrainConfig, train

AS_OF = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LOOKBACK = 365 * DAY


@pytest.fixture(scope="module")
def scorer() -> LeadScorer:
    return train(generate(2_500, months=12, seed=11), TrainConfig(seed=11)).scorer


def _category(known: list[str], unseen: str) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(known), st.just(unseen))


@st.composite
def leads(draw: st.DrawFn, vocab: dict[str, list[str]]) -> dict[str, Any]:
    """A lead as the API receives it, with its own ``as_of``."""
    as_of = AS_OF - draw(st.integers(0, 400)) * DAY
    lead: dict[str, Any] = {
        "lead_id": "p",
        "as_of": as_of,
        "created_at": draw(
            st.one_of(st.none(), st.integers(0, 500 * 24).map(lambda h: as_of - timedelta(hours=h)))
        ),
        "consent_email": draw(st.sampled_from([True, False, None])),
        "consent_phone": draw(st.sampled_from([True, False, None])),
        "company_size": draw(_category(list(COMPANY_SIZES), "huge")),
        "revenue_band": draw(_category(list(REVENUE_BANDS), "lots")),
        "seniority": draw(_category(list(SENIORITIES), "wizard")),
    }
    for field, values in vocab.items():
        lead[field] = draw(_category(values, f"never_seen_{field}"))
    ages = st.integers(1, 420 * 24 * 60)  # minutes before as_of: a minute to 420 days
    lead["touches"] = [
        {"at": as_of - timedelta(minutes=age), "type": kind}
        for kind, age in draw(st.lists(st.tuples(st.sampled_from(TOUCH_TYPES), ages), max_size=14))
    ]
    return lead


def _expected(lead: dict[str, Any]) -> dict[str, Any]:
    """What the request itself says, field by field, computed without the model's code."""
    as_of = lead["as_of"]
    ages = [
        (t["type"], (as_of - t["at"]) / DAY)
        for t in lead["touches"]
        if timedelta(0) < as_of - t["at"] <= LOOKBACK
    ]
    count = {kind: sum(1 for k, _ in ages if k == kind) for kind in TOUCH_TYPES}

    def last(kind: str | None) -> int | None:
        days = [a for k, a in ages if kind is None or k == kind]
        return math.floor(min(days) + 0.5) if days else None  # nearest day, halves up

    created = lead["created_at"]
    return {
        "count": count,
        "demo_days": last("demo_request"),
        "pricing_days": last("pricing_page_view"),
        "last_days": last(None),
        "touches_14d": sum(1 for _, a in ages if a <= 14),
        "activities": sum(count[k] for k in ("page_view", "form_submit", "chat", "call")),
        "age_days": None if created is None else math.floor((as_of - created) / DAY + 0.5),
        "month": as_of.month,
    }


def _check_touch_reason(field: str, code: str, params: dict[str, Any], e: dict[str, Any]) -> None:
    situation = code.rsplit(".", 1)[0]
    n = e["count"]
    if field == "demo_request":
        if n["demo_request"]:
            assert situation in ("demo_request.requested", "demo_request.stale")
            assert params == {"days_ago": e["demo_days"]}
            assert situation != "demo_request.stale" or e["demo_days"] >= 7
        else:
            assert (situation, params) == ("demo_request.none", {})
    elif field == "pricing_page":
        if n["pricing_page_view"]:
            assert params == {"views": n["pricing_page_view"], "days_ago": e["pricing_days"]}
        else:
            assert (situation, params) == ("pricing_page.none", {})
    elif field == "webinar":
        if n["webinar_attended"]:
            assert (situation, params) == ("webinar.attended", {"webinars": n["webinar_attended"]})
        elif n["webinar_registered"]:
            assert params == {"webinars": n["webinar_registered"]}
        else:
            assert situation == "webinar.none"
    elif field == "content":
        want = ("content.downloaded", {"downloads": n["content_download"]})
        assert (situation, params) == (want if n["content_download"] else ("content.none", {}))
    elif field == "email_engagement":
        if n["email_click"]:
            assert (situation, params) == ("email_engagement.clicked", {"clicks": n["email_click"]})
        elif n["email_open"]:
            assert (situation, params) == ("email_engagement.opened", {"opens": n["email_open"]})
        else:
            assert situation == "email_engagement.none"
    elif field == "website_activity":
        want = ("website_activity.active", {"activities": e["activities"]})
        assert (situation, params) == (want if e["activities"] else ("website_activity.none", {}))
    elif field == "recent_engagement":
        if e["touches_14d"]:
            assert params == {"touches": e["touches_14d"]}
        elif e["last_days"] is not None:
            assert (situation, params) == ("recent_engagement.quiet", {"days_ago": e["last_days"]})
        else:
            assert situation == "recent_engagement.none"
    elif field == "lead_age":
        if e["age_days"] is None:
            assert situation == "lead_age.unknown"
        else:
            assert params == {"days_ago": e["age_days"]}
    elif field == "season":
        assert params == {"month": e["month"]}
    else:
        raise AssertionError(f"unexpected field {field}")


def _check_field_reason(
    field: str, code: str, params: dict[str, Any], lead: dict[str, Any], scorer: LeadScorer
) -> None:
    situation = code.rsplit(".", 1)[0]
    if field == "consent":
        sent = {"by_email": lead["consent_email"], "by_phone": lead["consent_phone"]}
        assert params == sent
        values = set(sent.values())
        want = "agreed" if True in values else "refused" if False in values else "not_given"
        assert situation == f"consent.{want}"
        return
    sent = lead[field]
    if sent is None:
        assert (situation, params) == ("category.missing", {})
        return
    assert params == {"value": sent}  # the value as sent, never a code or "__other__"
    known = scorer.encoder.vocabularies_.get(field) or dict.fromkeys(scorer.spec.ordinal[field])
    rare = scorer.encoder.rare_values_.get(field, frozenset())
    if sent.startswith("never_seen_") or sent in ("huge", "lots", "wizard"):
        assert situation == "category.unseen", (field, sent, code)
    elif sent in rare:
        assert situation == "category.rare"
    else:
        assert sent in known and situation.endswith(".value"), (field, sent, code)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_reasons_agree_with_their_sign_and_their_input(scorer: LeadScorer) -> None:
    vocab = {
        col: sorted(v for v in values if not v.startswith("__"))
        for col, values in scorer.encoder.vocabularies_.items()
    }
    seen = {"leads": 0, "reasons": 0, "codes": set()}

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # a failure is shown as found: no shrinking
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(leads(vocab), min_size=20, max_size=20))
    def check(batch: list[dict[str, Any]]) -> None:
        scores = scorer.score_records(batch, [lead["as_of"] for lead in batch], reasons=20)
        assert scores.reasons is not None and scores.field_contributions is not None
        assert scores.base_value is not None
        total = scores.field_contributions.sum(axis=1) + scores.base_value
        np.testing.assert_allclose(total, scores.raw, rtol=1e-6, atol=1e-6)
        fields = list(scorer.field_map.fields)
        for i, lead in enumerate(batch):
            expected = _expected(lead)
            for side, sign in (("positive", 1), ("negative", -1)):
                for reason in scores.reasons[i][side]:
                    field, code, params = reason["field"], reason["code"], reason["params"]
                    contribution = scores.field_contributions[i, fields.index(field)]
                    assert reason["contribution"] == round(float(contribution), 4)
                    assert direction(code) == sign == np.sign(contribution), (code, contribution)
                    assert abs(contribution) >= MIN_EFFECT
                    if field in ("consent", *scorer.spec.categorical, *scorer.spec.ordinal):
                        _check_field_reason(field, code, params, lead, scorer)
                    else:
                        _check_touch_reason(field, code, params, expected)
                    assert reason["text"] == render(code, params, "en", field)
                    for lang in ("en", "ru"):
                        text = render(code, params, lang, field)
                        assert text and text != code and "{" not in text and "}" not in text
                    seen["reasons"] += 1
                    seen["codes"].add(code)
            seen["leads"] += 1

    assert MIN_EFFECT >= 0.01  # a ±0.002 effect must never pass as a reason
    check()
    assert seen["leads"] >= 3000
    # the leads reach every kind of reason, both ways (else the checks above prove little)
    codes = {c.rsplit(".", 1)[0] for c in seen["codes"]}
    assert {"category.unseen", "category.missing", "demo_request.none"} <= codes, codes
    assert {"consent.agreed", "consent.refused", "consent.not_given"} & codes, codes
    assert len(seen["codes"]) >= 30, sorted(seen["codes"])
