"""The SQL report sections equal the pandas ones, on SQLite and PostgreSQL.

The server computes the funnel and rejection sections with GROUP BY queries
(``serving.report_sql``); the pandas path (``from_store`` then ``build_report``), which
reads the whole log, stays the reference. Both read one seeded store: rescored leads,
every sales decision, implied acceptances, a deal never accepted, feedback for a lead
never scored, and leads whose fields are missing.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import insert

from scoring.drift import reference_profile
from serving.report_sql import store_report
from serving.reports import GROUPABLE, CostInputs, build_report, from_store
from serving.storage import Store
from serving.store.report_sla import QUANTILES
from serving.store.sla_hist import error_bound
from serving.tables import Feedback

START = datetime(2025, 3, 1, tzinfo=UTC)
CHANNELS = ("paid_search", "seo", "email", "events", None)
SIZES = ("5000+", "1-10", "51-200", "11-50", None)
QUANTILE_NAMES = tuple(f".{name}" for name in QUANTILES)
"""The SLA section's quantiles: estimated from histograms, compared within their bound."""
REASONS = ("no_budget", "not_icp", "too_early", "no_response", "competitor_won", "other")


def _seed(store: Store, leads: int = 160, seed: int = 3, step_hours: int = 7) -> None:
    rng = random.Random(seed)
    decisions: list[dict[str, Any]] = []
    stories: list[tuple[str, datetime]] = []
    for i in range(leads):
        at = START + timedelta(hours=step_hours * i)
        features: dict[str, Any] = {
            "industry": rng.choice(("software", "retail", "finance")),
            "campaign": f"c{rng.randrange(4)}",
            "has_phone": i % 3 == 0,
            "touches_30d": (7 * i) % 23,
            "created_at": (at - timedelta(days=1)).isoformat(),
        }
        for name, values in (("channel", CHANNELS), ("company_size", SIZES)):
            value = rng.choice(values)
            if value is not None:
                features[name] = value
        for k in range(1 + (i % 4 == 0)):  # every fourth lead scored twice
            p_won = rng.random()
            decisions.append(
                {
                    "lead_id": f"L{i}",
                    "scored_at": at + timedelta(hours=k),
                    "as_of": at + timedelta(hours=k),
                    "model_name": "leadscore",
                    "model_version": "1",
                    "features": features,
                    "p_sql": p_won,
                    "p_won": p_won / 2,
                    "fit_score": 50.0,
                    "engagement_score": 50.0,
                    "decision": "hand_to_sales"
                    if p_won > 0.4 or (k == 1 and i % 8 == 0)
                    else "nurture",
                    "threshold": 0.4,
                }
            )
        stories.append((f"L{i}", at + timedelta(hours=2)))
    store.record_decisions(decisions)
    for lead_id, at in stories:
        for n, body in enumerate(_story(rng, at)):
            store.add_feedback(
                {"lead_id": lead_id, **body}, idempotency_key=f"{lead_id}-{n}", actor="crm"
            )
    with store.engine.begin() as conn:  # written around the lifecycle: a lead never scored
        conn.execute(
            insert(Feedback),
            {
                "id": "f" * 32,
                "lead_id": "never-scored",
                "kind": "accepted",
                "at": START,
                "received_at": START,
                "actor": "crm",
                "idempotency_key": "never-scored",
                "body_hash": "0" * 64,
            },
        )


def _story(rng: random.Random, at: datetime) -> list[dict[str, Any]]:
    """A lead's feedback in the lifecycle's order (some leads get none)."""
    draw, hours = rng.random(), rng.uniform(0.5, 30)
    out: list[dict[str, Any]] = []
    if draw < 0.25:
        return out
    if draw < 0.35:  # a deal closed without a recorded acceptance: one is implied
        return [{"kind": "won", "at": at + timedelta(days=9), "amount": 1000.5}]
    if rng.random() < 0.5:
        out.append({"kind": "contacted", "at": at + timedelta(hours=hours / 2)})
    moment = (at + timedelta(hours=hours)).isoformat()
    if draw < 0.65:
        out.append({"kind": "accepted", "at": moment, "first_response_hours": hours})
        close = (at + timedelta(days=rng.randrange(3, 40))).isoformat()
        if rng.random() < 0.4:
            out.append({"kind": "won", "at": close, "amount": float(rng.randrange(100, 9000))})
        elif rng.random() < 0.5:
            out.append({"kind": "lost", "at": close})
    elif draw < 0.9:
        attempts = rng.randrange(0, 5) if rng.random() < 0.8 else None
        body = {"kind": "rejected", "at": moment, "reason": rng.choice(REASONS)}
        out.append(body if attempts is None else {**body, "contact_attempts": attempts})
    else:
        out.append({"kind": "returned_to_nurture", "at": moment})
    return out


def _same(a: Any, b: Any, where: str = "") -> None:
    """Equal JSON, floats to 1e-12 (SQL adds amounts in another order than pandas); the
    SLA section's medians and p90s (``a`` from the histograms) within their stated bound,
    plus the section's rounding to 4 decimals."""
    if where.endswith(QUANTILE_NAMES) and a is not None and b is not None:
        assert abs(a - b) <= error_bound(b) + 1e-4, f"{where}: {a} != {b}"
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), where
        assert math.isclose(a, b, rel_tol=1e-12), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: {list(a)} != {list(b)}"
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


