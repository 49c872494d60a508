"""Times that cannot be true yet: refused by serving, and never a clock for retraining.

A lead scored "as of" next year, a touch or a sales decision dated tomorrow: the API and
the batch endpoint refuse any time later than the server's clock plus the allowed clock
skew (``LEADSCORE_CLOCK_SKEW_SECONDS``, 5 minutes), naming the field and the bound.
Retraining's data clock stops at the time it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.model_fixtures import admin_headers

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
"""The server's clock in these tests."""
BOUND = "must not be later than 2026-04-01T12:05:00Z (now plus 300 s allowed clock skew)"


def later(**delta: float) -> str:
    return (NOW + timedelta(**delta)).isoformat()


def lead(lead_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "created_at": "2026-03-01T09:00:00Z",
        "channel": "webinar",
        "industry": "software",
        "company_size": "201-500",
        "seniority": "director",
        "touches": [
            {"at": "2026-03-20T10:00:00Z", "type": "webinar_attended"},
            {"at": "2026-03-28T10:00:00", "type": "pricing_page_view"},  # no zone: UTC
        ],
        **fields,
    }


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client()
    client.app.state.clock = lambda: NOW
    return client


def logged(client: TestClient, lead_id: str) -> bool:
    client.app.state.decision_log.flush()
    return client.app.state.store.last_decision(lead_id) is not None


LATE_SCORES = [
    ("as_of", lead("t-1", as_of=later(minutes=6))),
    ("created_at", lead("t-2", created_at=later(days=200))),
    ("mql_at", lead("t-3", mql_at=later(hours=2))),
    (
        "touches.2.at",
        lead(
            "t-4",
            touches=[
                *lead("x")["touches"],
                {"at": "2026-04-01T13:00:00", "type": "demo_request"},  # UTC: an hour ahead
            ],
        ),
    ),
    (
        "touches.0.at",
        lead("t-5", touches=[{"at": "2026-04-01T14:06:00+02:00", "type": "chat"}]),
    ),
]


@pytest.mark.parametrize(("field", "body"), LATE_SCORES, ids=[f for f, _ in LATE_SCORES])
def test_score_refuses_a_time_after_now_naming_the_field_and_the_bound(
    client: TestClient, field: str, body: dict[str, Any]
) -> None:
    response = client.post("/v1/score", json=body, headers=admin_headers())
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [{"field": field, "message": BOUND}]
    assert not logged(client, body["lead_id"])


def test_score_accepts_times_within_the_clock_skew_and_defaults_as_of_to_arrival(
    client: TestClient,
) -> None:
    ahead = lead(
        "t-ok",
        as_of=later(minutes=4),
        touches=[{"at": "2026-04-01T14:04:00+02:00", "type": "demo_request"}],
    )
    response = client.post("/v1/score", json=ahead, headers=admin_headers())
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["as_of"]) == NOW + timedelta(minutes=4)
    plain = client.post("/v1/score", json=lead("t-now"), headers=admin_headers())
    assert datetime.fromisoformat(plain.json()["as_of"]) == NOW  # the request's arrival


def test_batch_refuses_late_times_naming_each_and_scores_nothing(client: TestClient) -> None:
    body = {
        "as_of": later(hours=1),  # the default for b-0
        "leads": [
            lead("b-0"),
            lead("b-1", as_of=later(days=1)),
            lead("b-2", as_of=later(minutes=1), touches=[{"at": later(days=30), "type": "chat"}]),
        ],
    }
    response = client.post("/v1/score/batch", json=body, headers=admin_headers())
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [d["field"] for d in detail] == ["as_of", "leads.1.as_of", "leads.2.touches.0.at"]
    assert {d["message"] for d in detail} == {BOUND}
    assert not any(logged(client, f"b-{i}") for i in range(3))

    body["as_of"] = later(minutes=5)
    body["leads"] = body["leads"][:1]
    assert client.post("/v1/score/batch", json=body, headers=admin_headers()).status_code == 200


