"""Issue 13 items 4 and 5 through the app: ``GET /v1/leads/{id}/scores``, the lead page's
history chart and trend word, the queue's ``sort=change``, and the lead's identity —
stored apart, shown to sales and admin only, never in the decision log, the answer or
the logs, and erased with the lead. What the app stores runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from serving.tables import Role
from tests.clients import key, signed_in
from tests.conftest import BOTH_DATABASES
from tests.model_fixtures import admin_headers
from tests.payloads import LEAD

IDENTITY = {
    "display_name": "Marfa Ignatova",
    "company_name": "Zvezda Logistics",
    "crm_url": "https://crm.example.com/leads/777?tab=deals",
}
LEAD_ID = "hist-lead-1"
COLD_TOUCHES = LEAD["touches"][:1]  # the webinar only: no pricing view, no demo request


@pytest.fixture
def client(request: pytest.FixtureRequest) -> TestClient:
    """A started app on SQLite, or PostgreSQL under :data:`ON_BOTH` (as ``test_api``)."""
    overrides: dict[str, object] = {}
    if getattr(request, "param", "sqlite") == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    make_client: Callable[..., TestClient] = request.getfixturevalue("make_client")
    return make_client(**overrides)


ON_BOTH = pytest.mark.parametrize("client", BOTH_DATABASES, indirect=True)


def score(client: TestClient, lead_id: str = LEAD_ID, **fields: Any) -> dict[str, Any]:
    body = {**LEAD, "lead_id": lead_id, "as_of": "2026-03-30T09:00:00Z", **fields}
    response = client.post("/v1/score", json=body, headers=admin_headers())
    assert response.status_code == 200, response.text
    return response.json()


def everything_stored(client: TestClient) -> dict[str, str]:
    """Every row of every table, as text, by table name."""
    engine = client.app.state.store.engine
    client.app.state.decision_log.flush()
    with engine.connect() as conn:
        return {
            table: "\n".join(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{table}"')))
            for table in inspect(conn).get_table_names()
        }


# --- the history endpoint ------------------------------------------------------------------


@ON_BOTH
def test_history_is_paged_newest_first_with_the_trend(client: TestClient) -> None:
    answers = [
        score(client, touches=COLD_TOUCHES),
        score(client),
        score(client, touches=[*LEAD["touches"], LEAD["touches"][-1]]),
    ]
    sales = key(client, Role.SALES)

    first = client.get(f"/v1/leads/{LEAD_ID}/scores", params={"limit": 2}, headers=sales)
    rest = client.get(
        f"/v1/leads/{LEAD_ID}/scores", params={"limit": 2, "offset": 2}, headers=sales
    )

    assert first.status_code == 200, first.text
    page1, page2 = first.json(), rest.json()
    assert (page1["total"], page1["next_offset"], page2["next_offset"]) == (3, 2, None)
    entries = page1["scores"] + page2["scores"]
    assert [e["p_won"] for e in entries] == [a["p_won"] for a in reversed(answers)]
    assert [e["decision"] for e in entries] == [a["decision"] for a in reversed(answers)]
    assert entries[0]["model_version"] == answers[0]["model"]["version"]
    times = [e["scored_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    assert set(entries[0]) == {
        "scored_at",
        "as_of",
        "model_name",
        "model_version",
        "p_sql",
        "p_won",
        "decision",
        "threshold",
    }
    change = answers[2]["p_won"] - answers[0]["p_won"]  # all within the week: ref = first
    assert page1["trend"]["change"] == pytest.approx(change, abs=1e-9)
    expected = "improving" if change > 0.02 else "declining" if change < -0.02 else "steady"
    assert page1["trend"]["word"] == expected


def test_history_404s_an_unknown_lead_and_keeps_the_lead_roles(client: TestClient) -> None:
    score(client)
    url = f"/v1/leads/{LEAD_ID}/scores"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=key(client, Role.MARKETING)).status_code == 403
    assert client.get(url, headers=key(client, Role.SCORER)).status_code == 403
    assert client.get(url, headers=admin_headers()).status_code == 200
    sales = key(client, Role.SALES)
    assert client.get("/v1/leads/nobody-here/scores", headers=sales).status_code == 404
    assert client.get(url, params={"limit": 0}, headers=sales).status_code == 422
    assert client.get(url, params={"offset": -1}, headers=sales).status_code == 422
    past_the_end = client.get(url, params={"offset": 5}, headers=sales).json()
    assert (past_the_end["scores"], past_the_end["total"]) == ([], 1)


# --- the pages -----------------------------------------------------------------------------


def test_lead_page_charts_the_history_with_the_trend_word_in_both_languages(
    client: TestClient,
) -> None:
    cold = score(client, touches=COLD_TOUCHES)
    hot = score(client)
    word = "improving" if hot["p_won"] - cold["p_won"] > 0.02 else "steady"
    assert hot["p_won"] > cold["p_won"]  # the demo request and pricing view count
    signed_in(client, Role.SALES)

    page = client.get(f"/ui/leads/{LEAD_ID}")
    russian = client.get(f"/ui/leads/{LEAD_ID}", params={"lang": "ru"})

    assert page.status_code == 200
    chart = re.search(r'<svg class="history-chart".*?</svg>', page.text, re.S)
    assert chart is not None and chart.group(0).count("<circle") == 2
    assert f'<span class="trend {word}">{word}</span>' in page.text
    ru_word = {"improving": "растёт", "steady": "без изменений"}[word]
    assert f'<span class="trend {word}">{ru_word}</span>' in russian.text
    assert "История оценок" in russian.text


def test_queue_sorts_by_recent_change(client: TestClient) -> None:
    # rises: scored cold, then hot; falls: hot, then cold; flat: hot twice
    for lead_id, bodies in {
        "q-rises": (COLD_TOUCHES, LEAD["touches"]),
        "q-falls": (LEAD["touches"], COLD_TOUCHES),
        "q-flat": (LEAD["touches"], LEAD["touches"]),
    }.items():
        for touches in bodies:
            score(client, lead_id, touches=touches)
    client.app.state.decision_log.flush()
    signed_in(client, Role.SALES)

    by_change = client.get("/ui/queue", params={"decision": "", "sort": "change"}).text
    newest = client.get("/ui/queue", params={"decision": ""}).text

    order = re.findall(r'data-lead="([^"]+)"', by_change)
    assert order == ["q-rises", "q-flat", "q-falls"]
    assert re.findall(r'data-lead="([^"]+)"', newest) == ["q-flat", "q-falls", "q-rises"]
    assert '<option value="change" selected>' in by_change


# --- the identity --------------------------------------------------------------------------


@ON_BOTH
def test_identity_is_stored_apart_shown_to_sales_not_marketing_never_logged_and_erased(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    plain = score(client, "hist-plain")
    answer = score(client, **IDENTITY)
    score(client, "hist-plain", display_name="Other Person")

    # never a feature: the same lead scores the same with or without an identity
    assert answer["p_won"] == pytest.approx(plain["p_won"])
    stored = everything_stored(client)
    assert "Marfa Ignatova" in stored["lead_identities"]
    for table, rows in stored.items():
        if table != "lead_identities":
            assert not any(v in rows for v in IDENTITY.values()), table
    assert not any(v in str(answer) for v in IDENTITY.values())

    signed_in(client, Role.SALES)
    queue = client.get("/ui/queue", params={"decision": ""}).text
    lead = client.get(f"/ui/leads/{LEAD_ID}").text
    for html in (queue, lead):
        assert "Marfa Ignatova" in html and "Zvezda Logistics" in html
        assert 'href="https://crm.example.com/leads/777?tab=deals"' in html
    assert "<h1>" in lead and "Marfa Ignatova" in lead.split("<h1>")[1].split("</h1>")[0]
    history = client.get(f"/v1/leads/{LEAD_ID}/scores", headers=key(client, Role.SALES)).text
    assert "Marfa" not in history  # the API's history carries no personal data

    client.cookies.clear()  # sign out the sales session
    signed_in(client, Role.MARKETING)
    for url in ("/ui/queue", f"/ui/leads/{LEAD_ID}", "/ui/marketing"):
        seen = client.get(url)
        assert "Marfa" not in seen.text and "Zvezda" not in seen.text, url
    assert client.get(f"/ui/leads/{LEAD_ID}").status_code == 403

    erased = client.delete(f"/v1/leads/{LEAD_ID}", headers=admin_headers())
    assert erased.status_code == 200
    after = everything_stored(client)
    assert not any(v in "\n".join(after.values()) for v in IDENTITY.values())
    assert "Other Person" in after["lead_identities"]  # another lead's identity stays
    assert not any(v in caplog.text for v in [*IDENTITY.values(), "Other Person"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("crm_url", "javascript:alert('Marfa')"),
        ("crm_url", "ftp://crm.example.com/Marfa"),
        ("crm_url", "https:///Marfa-no-host"),
        ("crm_url", "https://crm.example.com/" + "Marfa" * 500),
        ("display_name", "Marfa" * 50),
        ("company_name", "Marfa\nLogistics"),
    ],
)
def test_a_bad_identity_is_a_422_naming_the_field_never_the_value(
    client: TestClient, field: str, value: str
) -> None:
    body = {**LEAD, "lead_id": LEAD_ID, field: value}
    response = client.post("/v1/score", json=body, headers=admin_headers())
    assert response.status_code == 422
    assert [item["field"] for item in response.json()["detail"]] == [field]
    assert "Marfa" not in response.text


def test_crm_link_is_built_from_the_template_setting(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(crm_url_template="https://crm.example.com/leads/{lead_id}")
    score(client, "tmpl:lead-9", display_name="Marfa Ignatova")
    signed_in(client, Role.SALES)
    page = client.get("/ui/leads/tmpl:lead-9").text
    assert 'href="https://crm.example.com/leads/tmpl%3Alead-9"' in page
