"""Retraining on what serving stored: whatever the API or the pages accept, retrain accepts.

A retrain reads the decision log and the feedback table back from the serving database;
its rows have the types the store gives them (nullable integers for optional counts, a
missing value wherever the API let a field out). One such row used to crash every
retrain until someone edited the database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.contract import LEAD_ORDINAL_FEATURES, NEGATIVE_REASONS, RejectionReason, TouchType
from tests.model_fixtures import Registry, admin_headers
from tests.payloads import lead_body


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def post_feedback(client: TestClient, body: dict[str, Any], key: str) -> Any:
    return client.post(
        "/v1/feedback", json=body, headers={**admin_headers(), "Idempotency-Key": key}
    )


@pytest.mark.slow
def test_retrain_command_after_feedback_without_contact_attempts(
    registry: Registry,
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 9 item 1: ``leadscore retrain`` after a decision sent without contact_attempts."""
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from cli.app import app
    from scoring.settings import Settings

    database = f"sqlite:///{tmp_path / 'serving.db'}"
    client = make_client(database_url=database)
    decisions = [
        {"kind": "accepted", "contact_attempts": 2, "first_response_hours": 3.0},
        {"kind": "accepted"},  # what the lead page's form sends when the field is left empty
        {"kind": "rejected", "reason": "no_response", "contact_attempts": 3},
        {"kind": "rejected", "reason": "not_icp"},
        {"kind": "returned_to_nurture", "first_response_hours": 1.5},
    ]
    for i, extra in enumerate(decisions):
        lead_id = f"rt-{i}"
        scored = client.post(
            "/v1/score", json=lead_body(lead_id, "2026-05-04T09:00:00Z"), headers=admin_headers()
        )
        assert scored.status_code == 200, scored.text
        body = {"lead_id": lead_id, "at": "2026-05-04T15:00:00Z", **extra}
        assert post_feedback(client, body, f"rt-key-{i:04d}").status_code == 201
    won = {"lead_id": "rt-0", "kind": "won", "at": "2026-06-01T10:00:00Z", "amount": 10_000}
    assert post_feedback(client, won, "rt-key-won").status_code == 201
    client.app.state.decision_log.flush()

    base = registry.history.save(tmp_path / "base")
    home = tmp_path / "home"
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", database)
    monkeypatch.delenv("LEADSCORE_TRACKING_URI", raising=False)
    # 4,000 leads are too few for LightGBM to pass the refusal rule against the logistic
    # baseline (docs/training-rules.md); --force registers it: this test is about the data.
    result = CliRunner().invoke(app, ["retrain", "--data", str(base), "--force"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert "registered" in result.output

    settings = Settings()
    mlflow = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    run = mlflow.get_run(mlflow.get_model_version(settings.model_name, "1").run_id)
    assert run.data.params["feedback_sales_decisions"] == str(len(decisions))
    assert run.data.params["feedback_outcomes"] == "1"
    assert run.data.params["validation_problems"] == "0"


# --- the property: any feedback the API accepts reaches retraining's labels ------------------

_counter = itertools.count()
_BASE_LEADS = 400
RUN_TIME = pd.Timestamp("2026-07-01", tz="UTC")
"""When the property's retraining runs: after every event the examples draw."""


def _optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An optional field as a client may send it: left out, sent as null, or a value."""
    return st.one_of(st.just(_ABSENT), st.none(), values)


def _absent_or(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(_ABSENT), values)


_ABSENT = object()
OPTIONAL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "contact_attempts": st.integers(0, 1_000),
    "first_response_hours": st.floats(0, 24 * 365),
    "amount": st.floats(0, 1e10),
    "comment": st.text(max_size=20),
}


@st.composite
def event(draw: st.DrawFn, lead_id: str, kind: str, at: datetime) -> dict[str, Any]:
    """One feedback body of ``kind``: every optional field absent, null or set."""
    body: dict[str, Any] = {"lead_id": lead_id, "kind": kind, "at": at.isoformat()}
    if kind == "rejected":
        body["reason"] = draw(st.sampled_from([r.value for r in RejectionReason]))
    for name, values in OPTIONAL_FIELDS.items():
        value = draw(_optional(values))
        if value is not _ABSENT:
            body[name] = value
    return body


_TEXT = st.sampled_from(["software", "NA", "None", "Tech & Co", "ünïcode", "x" * 100])
_SCORED_AT = datetime(2026, 5, 4, 9, tzinfo=UTC)
_TIMES = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 6, 1), timezones=st.just(UTC)
)
_NEAR_SCORING = st.sampled_from([-40.0, -1.0, -0.01, 0.01, 3.0]).map(
    lambda days: (_SCORED_AT + timedelta(days=days)).isoformat()
)
"""A lead time on either side of the scoring moment (before it is the usual case)."""


@st.composite
def scored_lead(draw: st.DrawFn, lead_id: str) -> dict[str, Any]:
    """A lead as a client may send it: every optional field absent, null or set.

    Ordinal fields may carry a value outside the contract's order ("200-500"): the API
    scores it as an unseen value. Times may come before or after the scoring moment.
    """
    fields: dict[str, st.SearchStrategy[Any]] = {
        "created_at": _NEAR_SCORING,
        "mql_at": _NEAR_SCORING,
        **{
            name: _TEXT
            for name in (
                "channel", "campaign", "industry", "country", "region", "job_title", "department"
            )
        },
        **{
            name: st.sampled_from([*order, "200-500", "CEO", "unknown"])
            for name, order in LEAD_ORDINAL_FEATURES.items()
        },
        "consent_email": st.booleans(),
        "consent_phone": st.booleans(),
        "name": st.just("Olga Petrova"),
        "attributes": st.dictionaries(
            st.sampled_from(["deal_size", "source_rank"]),
            st.one_of(st.floats(-1e6, 1e6), st.booleans(), _TEXT),
            max_size=2,
        ),
        "touches": st.lists(
            st.fixed_dictionaries(
                {
                    "at": _TIMES.map(datetime.isoformat),
                    "type": st.sampled_from([t.value for t in TouchType]),
                }
            ),
            max_size=3,
        ),
    }  # fmt: skip
    body: dict[str, Any] = {"lead_id": lead_id, "as_of": _SCORED_AT.isoformat()}
    for name, values in fields.items():
        # lists and maps may be left out but not sent as null (a 422 the property skips)
        optional = _absent_or(values) if name in ("attributes", "touches") else _optional(values)
        value = draw(optional)
        if value is not _ABSENT:
            body[name] = value
    return body


@st.composite
def lead_feedback(draw: st.DrawFn, lead_id: str) -> list[dict[str, Any]]:
    """A lead's feedback in a plausible order: a sales decision, then maybe the deal's end."""
    decided = datetime(2026, 5, 4, 15, tzinfo=UTC)
    decision = draw(st.sampled_from(["accepted", "rejected", "returned_to_nurture"]))
    events = [draw(event(lead_id, decision, decided))]
    if decision == "accepted" and draw(st.booleans()):
        closed = decided + timedelta(days=draw(st.integers(1, 40)))
        events.append(draw(event(lead_id, draw(st.sampled_from(["won", "lost"])), closed)))
    if draw(st.booleans()):
        events.append(draw(event(lead_id, "disagree", decided + timedelta(hours=1))))
    return events


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_anything_the_api_accepts_reaches_retrainings_labels(
    data: st.DataObject, client: TestClient
) -> None:
    """Score a lead and send it feedback as the API accepts them; build retraining's data.

    One client serves every example (each has its own lead, hence the suppressed health
    check on function-scoped fixtures); the base history is small,
    so each example prepares the data exactly as ``retrain`` does (merge, validate,
    labels and features) without fitting a model, which does not read feedback columns.
    """
    from tests.histories import synthetic_history
    from training.retrain import merge_feedback
    from training.train import build_dataset
    from training.validate import validate_history

    lead_id = f"prop-{next(_counter)}"
    lead = data.draw(scored_lead(lead_id))
    scored = client.post("/v1/score", json=lead, headers=admin_headers())
    if scored.status_code == 422:  # refused: nothing stored, nothing to retrain on
        return
    assert scored.status_code == 200, scored.text
    accepted = []
    for i, body in enumerate(data.draw(lead_feedback(lead_id))):
        response = post_feedback(client, body, f"{lead_id}-{i}")
        assert response.status_code in (201, 409, 422), response.text
        if response.status_code == 201:
            accepted.append(body)
    client.app.state.decision_log.flush()
    store = client.app.state.store
    decisions = store.decisions_for_training()
    feedback = store.feedback_frame()
    decisions = decisions[decisions["lead_id"] == lead_id]
    feedback = feedback[feedback["lead_id"] == lead_id]

    base = synthetic_history(_BASE_LEADS, months=18, seed=3)
    history, used = merge_feedback(base, decisions, feedback, now=RUN_TIME)
    checked = validate_history(history)
    frame = build_dataset(checked.history).set_index("lead_id")

    assert lead_id in set(checked.history.leads["lead_id"]), checked.report.to_string()
    kinds = {b["kind"]: b for b in accepted}
    sales = [k for k in kinds if k in ("accepted", "rejected", "returned_to_nurture")]
    outcome = next((kinds[k] for k in ("won", "lost") if k in kinds), None)
    if outcome is not None and not sales:  # the decision was refused (e.g. its comment):
        sales = ["accepted"]  # the lifecycle stored the acceptance the deal implies
        kinds["accepted"] = outcome
    kept = checked.history.feedback
    assert (kept["lead_id"] == lead_id).sum() == len(sales) == used.sales_decisions
    kept_outcomes = checked.history.outcomes
    kept_outcome = (kept_outcomes["lead_id"] == lead_id).sum()
    if outcome is not None and outcome["kind"] == "won" and outcome.get("amount") is None:
        # the contract requires an amount for a won deal (issue 9 item 4 refuses it at the
        # API); until then retraining reports and skips the row instead of failing
        assert kept_outcome == 0
        assert "a won deal needs an amount" in set(checked.report["problem"])
    else:
        assert kept_outcome == (outcome is not None)
    row = frame.loc[lead_id]
    if "accepted" in kinds:
        assert row["y_sql"] == 1.0
        if outcome is not None and kept_outcome:
            assert row["y_won"] == (1.0 if outcome["kind"] == "won" else 0.0)
    elif "rejected" in kinds and kinds["rejected"]["reason"] in NEGATIVE_REASONS:
        assert row["y_sql"] == 0.0


def test_served_leads_keep_what_the_scorer_made_of_them(client: TestClient) -> None:
    """A lead the API scores but an export's validation would drop (and, once such leads
    are more than 5 % of the leads, refuse to train on): a created_at after the scoring
    moment (the lead existed). An off-vocabulary company size used to be the other such
    lead; the API refuses it now (422, issue 13 item 7), so it never reaches the log."""
    from tests.histories import synthetic_history
    from training.retrain import merge_feedback
    from training.validate import validate_history

    odd_size = {**lead_body("odd-size", "2026-05-04T09:00:00Z"), "company_size": "200-500"}
    assert client.post("/v1/score", json=odd_size, headers=admin_headers()).status_code == 422
    bodies = {
        "late-created": {
            **lead_body("late-created", "2026-05-04T09:00:00Z"),
            "created_at": "2026-05-04T09:30:00Z",
        },
    }
    for lead_id, body in bodies.items():
        assert client.post("/v1/score", json=body, headers=admin_headers()).status_code == 200
        decided = {"lead_id": lead_id, "kind": "accepted", "at": "2026-05-04T15:00:00Z"}
        assert post_feedback(client, decided, f"{lead_id}-fb").status_code == 201
    client.app.state.decision_log.flush()
    store = client.app.state.store

    base = synthetic_history(_BASE_LEADS, months=18, seed=3)
    history, _ = merge_feedback(
        base, store.decisions_for_training(), store.feedback_frame(), now=RUN_TIME
    )
    checked = validate_history(history)
    assert checked.report.empty, checked.report.to_string()
    leads = checked.history.leads.set_index("lead_id")
    assert "odd-size" not in leads.index
    assert leads.loc["late-created", "created_at"] == leads.loc["late-created", "mql_at"]
    assert set(checked.history.feedback["lead_id"]) >= set(bodies)