CASES = [
    pytest.param(["funnel"], ["channel", "campaign", "industry", "company_size"], {}, id="funnel"),
    pytest.param(["rejections"], ["channel", "company_size"], {}, id="rejections"),
    pytest.param(["funnel", "rejections"], list(GROUPABLE), {}, id="all-fields"),
    pytest.param(
        ["rejections", "funnel"],
        ["company_size"],
        {"start": START + timedelta(days=10), "end": START + timedelta(days=30)},
        id="period",
    ),
    pytest.param(
        ["funnel", "sla"],
        ["channel"],
        {"costs": CostInputs.from_dict({"channels": {"seo": {"marketing": 900, "sales": 100}}})},
        id="costs-and-pandas-sla",
    ),
    pytest.param(["funnel"], [], {"start": START + timedelta(days=900)}, id="no-leads"),
    pytest.param(["calibration"], [], {}, id="calibration"),
    pytest.param(
        ["calibration", "funnel"],
        [],
        {"start": START + timedelta(days=5), "end": START + timedelta(days=40)},
        id="calibration-period",
    ),
    pytest.param(
        ["calibration"], [], {"start": START + timedelta(days=900)}, id="calibration-none"
    ),
]


@pytest.mark.parametrize(("sections", "group_by", "options"), CASES)
def test_sql_sections_equal_the_pandas_report(
    store: Store, sections: list[str], group_by: list[str], options: dict[str, Any]
) -> None:
    _seed(store)
    as_of = datetime(2026, 1, 1, tzinfo=UTC)

    def inputs() -> Any:
        return from_store(store.decisions_for_training(), store.feedback_frame(), as_of=as_of)

    reference = build_report(inputs(), group_by=group_by, sections=sections, **options)
    served = store_report(
        store, inputs, group_by=group_by, sections=sections, reference_given=False, **options
    )
    for report in (reference, served):
        report.pop("generated_at")
    _same(served, reference)
    if "funnel" in sections and not options:  # the seeded log shows what it should
        total = served["funnel"]["total"]
        assert total["leads"] == 160 and 0 < total["won"] < total["sql"] < total["mql"]
        assert any("never scored" in note for note in served["notes"])


def test_sql_calibration_judges_won_on_mature_leads_as_pandas_does(store: Store) -> None:
    """Leads spread over a year: enough are older than the maturity cut for P(won) to be
    checked on them alone (the pandas path's ``mature_only``), and both paths agree."""
    _seed(store, leads=200, step_hours=60)

    def inputs() -> Any:
        return from_store(store.decisions_for_training(), store.feedback_frame())

    reference = build_report(inputs(), group_by=[], sections=["calibration"])
    served = store_report(
        store, inputs, group_by=[], sections=["calibration"], reference_given=False
    )
    for report in (reference, served):
        report.pop("generated_at")
    _same(served, reference)
    stages = served["calibration"]["stages"]
    assert stages["won"]["mature_only"] and 0 < stages["won"]["n"] < stages["sql"]["n"] + 200
    assert stages["sql"]["bands"] and served["calibration"]["by_decision"][0]["n"] > 0


def _profile(store: Store) -> dict[str, Any]:
    """A reference profile unlike the seeded rows in places: a category the served rows
    lack, served categories it lacks, a boolean field, shifted numeric edges."""
    rng = random.Random(5)
    frame = pd.DataFrame(
        {
            "industry": [rng.choice(("software", "retail", "energy")) for _ in range(400)],
            "channel": [rng.choice(("seo", "email", None)) for _ in range(400)],
            "company_size": [rng.choice(SIZES) for _ in range(400)],
            "has_phone": [rng.random() < 0.5 for _ in range(400)],
            "touches_30d": [rng.randrange(0, 15) for _ in range(400)],
            "p_won": [rng.random() / 3 for _ in range(400)],
        }
    )
    return reference_profile(frame, list(frame.columns), score_column="p_won")


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="all"),
        pytest.param(
            {"start": START + timedelta(days=10), "end": START + timedelta(days=30)}, id="period"
        ),
        pytest.param({"start": START + timedelta(days=900)}, id="no-rows"),
    ],
)
def test_sql_drift_against_a_stored_profile_equals_the_pandas_report(
    store: Store, options: dict[str, Any]
) -> None:
    _seed(store)
    profile = _profile(store)

    def inputs() -> Any:
        return from_store(
            store.decisions_for_training(),
            store.feedback_frame(),
            reference=profile,
            reference_name="training data of m v1",
        )

    reference = build_report(inputs(), group_by=[], sections=["drift"], **options)
    served = store_report(
        store,
        inputs,
        group_by=[],
        sections=["drift"],
        reference_given=True,
        drift_reference=profile,
        reference_name="training data of m v1",
        **options,
    )
    for report in (reference, served):
        report.pop("generated_at")
    _same(served, reference)
    if not options:
        drift = served["drift"]
        features = {e["feature"] for e in drift["features"]}
        assert {"industry", "channel", "has_phone", "touches_30d", "fit_score"} <= features
        assert drift["score"] is not None and drift["n_current"] > 160
