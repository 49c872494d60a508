"""CRM write-back (issue 16, item 2) against the stand-in CRM process (tests/crm_standin.py).

The stand-in checks every request against the documented amoCRM and Bitrix24 shapes and
enforces their limits, so these tests see what a real account would answer.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.outbox.amocrm import deliver_amocrm
from serving.outbox.bitrix24 import deliver_bitrix24
from serving.outbox.crm import CRM_DELIVERERS
from serving.outbox.events import OutboxEvent, Subscription

STANDIN = Path(__file__).resolve().parents[1] / "crm_standin.py"
TOKEN = "long-lived-token-abc"
AMO_FIELDS = {"p_won": 700101, "decision": 700102, "band": 700103, "reasons": 700104}
BX_FIELDS = {
    "p_won": "UF_CRM_LEADSCORE_P_WON",
    "decision": "UF_CRM_LEADSCORE_DECISION",
    "band": "UF_CRM_LEADSCORE_BAND",
    "reasons": "UF_CRM_LEADSCORE_REASONS",
}


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    """The stand-in CRM as a separate process on 127.0.0.1; its base URL."""
    process = subprocess.Popen([sys.executable, str(STANDIN)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def crm(standin: str) -> Iterator[httpx.Client]:
    """A client, with both stand-in accounts reset: leads 101..140 exist in each."""
    with httpx.Client() as client:
        config = {
            "amocrm": {
                "tokens": [TOKEN],
                "fields": {
                    "700101": "numeric",
                    "700102": "text",
                    "700103": "text",
                    "700104": "textarea",
                },
                "leads": list(range(101, 141)),
            },
            "bitrix24": {
                "webhooks": [["7", "hookcode"]],
                "fields": {
                    "UF_CRM_LEADSCORE_P_WON": "double",
                    "UF_CRM_LEADSCORE_DECISION": "string",
                    "UF_CRM_LEADSCORE_BAND": "string",
                    "UF_CRM_LEADSCORE_REASONS": "string",
                },
                "leads": list(range(101, 141)),
                "bucket_size": 2,
            },
        }
        client.post(f"{standin}/_control/reset", json=config).raise_for_status()
        yield client


def amo(standin: str, **options: Any) -> Subscription:
    return Subscription(
        "sub-amo",
        "amocrm",
        standin,
        ("lead.threshold_crossed",),
        TOKEN,
        {"fields": AMO_FIELDS, **options},
    )


def bitrix(standin: str, code: str = "hookcode", **options: Any) -> Subscription:
    return Subscription(
        "sub-bx",
        "bitrix24",
        f"{standin}/rest/7/{code}/",
        ("lead.threshold_crossed",),
        "",
        {"fields": BX_FIELDS, **options},
    )


def crossing(crm_id: int | None = 101, lead_id: str = "lead-1", **extra: Any) -> OutboxEvent:
    payload: dict[str, Any] = {
        "lead_id": lead_id,
        "p_sql": 0.61,
        "p_won": 0.41237,
        "decision": "hand_to_sales",
        "band": "top",
        "threshold": 0.3,
        "model_version": "7",
        "previous_decision": "nurture",
        "reasons": [
            {
                "code": "demo_request.requested.raises",
                "field": "demo_request",
                "params": {"days_ago": 2},
                "text": "requested a demo 2 days ago",
                "direction": "raises",
            },
            {"code": "company.small.lowers", "text": "a small company", "direction": "lowers"},
        ],
        **extra,
    }
    if crm_id is not None:
        payload["crm_id"] = crm_id
    return OutboxEvent("ev-1", "lead.threshold_crossed", datetime(2026, 12, 1, tzinfo=UTC), payload)


def log(client: httpx.Client, standin: str) -> list[dict[str, Any]]:
    return list(client.get(f"{standin}/_control/log").json())


def leads(client: httpx.Client, standin: str) -> dict[str, Any]:
    return dict(client.get(f"{standin}/_control/leads").json())


def test_amocrm_update_writes_the_mapped_fields(crm: httpx.Client, standin: str) -> None:
    attempt = CRM_DELIVERERS["amocrm"](amo(standin, lang="ru"), crossing(crm_id=117), crm)
    assert attempt.ok and attempt.status == 200, attempt
    [request] = log(crm, standin)
    assert request["method"] == "PATCH" and request["path"] == "/api/v4/leads/117"
    assert request["authorization"] == f"Bearer {TOKEN}"
    assert request["broken"] == []
    written = leads(crm, standin)["amocrm"]["117"]
    assert written["700101"] == 0.4124
    assert written["700102"] == "передать в продажи"
    assert written["700103"] == "P(сделка) ≥ 30%"
    # a reason with code and params is worded anew in Russian; one with a text only keeps it
    assert written["700104"] == "+ запросил демо 2 дня назад; − a small company"


def test_amocrm_numbers_in_percent_and_english_words(crm: httpx.Client, standin: str) -> None:
    attempt = deliver_amocrm(amo(standin, percent=True, top_reasons=1), crossing(), crm)
    assert attempt.ok, attempt
    written = leads(crm, standin)["amocrm"]["101"]
    assert written["700101"] == 41.24
    assert written["700102"] == "hand to sales"
    assert written["700104"] == "+ requested a demo 2 days ago"


def test_amocrm_429_gives_retry_after_then_succeeds(crm: httpx.Client, standin: str) -> None:
    crm.post(
        f"{standin}/_control/script",
        json={"amocrm": [{"status": 429, "headers": {"Retry-After": "2"}}]},
    ).raise_for_status()
    first = deliver_amocrm(amo(standin), crossing(), crm)
    assert (first.ok, first.status, first.retry_after, first.permanent) == (False, 429, 2.0, False)
    second = deliver_amocrm(amo(standin), crossing(), crm)
    assert second.ok and second.status == 200


def test_amocrm_expired_token_is_permanent(crm: httpx.Client, standin: str) -> None:
    expired = Subscription("s", "amocrm", standin, (), "expired-token", {"fields": AMO_FIELDS})
    attempt = deliver_amocrm(expired, crossing(), crm)
    assert (attempt.ok, attempt.status, attempt.permanent) == (False, 401, True)
    assert attempt.error is not None and "long-lived token" in attempt.error
    assert "expired-token" not in attempt.error


def test_amocrm_validation_errors_are_permanent(crm: httpx.Client, standin: str) -> None:
    wrong = amo(standin)
    wrong.options["fields"] = {**AMO_FIELDS, "band": 999}
    attempt = deliver_amocrm(wrong, crossing(), crm)
    assert (attempt.ok, attempt.status, attempt.permanent) == (False, 400, True)
    assert attempt.error is not None
    assert "NotSupportedChoice at custom_fields_values.2.field_id" in attempt.error
    missing = deliver_amocrm(amo(standin), crossing(crm_id=999), crm)
    assert (missing.status, missing.permanent) == (404, True)


def _max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times))


def test_amocrm_stays_under_7_a_second_from_many_threads(crm: httpx.Client, standin: str) -> None:
    # the stand-in does count: 12 requests sent at once without the limiter get 429s
    for n in range(12):
        crm.patch(
            f"{standin}/api/v4/leads/{101 + n}",
            json={},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert any(r["status"] == 429 for r in log(crm, standin))
    time.sleep(1.2)
    crm.post(
        f"{standin}/_control/reset",
        json={
            "amocrm": {
                "tokens": [TOKEN],
                "fields": {str(v): "text" for v in AMO_FIELDS.values()} | {"700101": "numeric"},
                "leads": list(range(101, 141)),
            }
        },
    ).raise_for_status()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        attempts = list(
            pool.map(
                lambda n: deliver_amocrm(amo(standin), crossing(crm_id=101 + n), crm), range(20)
            )
        )
    elapsed = time.monotonic() - started
    assert all(a.ok for a in attempts), [a for a in attempts if not a.ok]
    requests = log(crm, standin)
    assert len(requests) == 20 and all(r["status"] == 200 for r in requests)
    assert _max_in_any_second([r["t"] for r in requests]) <= 7
    assert elapsed >= 2.0  # 20 requests at ≤ 7 a second take at least two full seconds


def test_bitrix24_update_writes_user_fields(crm: httpx.Client, standin: str) -> None:
    attempt = CRM_DELIVERERS["bitrix24"](bitrix(standin, lang="ru"), crossing(crm_id=120), crm)
    assert attempt.ok and attempt.status == 200, attempt
    [request] = log(crm, standin)
    assert request["method"] == "POST"
    assert request["path"] == "/rest/7/hookcode/crm.lead.update.json"
    assert request["broken"] == []
    assert request["body"]["id"] == 120
    assert request["body"]["params"] == {"REGISTER_SONET_EVENT": "N"}
    written = leads(crm, standin)["bitrix24"]["120"]
    assert written == {
        "UF_CRM_LEADSCORE_P_WON": 0.4124,
        "UF_CRM_LEADSCORE_DECISION": "передать в продажи",
        "UF_CRM_LEADSCORE_BAND": "P(сделка) ≥ 30%",
        "UF_CRM_LEADSCORE_REASONS": "+ запросил демо 2 дня назад; − a small company",
    }


def test_bitrix24_keeps_under_its_leaky_bucket(crm: httpx.Client, standin: str) -> None:
    # the stand-in's bucket holds 2: at 2 a second the client never overflows it
    attempts = [deliver_bitrix24(bitrix(standin), crossing(crm_id=101 + n), crm) for n in range(6)]
    assert all(a.ok for a in attempts), attempts
    assert all(r["status"] == 200 for r in log(crm, standin))
    # and a burst that ignores the limit does overflow it
    for _ in range(6):
        crm.post(f"{standin}/rest/7/hookcode/crm.lead.update.json", json={"id": 101, "fields": {}})
    assert any(r["status"] == 503 for r in log(crm, standin))


def test_bitrix24_errors(crm: httpx.Client, standin: str) -> None:
    crm.post(
        f"{standin}/_control/script",
        json={
            "bitrix24": [
                {
                    "status": 503,
                    "body": {
                        "error": "QUERY_LIMIT_EXCEEDED",
                        "error_description": "Too many requests",
                    },
                }
            ]
        },
    ).raise_for_status()
    busy = deliver_bitrix24(bitrix(standin), crossing(), crm)
    assert (busy.ok, busy.status, busy.retry_after, busy.permanent) == (False, 503, 1.0, False)
    wrong_code = deliver_bitrix24(bitrix(standin, code="nope"), crossing(), crm)
    assert (wrong_code.status, wrong_code.permanent) == (401, True)
    assert wrong_code.error is not None and "INVALID_CREDENTIALS" in wrong_code.error
    gone = deliver_bitrix24(bitrix(standin), crossing(crm_id=999), crm)
    assert (gone.status, gone.permanent) == (400, True)
    assert gone.error is not None and "no lead 999" in gone.error


@pytest.mark.parametrize(
    ("subscription", "says"),
    [
        (
            Subscription(
                "s", "amocrm", "https://x.amocrm.ru/api", (), TOKEN, {"fields": AMO_FIELDS}
            ),
            "without a path",
        ),
        (
            Subscription("s", "amocrm", "https://x.amocrm.ru", (), "", {"fields": AMO_FIELDS}),
            "long-lived access token",
        ),
        (
            Subscription("s", "amocrm", "https://x.amocrm.ru", (), TOKEN, {}),
            "options.fields must map",
        ),
        (
            Subscription(
                "s", "amocrm", "https://x.amocrm.ru", (), TOKEN, {"fields": {"p_won": "123"}}
            ),
            "options.fields.p_won",
        ),
        (
            Subscription("s", "amocrm", "https://x.amocrm.ru", (), TOKEN, {"fields": {"score": 1}}),
            "unknown names: score",
        ),
        (
            Subscription(
                "s",
                "amocrm",
                "https://x.amocrm.ru",
                (),
                TOKEN,
                {"fields": AMO_FIELDS, "lang": "de"},
            ),
            "options.lang",
        ),
        (
            Subscription(
                "s",
                "bitrix24",
                "https://b.bitrix24.ru/rest/crm.lead.update",
                (),
                "",
                {"fields": BX_FIELDS},
            ),
            "incoming-webhook URL",
        ),
        (
            Subscription(
                "s",
                "bitrix24",
                "https://b.bitrix24.ru/rest/1/abc/",
                (),
                "",
                {"fields": {"p_won": "P_WON"}},
            ),
            "UF_CRM_<NAME>",
        ),
    ],
)
def test_malformed_configuration_fails_permanently_and_sends_nothing(
    subscription: Subscription, says: str
) -> None:
    transport = httpx.MockTransport(lambda request: pytest.fail(f"sent {request.url}"))
    with httpx.Client(transport=transport) as client:
        attempt = CRM_DELIVERERS[subscription.kind](subscription, crossing(), client)
    assert (attempt.ok, attempt.status, attempt.permanent) == (False, None, True)
    assert attempt.error is not None and says in attempt.error, attempt.error
    assert TOKEN not in attempt.error


def test_lead_id_used_when_no_crm_id_and_refused_when_not_numeric(
    crm: httpx.Client, standin: str
) -> None:
    assert deliver_amocrm(amo(standin), crossing(crm_id=None, lead_id="105"), crm).ok
    assert log(crm, standin)[0]["path"] == "/api/v4/leads/105"
    attempt = deliver_bitrix24(bitrix(standin), crossing(crm_id=None, lead_id="L-9"), crm)
    assert attempt.permanent and attempt.error is not None and "lead_id" in attempt.error
    assert "L-9" not in attempt.error
    assert len(log(crm, standin)) == 1


def test_other_events_are_acknowledged_without_a_request(crm: httpx.Client, standin: str) -> None:
    for kind, subscription in (("amocrm", amo(standin)), ("bitrix24", bitrix(standin))):
        event = OutboxEvent(
            "ev-2", "model.promoted", datetime(2026, 12, 1, tzinfo=UTC), {"model_version": "8"}
        )
        assert CRM_DELIVERERS[kind](subscription, event, crm).ok
    assert log(crm, standin) == []


def test_unreachable_crm_is_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request
    with httpx.Client() as client:
        attempt = deliver_amocrm(amo(f"http://127.0.0.1:{port}"), crossing(), client)
    assert (attempt.ok, attempt.status, attempt.permanent) == (False, None, False)
    assert attempt.error is not None and "no answer" in attempt.error


def test_stand_in_rejects_a_shape_the_docs_do_not_allow(crm: httpx.Client, standin: str) -> None:
    """The stand-in's checks can fail: a flat value instead of ``values: [{value}]``."""
    bad = {"custom_fields_values": [{"field_id": 700101, "value": 0.4}]}
    answer = crm.patch(
        f"{standin}/api/v4/leads/101", json=bad, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 400
    assert "validation-errors" in answer.json()
    flat = crm.post(
        f"{standin}/rest/7/hookcode/crm.lead.update.json",
        content=json.dumps({"id": 101, "fields": {"UF_CRM_LEADSCORE_P_WON": "high"}}),
        headers={"Content-Type": "application/json"},
    )
    assert flat.status_code == 400


def test_a_crossing_reaches_both_crms_through_the_outbox_worker(
    crm: httpx.Client, standin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: subscriptions of kind amocrm and bitrix24 made with `leadscore webhooks
    add`, a decision logged for a lead whose id is its CRM id, `leadscore webhooks worker
    --once`: the worker picks each CRM's deliverer and both stand-in leads get the fields."""
    from typer.testing import CliRunner

    from cli.app import app
    from cli.options import open_store

    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    jwt_like = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + "x" * 600  # tokens are long JWTs
    accounts = {
        "amocrm": {
            "tokens": [jwt_like],
            "fields": {str(AMO_FIELDS["p_won"]): "numeric", **{str(i): "text" for i in
                       (AMO_FIELDS["decision"], AMO_FIELDS["band"], AMO_FIELDS["reasons"])}},
            "leads": [130],
        },
        "bitrix24": {
            "webhooks": [["7", "hookcode"]],
            "fields": {name: "double" if key == "p_won" else "string"
                       for key, name in BX_FIELDS.items()},
            "leads": [130],
        },
    }  # fmt: skip
    crm.post(f"{standin}/_control/reset", json=accounts).raise_for_status()
    assert crm.get(f"{standin}/_control/leads").json()["amocrm"]["130"] == {}
    for kind, url, secret, names in (
        ("amocrm", standin, jwt_like, AMO_FIELDS),
        ("bitrix24", f"{standin}/rest/7/hookcode/", None, BX_FIELDS),
    ):
        args = ["webhooks", "add", url, "-e", "lead.threshold_crossed", "--kind", kind]
        args += ["--options", json.dumps({"fields": names})]
        added = runner.invoke(app, args + (["--secret", secret] if secret else []))
        assert added.exit_code == 0, added.output
        assert jwt_like not in runner.invoke(app, ["webhooks", "list"]).output
    at = datetime(2026, 4, 1, 9, tzinfo=UTC)
    open_store().record_decisions(
        [
            {"lead_id": "130", "model_name": "m", "model_version": "1", "features": {},
             "p_won": 0.35, "fit_score": 1.0, "engagement_score": 1.0,
             "decision": "hand_to_sales", "threshold": 0.2, "scored_at": at, "as_of": at}
        ]
    )  # fmt: skip
    run = runner.invoke(app, ["webhooks", "worker", "--once"])
    assert run.exit_code == 0 and "2 delivered, 0 failed" in run.output, run.output
    written = crm.get(f"{standin}/_control/leads").json()
    assert written["amocrm"]["130"]["700101"] == 0.35
    assert written["bitrix24"]["130"]["UF_CRM_LEADSCORE_P_WON"] == 0.35
    assert all(r["broken"] == [] for r in log(crm, standin))
