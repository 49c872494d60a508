"""Hostile bodies: control characters, unreadable JSON, the key check first, replayed keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.tables import Role
from tests.clients import key
from tests.model_fixtures import admin_headers
from tests.payloads import FEEDBACK, LEAD, SCORED_BEFORE_FEEDBACK

AS_OF = "2026-03-30T09:00:00Z"
NUL, RLO, LRI = "\x00", "\u202e", "\u2066"


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def _with(path: str, value: object) -> dict[str, Any]:
    """LEAD with ``value`` put at ``path`` (``industry``, ``touches.0.channel``, ...)."""
    body = json.loads(json.dumps({**LEAD, "as_of": AS_OF}))
    if path == "attributes.<key>":
        body["attributes"] = {str(value): 1}
        return body
    *parents, leaf = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[leaf] = value
    return body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("industry", f"soft{NUL}ware"),
        ("channel", f"webinar{RLO}cba"),
        ("department", f"{LRI}marketing"),
        ("touches.0.channel", f"email{NUL}"),
        ("attributes.<key>", f"plan{RLO}"),
        ("name", f"Olga{NUL}Petrova"),
        ("email", f"olga{RLO}@example.org"),
    ],
)
def test_control_characters_are_refused_naming_the_field(
    client: TestClient, path: str, value: str
) -> None:
    response = client.post("/v1/score", json=_with(path, value), headers=admin_headers())
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    expected = "attributes" if path == "attributes.<key>" else path
    assert item["field"].startswith(expected), item
    assert "control characters" in item["message"]
    assert value not in response.text and NUL not in response.text and RLO not in response.text
    batch = client.post(
        "/v1/score/batch", json={"leads": [_with(path, value)]}, headers=admin_headers()
    )
    assert batch.status_code == 422
    assert batch.json()["detail"][0]["field"].startswith(f"leads.0.{expected}")


def test_a_comment_may_have_line_breaks_but_no_nul_or_bidi_control(client: TestClient) -> None:
    sales = key(client, Role.SALES)
    scored = client.post("/v1/score", json=SCORED_BEFORE_FEEDBACK, headers=admin_headers())
    assert scored.status_code == 200  # feedback needs a scored lead (docs/lifecycle.md)
    for n, bad in enumerate((f"call back{NUL}", f"call {RLO}back")):
        response = client.post(
            "/v1/feedback",
            json={**FEEDBACK, "comment": bad},
            headers={**sales, "Idempotency-Key": f"ctl-bad-{n:04d}"},
        )
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {
                "field": "comment",
                "message": "control characters (NUL, line breaks, bidi controls) are not allowed",
            }
        ]
    fine = client.post(
        "/v1/feedback",
        json={**FEEDBACK, "comment": "call back\n\tnext quarter"},
        headers={**sales, "Idempotency-Key": "ctl-good-0001"},
    )
    assert fine.status_code == 201, fine.text


def _nested(depth: int) -> bytes:
    return b'{"lead_id": "deep", "attributes": ' + b"[" * depth + b"]" * depth + b"}"


def test_a_deeply_nested_body_gets_a_422_that_says_so(client: TestClient) -> None:
    headers = {**admin_headers(), "content-type": "application/json"}
    response = client.post("/v1/score", content=_nested(5_000), headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "body", "message": "request body is not valid JSON: nested too deeply"}
    ]
    batch = client.post(
        "/v1/score/batch", content=b'{"leads": ' + _nested(5_000) + b"}", headers=headers
    )
    assert batch.status_code == 422
    (item,) = batch.json()["detail"]
    assert item["field"] == "body" and "recursion limit exceeded" in item["message"]


def test_the_key_is_checked_before_the_body_is_read(client: TestClient) -> None:
    """No key: 401; the wrong role: 403; only then is an unreadable body described."""
    not_utf8 = b'{"lead_id": "x", "industry": "\xff\xfe"}'
    for path in ("/v1/score", "/v1/feedback"):
        headers = {"content-type": "application/json", "Idempotency-Key": "utf8-key-0001"}
        assert client.post(path, content=not_utf8, headers=headers).status_code == 401
        assert client.post(path, content=_nested(5_000), headers=headers).status_code == 401
        assert client.post(path, content=b"{not json", headers=headers).status_code == 401
        marketing = {**headers, **key(client, Role.MARKETING)}
        assert client.post(path, content=not_utf8, headers=marketing).status_code == 403
        client.app.state.store.revoke_api_key("test-marketing")
        admin = {**headers, **admin_headers()}
        response = client.post(path, content=not_utf8, headers=admin)
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"field": "body", "message": "request body is not valid JSON: not UTF-8 (byte 30)"}
        ]
        syntax = client.post(path, content=b"{not json", headers=admin)
        assert syntax.status_code == 422
        assert syntax.json()["detail"][0]["message"].startswith(
            "request body is not valid JSON: Expecting property name"
        )


def test_another_key_replaying_an_idempotency_key_is_told_so(client: TestClient) -> None:
    first, second = key(client, Role.SALES), None
    second = {"X-API-Key": client.app.state.store.create_api_key("test-sales-2", Role.SALES)}
    idem = {"Idempotency-Key": "replayed-0001"}
    scored = client.post("/v1/score", json=SCORED_BEFORE_FEEDBACK, headers=admin_headers())
    assert scored.status_code == 200  # feedback needs a scored lead (docs/lifecycle.md)
    assert client.post("/v1/feedback", json=FEEDBACK, headers={**first, **idem}).status_code == 201
    other_key = client.post("/v1/feedback", json=FEEDBACK, headers={**second, **idem})
    assert other_key.status_code == 409
    assert other_key.json()["detail"] == (
        "Idempotency-Key was already used by another API key: send a key of your own"
    )
    other_body = client.post(
        "/v1/feedback", json={**FEEDBACK, "contact_attempts": 4}, headers={**first, **idem}
    )
    assert other_body.status_code == 409
    assert other_body.json()["detail"] == "Idempotency-Key was already used with a different body"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/v1/score/batch", {"leads": [SCORED_BEFORE_FEEDBACK], "reasons": 0}, "reasons"),
        ("post", "/v1/score", _with("touches.0.at", 1774872000), "touches.0.at"),
        (
            "post",
            "/v1/score/batch",
            {"leads": [_with("touches.0.at", 1774872000)]},
            "leads.0.touches.0.at",
        ),
        ("post", "/v1/score", _with("created_at", 1772355600), "created_at"),
        ("post", "/v1/score", _with("as_of", "1774872000"), "as_of"),
        ("post", "/v1/feedback", {**FEEDBACK, "at": 1774872000}, "at"),
        (
            "post",
            "/v1/feedback",
            {**FEEDBACK, "kind": "won", "reason": None, "amount": False},
            "amount",
        ),
        ("get", "/v1/reports/funnel?start=1700000000", None, "start"),
        ("get", "/v1/reports/sla?end=1700000000.5", None, "end"),
    ],
)
def test_types_are_strict_where_the_schema_says_string_or_number(
    client: TestClient, method: str, path: str, body: Any, field: str
) -> None:
    """A number is not a time, ``0`` is not ``false``, ``false`` is not an amount (issue 11)."""
    headers = {**admin_headers(), "Idempotency-Key": "strict-types-1"}
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert field in [item["field"] for item in response.json()["detail"]], response.text
