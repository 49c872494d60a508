"""Score push from the outside: the admin API, ``leadscore webhooks``, and the
walk-through of docs/webhooks.md (a re-scored lead crosses the threshold, a local
receiver gets the signed event; ``leadscore rescore`` run twice pushes it once)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from cli.app import app
from cli.options import open_store
from serving.auth import Role
from serving.outbox.signing import new_secret
from serving.tables import WebhookSubscription
from tests.clients import key
from tests.integration.webhook_helpers import received, receiver
from tests.model_fixtures import Registry, admin_headers
from tests.payloads import LEAD

T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)
CROSSED = "lead.threshold_crossed"


def _burst(days_before: list[float]) -> list[dict[str, str]]:
    kinds = ["demo_request", "pricing_page_view", "webinar_attended", "content_download"]
    return [
        {"at": (T0 - timedelta(days=d)).isoformat(), "type": kinds[i % len(kinds)]}
        for i, d in enumerate(days_before)
    ]


WARM: dict[str, Any] = {
    **LEAD,
    "lead_id": "webhook-warm-1",
    # an average fit: recent engagement is what carries it over the line
    "industry": "retail",
    "company_size": "11-50",
    "seniority": "manager",
    "touches": _burst([0.5, 1, 2, 3, 4, 6]),
    "as_of": T0.isoformat(),
}


def _wait_for(out: Path, n: int, seconds: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while len(got := received(out)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return got


def test_admin_api_manages_subscriptions_and_deliveries(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(webhook_poll_seconds=0.1)
    admin = admin_headers()
    refused = client.post(
        "/v1/admin/webhooks",
        json={"url": "http://127.0.0.1:9/h", "events": [CROSSED]},
        headers=key(client, Role.SCORER),
    )
    assert refused.status_code == 403
    bad = client.post(
        "/v1/admin/webhooks", json={"url": "http://x/h", "events": ["lead.scored"]}, headers=admin
    )
    assert bad.status_code == 422 and "events" in str(bad.json()["detail"])
    bad = client.post(
        "/v1/admin/webhooks",
        json={"url": "http://x/h", "events": [CROSSED], "secret": "hunter2-secret"},
        headers=admin,
    )
    assert bad.status_code == 422 and "secret" in str(bad.json()["detail"])
    assert "hunter2" not in bad.text
    made = client.post(
        "/v1/admin/webhooks",
        json={"url": "http://127.0.0.1:9/h", "events": [CROSSED], "description": "crm"},
        headers=admin,
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    listed = client.get("/v1/admin/webhooks", headers=admin).json()
    assert [s["id"] for s in listed] == [made.json()["id"]] and "secret" not in listed[0]
    # a crossing to a closed port: a pending delivery with its failed attempts logged
    assert client.post("/v1/score", json=WARM, headers=admin).json()["decision"] == (
        "hand_to_sales"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (delivery,) = client.get("/v1/admin/webhooks/deliveries", headers=admin).json()
        if delivery["attempts"]:
            break
        time.sleep(0.1)
    assert delivery["state"] == "pending" and delivery["event_type"] == CROSSED
    attempts = client.get(
        f"/v1/admin/webhooks/deliveries/{delivery['id']}/attempts", headers=admin
    ).json()
    assert attempts[0]["error"] == "ConnectError" and attempts[0]["ok"] is False
    replay = client.post("/v1/admin/webhooks/deliveries/replay", json={}, headers=admin)
    assert replay.json() == {"replayed": 0}  # not dead yet
    sub_id = made.json()["id"]
    assert client.delete(f"/v1/admin/webhooks/{sub_id}", headers=admin).status_code == 204
    assert client.delete(f"/v1/admin/webhooks/{sub_id}", headers=admin).status_code == 404
    cancelled = client.get("/v1/admin/webhooks/deliveries?state=cancelled", headers=admin)
    assert [d["id"] for d in cancelled.json()] == [delivery["id"]]


def test_a_rescored_lead_crossing_reaches_a_local_receiver_signed_once(
    registry: Registry,
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/webhooks.md's walk-through, with `leadscore webhooks add` and `rescore`."""
    database = f"sqlite:///{tmp_path / 'walk.sqlite'}"
    client = make_client(database_url=database, webhook_poll_seconds=0.1)
    for name, value in {
        "LEADSCORE_HOME": str(registry.root / "serving-home"),
        "LEADSCORE_TRACKING_URI": registry.tracking_uri,
        "LEADSCORE_DATABASE_URL": database,
    }.items():
        monkeypatch.setenv(name, value)
    secret = new_secret()
    out = tmp_path / "received.jsonl"
    runner = CliRunner()
    with receiver(out, secret) as url:
        added = runner.invoke(app, ["webhooks", "add", url, "--event", CROSSED, "--secret", secret])
        assert added.exit_code == 0, added.output
        listed = runner.invoke(app, ["webhooks", "list"])
        assert url in listed.output and secret not in listed.output
        time.sleep(2.1)  # the server re-reads who subscribes every 2 s
        first = client.post("/v1/score", json=WARM, headers=admin_headers()).json()
        assert first["decision"] == "hand_to_sales"
        later = (T0 + timedelta(days=180)).isoformat()
        for _ in range(2):  # safe to run twice: the second run finds no crossing
            run = runner.invoke(app, ["rescore", "--as-of", later])
            assert run.exit_code == 0, run.output
        got = _wait_for(out, 2)
        time.sleep(0.5)  # nothing more arrives
        got = received(out)
    assert [(g["type"], g["data"]["direction"]) for g in got] == [
        (CROSSED, "up"),
        (CROSSED, "down"),
    ]
    assert all(g["verified"] for g in got) and len({g["id"] for g in got}) == 2
    down = got[1]["data"]
    assert down["lead_id"] == "webhook-warm-1" and down["previous_decision"] == "hand_to_sales"
    assert down["p_won"] < down["threshold"] <= down["previous_p_won"]
    assert "olga" not in out.read_text().lower()  # the lead's name and e-mail never leave
    deliveries = runner.invoke(app, ["webhooks", "deliveries", "--state", "delivered"])
    assert deliveries.output.count('"delivered"') == 2


