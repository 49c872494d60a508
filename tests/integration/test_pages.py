"""The pages for people (``/ui``), through the TestClient: sign-in, roles, marketing,
languages and personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.i18n import Translator, negotiate
from serving.pages import (
    SESSION_COOKIE,
)
from serving.storage import Store
from serving.tables import Role
from tests.clients import hidden, new_key, sign_in, signed_in
from tests.integration.pages_helpers import _decision_form, score
from tests.model_fixtures import admin_headers
from tests.payloads import COLD, HOT, PII


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def scored(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    return score(client, HOT), score(client, COLD)


# --- sign-in ----------------------------------------------------------------------------------


def test_pages_redirect_to_sign_in_without_a_session(client: TestClient) -> None:
    for path in ("/ui/queue", "/ui/marketing", "/ui/leads/x1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/login?next=%2Fui%2F")
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/login"


def test_sign_in_sets_a_signed_session_not_the_key_and_sign_out_ends_it(
    client: TestClient,
) -> None:
    raw = new_key(client, Role.SALES, "olga-sales")
    response = sign_in(client, raw, next_url="/ui/queue?status=all")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/queue?status=all"
    set_cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie.replace("Strict", "strict")
    assert "Path=/ui" in set_cookie
    assert raw not in set_cookie  # the cookie references the key, it is not the key
    page = client.get("/ui/queue")
    assert page.status_code == 200
    assert "olga-sales" in page.text
    assert page.headers["cache-control"] == "no-store"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp  # our files only, no inline

    logout = client.post("/ui/logout", data={"csrf": hidden(page.text, "csrf")})
    assert logout.status_code == 200 and "/ui/login" in str(logout.url)
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303


def test_sign_in_refuses_unknown_keys_and_forged_forms(client: TestClient) -> None:
    response = sign_in(client, "lsk_this_key_does_not_exist_at_all")
    assert response.status_code == 401
    assert "api_key" in response.text
    assert "lsk_this_key_does_not_exist_at_all" not in response.text
    # no CSRF token (a cross-site form post): refused before the key is even looked at
    raw = new_key(client, Role.SALES)
    forged = client.post("/ui/login", data={"api_key": raw}, follow_redirects=False)
    assert forged.status_code == 403
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    # an open redirect through ?next= is ignored
    response = sign_in(client, raw, next_url="https://evil.example/ui")
    assert response.headers["location"] == "/ui/queue"


def test_revoking_the_key_ends_the_session(client: TestClient) -> None:
    store: Store = client.app.state.store
    raw = store.create_api_key("short-lived", Role.SALES)
    assert sign_in(client, raw).status_code == 303
    assert client.get("/ui/queue").status_code == 200
    store.revoke_api_key("short-lived")
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303


# --- roles ------------------------------------------------------------------------------------


def test_roles_that_may_not_see_a_page_get_a_403_page(client: TestClient) -> None:
    scorer = signed_in(client, Role.SCORER)
    response = scorer.get("/ui/queue")
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "scorer" in response.text
    client.cookies.clear()

    sales = signed_in(client, Role.SALES)
    assert sales.get("/ui/queue").status_code == 200
    refused = sales.get("/ui/marketing")
    assert refused.status_code == 403
    assert "marketing" in refused.text
    client.cookies.clear()

    marketing = signed_in(client, Role.MARKETING)
    assert marketing.get("/ui/queue").status_code == 403
    assert marketing.get("/ui/leads/anything").status_code == 403
    client.cookies.clear()

    admin = signed_in(client, Role.ADMIN)
    assert admin.get("/ui/queue").status_code == 200
    assert admin.get("/ui/marketing").status_code == 200


# --- marketing ---------------------------------------------------------------------------------


def test_marketing_overview_shows_funnel_rejections_sla_and_models(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    store: Store = client.app.state.store
    store.add_feedback(
        {"lead_id": "ui-cold-1", "kind": "rejected", "reason": "not_icp", "at": datetime.now(UTC)},
        idempotency_key="mkt-cold-rejected",
        actor="crm",
    )
    signed_in(client, Role.MARKETING)
    response = client.get("/ui/marketing")
    assert response.status_code == 200, response.text
    html = response.text
    for section in ('id="funnel"', 'id="rejections"', 'id="sla"', 'id="models"'):
        assert section in html
    assert "paid_social" in html and "webinar" in html
    assert "not ICP" in html
    assert "v1" in html and 'class="badge alias champion"' in html
    assert "promoted by cli" in html  # who promoted it
    assert re.search(r'<td class="num">0\.\d{4}</td>', html)  # its test metric


def test_marketing_overview_shows_attribution_from_the_touches_served(
    client: TestClient,
) -> None:
    """A lead scored with touches that carry their channel and campaign, then won: the
    decision log keeps them, and the marketing page and the report credit them."""
    lead = {
        **HOT,
        "lead_id": "ui-attributed",
        "channel": "paid_social",
        "touches": [
            {"at": "2026-03-10T10:00:00Z", "type": "email_click", "channel": "email",
             "campaign": "spring_nurture"},
            {"at": "2026-03-27T10:00:00Z", "type": "webinar_attended", "channel": "webinar"},
        ],
    }  # fmt: skip
    score(client, lead)
    store: Store = client.app.state.store
    for i, event in enumerate(
        (
            {"lead_id": "ui-attributed", "kind": "accepted", "at": "2026-03-31T10:00:00Z"},
            {"lead_id": "ui-attributed", "kind": "won", "at": "2026-04-20T10:00:00Z",
             "amount": 12_000.0},
        )
    ):  # fmt: skip
        store.add_feedback(event, idempotency_key=f"attr-{i}", actor="crm")
    report = client.get("/v1/reports/attribution", headers=admin_headers()).json()
    shares = {
        (r["group"], r["model"]): r["revenue_share"]
        for r in report["rows"]
        if r["dimension"] == "channel"
    }
    # created 1 March from paid social, an e-mail on 10 March, a webinar on 27 March
    assert shares["paid_social", "first_touch"] == 1.0
    assert shares["webinar", "last_touch"] == 1.0
    assert shares["email", "u_shaped"] == 0.2
    assert ("spring_nurture", "linear") in {
        (r["group"], r["model"]) for r in report["rows"] if r["dimension"] == "campaign"
    }

    signed_in(client, Role.MARKETING)
    html = client.get("/ui/marketing").text
    assert 'id="attribution"' in html and "U-shaped 40/20/40" in html
    assert "Time decay: a touch" in html  # the note, from the settings' half-life
    russian = client.get("/ui/marketing", params={"lang": "ru"}).text
    assert "по краям 40/20/40" in russian and "Атрибуция" in russian


def test_marketing_overview_renders_without_data(client: TestClient) -> None:
    signed_in(client, Role.MARKETING)
    response = client.get("/ui/marketing")
    assert response.status_code == 200
    assert "No scored leads yet" in response.text


# --- languages, personal data -------------------------------------------------------------------


def test_russian_pages_render_russian_labels(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    login = client.get("/ui/login", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert "Вход" in login.text and 'lang="ru"' in login.text
    signed_in(client, Role.SALES)
    page = client.get("/ui/queue", params={"lang": "ru", "decision": "", "status": "all"})
    assert "Очередь передачи" in page.text and "Решение продаж" in page.text
    assert "leadscore_lang=ru" in page.headers["set-cookie"]
    lead = client.get("/ui/leads/ui-hot-1").text  # the cookie keeps the language
    assert "Почему такая оценка" in lead and "История касаний" in lead
    assert "запрос демо" in lead
    form = _decision_form(client, "ui-hot-1")
    error = client.post(
        "/ui/leads/ui-hot-1/decision", data={**form, "kind": "rejected", "reason": ""}
    ).text
    assert "причина отказа: для отказа нужна причина" in error
    english = client.get("/ui/queue", params={"lang": "en"}).text
    assert "Handoff queue" in english


def test_accept_language_negotiation_and_reason_wording() -> None:
    assert negotiate("ru-RU,ru;q=0.9,en-US;q=0.8") == "ru"
    assert negotiate("de-DE,en;q=0.7,ru;q=0.5") == "en"
    assert negotiate("en;q=0.2, ru;q=0.8") == "ru"
    assert negotiate(None) == "en" and negotiate("fr") == "en"
    t = Translator("ru")
    demo = {"field": "demo_request", "code": "demo_request.requested.raises"}
    assert t.reason({**demo, "params": {"days_ago": 2}}) == "запросил демо 2 дня назад"
    assert t.reason({**demo, "params": {"days_ago": 21}}) == "запросил демо 21 день назад"
    assert Translator("en").reason({**demo, "params": {"days_ago": 1}}) == (
        "requested a demo 1 day ago"
    )
    size = {
        "field": "company_size",
        "code": "company_size.value.lowers",
        "params": {"value": "1-10"},
    }
    assert (
        t.reason(size) == "размер компании 1–10 сотр. — вне профиля ICP"
    )  # value named in Russian
    # a decision logged before reasons had codes keeps its stored text
    assert t.reason({"field": "x", "text": "something old"}) == "something old"
    assert t.pct(0.1234) == "12,3%"
    assert t("no.such.key") == "no.such.key"


def test_no_personal_data_in_pages_urls_or_logs(
    client: TestClient,
    scored: tuple[dict[str, Any], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    raw = new_key(client, Role.ADMIN, "ui-admin")
    response = sign_in(client, raw)
    assert response.status_code == 303
    urls = []
    for path in ("/ui/queue?decision=&status=all", "/ui/leads/ui-hot-1", "/ui/marketing"):
        page = client.get(path)
        assert page.status_code == 200
        assert not any(value in page.text for value in PII.values())
        urls += re.findall(r'(?:href|action)="([^"]+)"', page.text)
    assert urls and not any(value in url for url in urls for value in PII.values())
    assert raw not in caplog.text
    assert not any(value in caplog.text for value in PII.values())