def test_feedback_dated_after_now_is_refused(client: TestClient) -> None:
    def send(at: str, key: str) -> Any:
        body = {"lead_id": "f-1", "kind": "accepted", "at": at}
        return client.post(
            "/v1/feedback", json=body, headers={**admin_headers(), "Idempotency-Key": key}
        )

    scored = client.post("/v1/score", json=lead("f-1"), headers=admin_headers())
    assert scored.status_code == 200, scored.text  # feedback needs a scored lead (lifecycle)
    refused = send(later(hours=1), "late-feedback-1")
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == [{"field": "at", "message": BOUND}]
    assert client.app.state.store.count_feedback() == 0
    assert send(later(minutes=2), "late-feedback-2").status_code == 201


def test_the_allowed_clock_skew_is_a_setting(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoring.settings import Settings

    monkeypatch.setenv("LEADSCORE_CLOCK_SKEW_SECONDS", "0")
    assert Settings().clock_skew == timedelta(0)
    strict = make_client(clock_skew_seconds=0)
    strict.app.state.clock = lambda: NOW
    response = strict.post(
        "/v1/score", json=lead("s-1", as_of=later(seconds=1)), headers=admin_headers()
    )
    assert response.status_code == 422
    message = response.json()["detail"][0]["message"]
    assert message.startswith("must not be later than 2026-04-01T12:00:00Z (")
    assert "plus 0 s allowed clock skew" in message


# --- retraining's data clock ----------------------------------------------------------------


def test_retraining_data_clock_never_passes_the_run(
    make_client: Callable[..., TestClient],
) -> None:
    """Issue 9 item 5: one lead scored as of next year emptied retraining's test period.

    The row is stored the only way it still can be, by a server whose clock allowed it
    (rows stored before the API refused future times); retraining leaves it out.
    """
    from tests.histories import synthetic_history
    from training.retrain import merge_feedback
    from training.train import TrainConfig, time_split

    base = synthetic_history(2000, months=18, seed=5)  # its snapshot: 2026-07-01
    run = base.snapshot_at + pd.Timedelta(days=10)
    client = make_client()
    scored = [
        ("c-past", datetime(2026, 6, 20, 9, tzinfo=UTC)),
        ("c-2027", datetime(2027, 3, 1, tzinfo=UTC)),
    ]
    for lead_id, as_of in scored:
        client.app.state.clock = lambda as_of=as_of: as_of + timedelta(minutes=1)
        body = lead(lead_id, as_of=as_of.isoformat())
        assert client.post("/v1/score", json=body, headers=admin_headers()).status_code == 200
        feedback = {
            "lead_id": lead_id,
            "kind": "accepted",
            "at": (as_of + timedelta(hours=2)).isoformat(),
        }
        client.app.state.clock = lambda as_of=as_of: as_of + timedelta(hours=3)
        sent = client.post(
            "/v1/feedback",
            json=feedback,
            headers={**admin_headers(), "Idempotency-Key": f"{lead_id}-fb"},
        )
        assert sent.status_code == 201, sent.text
    client.app.state.decision_log.flush()
    store = client.app.state.store

    history, used = merge_feedback(
        base, store.decisions_for_training(), store.feedback_frame(), now=run
    )
    assert history.snapshot_at == base.snapshot_at  # the latest real event, not 2027
    assert used.after_now == 2 and used.leads == 1
    assert "c-2027" not in set(history.leads["lead_id"])
    assert "c-past" in set(history.leads["lead_id"])
    split = time_split(history.leads["mql_at"], history.snapshot_at, TrainConfig())
    assert (split == "test").sum() > 100

    # a run whose data clock is ahead of the data stops at the run: never in the future
    early = merge_feedback(base, store.decisions_for_training(), store.feedback_frame(), now=NOW)
    assert early[0].snapshot_at == pd.Timestamp(NOW)


def test_rescore_refuses_an_as_of_in_the_future(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``leadscore rescore --as-of`` writes decisions: the API's rule holds for it too."""
    from typer.testing import CliRunner

    from cli.app import app

    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    monkeypatch.delenv("LEADSCORE_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADSCORE_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["rescore", "--as-of", "2100-01-01"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())  # the error box wraps lines
    assert "Invalid value for --as-of: must not be later than" in text
    assert "plus 300 s allowed clock skew" in text