def test_the_server_announces_its_champion_once(make_client: Callable[..., TestClient]) -> None:
    """model.promoted: written when the server loads a champion it has not announced."""
    client = make_client()
    admin = admin_headers()
    made = client.post(
        "/v1/admin/webhooks",
        json={"url": "http://127.0.0.1:9/h", "events": ["model.promoted"]},
        headers=admin,
    )
    assert made.status_code == 201
    for _ in range(2):  # the champion has not moved: announced once
        assert client.post("/v1/admin/reload", headers=admin).status_code == 200
    deliveries = client.get("/v1/admin/webhooks/deliveries", headers=admin).json()
    assert [d["event_type"] for d in deliveries] == ["model.promoted"]
    assert deliveries[0]["lead_id"] is None


def test_the_worker_command_delivers_and_replays_dead_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`leadscore webhooks worker --once`, `deliveries`, `attempts`, `replay`, `delete`."""
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEADSCORE_WEBHOOK_MAX_ATTEMPTS", "1")
    runner = CliRunner()
    out = tmp_path / "got.jsonl"
    with receiver(out, status=503) as url:  # down: every attempt fails, one allowed
        added = runner.invoke(app, ["webhooks", "add", url, "-e", CROSSED])
        assert added.exit_code == 0, added.output
        sub_id = json.loads(added.output)["id"]
        store = open_store()
        at = T0
        store.record_decisions(
            [
                {"lead_id": "cli-1", "model_name": "m", "model_version": "1", "features": {},
                 "p_won": 0.3, "fit_score": 1.0, "engagement_score": 1.0,
                 "decision": "hand_to_sales", "threshold": 0.2, "scored_at": at, "as_of": at}
            ]
        )  # fmt: skip
        run = runner.invoke(app, ["webhooks", "worker", "--once"])
        assert run.exit_code == 0 and "0 delivered, 1 failed" in run.output, run.output
    (dead,) = [
        json.loads(line)
        for line in runner.invoke(app, ["webhooks", "deliveries"]).output.splitlines()
    ]
    assert dead["state"] == "dead" and dead["last_status"] == 503
    log = runner.invoke(app, ["webhooks", "attempts", str(dead["id"])]).output
    assert '"HTTP 503"' in log
    with receiver(out) as url:
        # the receiver is back, at another port: a new subscription would not get the
        # event, so the dead letter is replayed to the fixed URL of the same subscription
        with store.engine.begin() as conn:
            conn.execute(
                update(WebhookSubscription.__table__)
                .where(WebhookSubscription.__table__.c.id == sub_id)
                .values(url=url)
            )
        replay = runner.invoke(app, ["webhooks", "replay", "--subscription", sub_id])
        assert "1 dead letter(s) queued again" in replay.output
        run = runner.invoke(app, ["webhooks", "worker", "--once"])
        assert "1 delivered, 0 failed" in run.output, run.output
    assert [r["type"] for r in received(out)] == [CROSSED]
    assert runner.invoke(app, ["webhooks", "delete", sub_id]).exit_code == 0
    gone = runner.invoke(app, ["webhooks", "delete", sub_id])
    assert gone.exit_code == 2 and "no active subscription" in gone.output
