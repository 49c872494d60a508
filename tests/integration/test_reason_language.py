"""Reasons in the reader's language: the same codes and values, worded by ``Accept-Language``.

The answer of ``POST /v1/score`` and ``/v1/score/batch`` and the last decision of
``GET /v1/leads/{id}/decision`` word each reason from its code and params; English is the
default, and the answer says which language it chose (``Content-Language``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from serving.tables import Role
from tests.clients import key
from tests.model_fixtures import admin_headers
from tests.payloads import LEAD

SCORED = {**LEAD, "as_of": "2026-03-30T09:00:00Z"}
CYRILLIC = re.compile("[а-яё]")


def _reasons(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return answer["reasons"]["positive"] + answer["reasons"]["negative"]


def test_reasons_come_in_the_requested_language(make_client: Callable[..., TestClient]) -> None:
    client = make_client()

    def score(language: str | None, path: str = "/v1/score", body: Any = SCORED) -> Any:
        headers = admin_headers() | ({"Accept-Language": language} if language else {})
        return client.post(path, json=body, params={"reasons": 20}, headers=headers)

    english, russian = score(None), score("ru-RU,ru;q=0.9,en;q=0.5")
    assert english.headers["content-language"] == "en"
    assert russian.headers["content-language"] == "ru"
    en, ru = _reasons(english.json()), _reasons(russian.json())
    assert en and [(r["code"], r["params"]) for r in ru] == [(r["code"], r["params"]) for r in en]
    assert not any(CYRILLIC.search(r["text"]) for r in en)
    assert all(CYRILLIC.search(r["text"]) for r in ru), [r["text"] for r in ru]
    assert all(r["code"].endswith((".raises", ".lowers")) for r in en)

    batch = score("ru", "/v1/score/batch", {"leads": [SCORED], "reasons": True}).json()
    assert all(CYRILLIC.search(r["text"]) for r in _reasons(batch["results"][0]))

    # the decision log keeps the codes: the last decision is worded for its reader
    client.app.state.decision_log.flush()
    sales = key(client, Role.SALES)
    stored = client.get("/v1/leads/api-lead-1/decision", headers=sales).json()["reasons"]
    again = client.get(
        "/v1/leads/api-lead-1/decision", headers=sales | {"Accept-Language": "ru"}
    ).json()["reasons"]
    assert [r["code"] for r in again] == [r["code"] for r in stored] and stored
    assert not any(CYRILLIC.search(r["text"]) for r in stored)
    assert all(CYRILLIC.search(r["text"]) for r in again)
