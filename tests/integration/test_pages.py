"""The pages for people (``/ui``), through the TestClient: sign-in, roles, queue, lead, forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.i18n import Translator, negotiate, reason_text
from serving.pages import (
    SESSION_COOKIE,
    QueueFilters,
    lead_state,
    queue_page,
)
from serving.storage import Store
from serving.tables import Role
from tests.clients import hidden, new_key, sign_in, signed_in
from tests.model_fixtures import Registry, admin_headers
from tests.payloads import COLD, HOT, PII

AS_OF = "2026-03-30T09:00:00Z"


# --- helpers --------------------------------------------------------------------------------


def score(client: TestClient, lead: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/v1/score", json={**lead, "as_of": AS_OF}, params={"reasons": 5}, headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    client.app.state.decision_log.flush()
    return response.json()


def decision_row(lead_id: str, decision: str, scored_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "scored_at": scored_at,
        "as_of": scored_at,
        "model_name": "leadscore",
        "model_version": "1",
        "features": {"channel": extra.pop("channel", "seo"), "touches": []},
        "p_sql": 0.5,
        "p_won": extra.pop("p_won", 0.2),
        "fit_score": 60.0,
        "engagement_score": 40.0,
        "decision": decision,
        "threshold": 0.1,
        **extra,
    }


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
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none'

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


# --- queue ------------------------------------------------------------------------------------


def test_queue_lists_scored_leads_and_filters_work(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    hot, cold = scored
    signed_in(client, Role.SALES)
    everything = client.get("/ui/queue", params={"decision": "", "status": "all"}).text
    assert 'href="/ui/leads/ui-hot-1"' in everything
    assert 'href="/ui/leads/ui-cold-1"' in everything
    assert everything.index("ui-cold-1") < everything.index("ui-hot-1")  # newest first

    by_channel = client.get("/ui/queue", params={"decision": "", "channel": "paid_social"}).text
    assert "ui-cold-1" in by_channel and "ui-hot-1" not in by_channel

    by_decision = client.get("/ui/queue", params={"decision": hot["decision"]}).text
    assert "ui-hot-1" in by_decision
    assert ("ui-cold-1" in by_decision) == (cold["decision"] == hot["decision"])

    band = "top" if hot["p_won"] >= 0.3 else "high" if hot["p_won"] >= 0.15 else "mid"
    if hot["p_won"] < 0.05:
        band = "low"
    by_band = client.get("/ui/queue", params={"decision": "", "band": band}).text
    assert "ui-hot-1" in by_band
    other = next(b for b in ("top", "high", "mid", "low") if b != band)
    assert "ui-hot-1" not in client.get("/ui/queue", params={"decision": "", "band": other}).text

    # the default view is the open handoffs: only hand_to_sales leads
    default = client.get("/ui/queue").text
    for result in scored:
        listed = f'href="/ui/leads/{result["lead_id"]}"' in default
        assert listed == (result["decision"] == "hand_to_sales")


def test_queue_sla_states_are_filtered_and_overdue_is_highlighted(client: TestClient) -> None:
    store: Store = client.app.state.store
    now = datetime.now(UTC)
    store.record_decisions(
        [
            decision_row("sla-late", "hand_to_sales", now - timedelta(hours=9)),
            decision_row("sla-soon", "hand_to_sales", now - timedelta(hours=7)),
            decision_row("sla-fresh", "hand_to_sales", now - timedelta(minutes=30)),
            decision_row("sla-nurture", "nurture", now - timedelta(hours=20)),
        ]
    )
    signed_in(client, Role.SALES)
    for state, lead in (
        ("overdue", "sla-late"),
        ("due_soon", "sla-soon"),
        ("on_track", "sla-fresh"),
    ):
        html = client.get("/ui/queue", params={"sla": state}).text
        listed = re.findall(r'href="/ui/leads/([\w.:\-]+)"', html)
        assert listed == [lead], (state, listed)
    page = client.get("/ui/queue").text
    row = re.search(r'<tr class="([\w-]+)" data-lead="sla-late">', page)
    assert row and row.group(1) == "sla-overdue"
    assert "decide: overdue by 1 h" in page
    assert "sla-nurture" not in page  # the default view shows handoffs only


def test_queue_paginates(client: TestClient) -> None:
    store: Store = client.app.state.store
    now = datetime.now(UTC)
    store.record_decisions(
        [
            decision_row(f"page-{i:02d}", "hand_to_sales", now - timedelta(minutes=i))
            for i in range(30)
        ]
    )
    signed_in(client, Role.SALES)
    first = client.get("/ui/queue").text
    assert "30 leads · page 1 of 2" in first
    assert "page-00" in first and "page-24" in first and "page-25" not in first
    second = client.get("/ui/queue", params={"page": 2}).text
    assert "page-25" in second and "page-29" in second and "page-00" not in second


def test_queue_query_follows_sales_decisions_and_new_handoffs(store: Store) -> None:
    """The queue's SQL on SQLite and PostgreSQL: decided leads leave, a new handoff returns."""
    now = datetime.now(UTC)
    store.record_decisions(
        [
            decision_row("q-1", "hand_to_sales", now - timedelta(hours=10)),
            decision_row("q-1", "hand_to_sales", now - timedelta(hours=3)),  # re-scored
            decision_row("q-2", "hand_to_sales", now - timedelta(hours=2)),
            decision_row("q-3", "nurture", now - timedelta(hours=1), channel="email", p_won=0.03),
        ]
    )
    rows, total = queue_page(store, QueueFilters(decision=None), now=now)
    assert total == 3 and [r["lead_id"] for r in rows] == ["q-3", "q-2", "q-1"]
    q1 = next(r for r in rows if r["lead_id"] == "q-1")
    assert q1["handoff_at"] == now - timedelta(hours=10)  # the SLA clock: the first handoff
    assert q1["sla"]["state"] == "overdue"
    assert next(r for r in rows if r["lead_id"] == "q-3")["sla"] is None

    store.add_feedback(
        {"lead_id": "q-1", "kind": "rejected", "reason": "no_budget", "at": now},
        idempotency_key="q-1-rejected",
        actor="tester",
    )
    open_rows, _ = queue_page(store, QueueFilters(decision=None), now=now)
    assert [r["lead_id"] for r in open_rows] == ["q-3", "q-2"]
    decided, _ = queue_page(store, QueueFilters(decision=None, status="decided"), now=now)
    assert [(r["lead_id"], r["sales_kind"], r["sales_reason"]) for r in decided] == [
        ("q-1", "rejected", "no_budget")
    ]
    # a disagreement is no sales decision: the lead stays in the queue
    store.add_feedback(
        {"lead_id": "q-2", "kind": "disagree", "comment": "too low", "at": now},
        idempotency_key="q-2-disagree",
        actor="tester",
    )
    assert {r["lead_id"] for r in queue_page(store, QueueFilters(decision=None), now=now)[0]} == {
        "q-2",
        "q-3",
    }
    # nurtured, then handed over again: back in the queue with a new SLA clock
    later = datetime.now(UTC) + timedelta(seconds=1)
    store.record_decisions([decision_row("q-1", "hand_to_sales", later)])
    state = lead_state(store, "q-1", now=later)
    assert state is not None and not state["decided"]
    assert state["handoff_at"] == later and state["sla"]["state"] == "on_track"
    assert [r["lead_id"] for r in queue_page(store, QueueFilters(), now=later)[0]] == [
        "q-1",
        "q-2",
    ]
    filtered, _ = queue_page(store, QueueFilters(decision=None, channel="email", band="low"))
    assert [r["lead_id"] for r in filtered] == ["q-3"]


# --- lead page ----------------------------------------------------------------------------------


def test_lead_page_shows_scores_reasons_and_timeline(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    hot, _ = scored
    signed_in(client, Role.SALES)
    queue = client.get("/ui/queue", params={"decision": "", "status": "all"}).text
    assert 'href="/ui/leads/ui-hot-1"' in queue  # click 1: the queue row links the lead page
    page = client.get("/ui/leads/ui-hot-1")
    assert page.status_code == 200
    html = page.text
    for reason in hot["reasons"]["positive"] + hot["reasons"]["negative"]:
        assert reason["text"] in html
    assert "demo request" in html and "pricing page view" in html and "webinar attended" in html
    assert f"{100 * hot['p_won']:.1f}%" in html
    assert f"{100 * hot['threshold']:.1f}%" in html
    assert "version 1" in html
    assert "pp above the threshold" in html or "pp below the threshold" in html
    if hot["likely_rejection"]:
        assert hot["likely_rejection"]["text"] in html
    assert 'name="kind" value="rejected"' in html  # click 2/3: the form is on the page
    assert not any(value in html for value in PII.values())
    missing = client.get("/ui/leads/never-scored")
    assert missing.status_code == 404 and "never-scored" in missing.text


def _decision_form(client: TestClient, lead_id: str) -> dict[str, str]:
    html = client.get(f"/ui/leads/{lead_id}").text
    return {"csrf": hidden(html, "csrf"), "idem": hidden(html, "idem")}


def test_rejecting_without_a_reason_names_the_field(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    signed_in(client, Role.SALES)
    form = _decision_form(client, "ui-hot-1")
    response = client.post(
        "/ui/leads/ui-hot-1/decision", data={**form, "kind": "rejected", "reason": ""}
    )
    assert response.status_code == 422
    assert "reason: a rejection needs a reason tag" in response.text
    assert 'aria-invalid="true"' in response.text
    assert hidden(response.text, "idem") == form["idem"]  # the same form, re-rendered
    bad_attempts = client.post(
        "/ui/leads/ui-hot-1/decision",
        data={**form, "kind": "accepted", "contact_attempts": "many"},
    )
    assert bad_attempts.status_code == 422
    assert "contact_attempts" in bad_attempts.text
    too_long = client.post(
        "/ui/leads/ui-hot-1/decision", data={**form, "kind": "accepted", "comment": "x" * 2001}
    )
    assert too_long.status_code == 422 and "comment: String should have at most" in too_long.text
    wrong_reason = client.post(
        "/ui/leads/ui-hot-1/decision", data={**form, "kind": "accepted", "reason": "no_budget"}
    )
    assert "reason: only a rejection carries a reason tag" in wrong_reason.text
    assert client.app.state.store.count_feedback() == 0


def test_a_rejection_is_stored_once_and_the_lead_leaves_the_queue(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    store: Store = client.app.state.store
    signed_in(client, Role.SALES)
    form = _decision_form(client, "ui-hot-1")
    body = {**form, "kind": "rejected", "reason": "too_early", "contact_attempts": "3"}
    first = client.post("/ui/leads/ui-hot-1/decision", data=body, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/ui/queue?recorded=ui-hot-1&kind=rejected"
    again = client.post("/ui/leads/ui-hot-1/decision", data=body, follow_redirects=False)
    assert again.status_code == 303  # a double submit is the same decision
    assert store.count_feedback(kind="rejected") == 1
    row = store.feedback_frame().iloc[0]
    assert (row["lead_id"], row["reason"], row["actor"]) == ("ui-hot-1", "too_early", "ui-sales")
    assert row["contact_attempts"] == 3 and row["decision_id"] is not None

    queue = client.get(
        "/ui/queue", params={"decision": "", "recorded": "ui-hot-1", "kind": "rejected"}
    )
    assert "Recorded: lead ui-hot-1" in queue.text
    assert 'href="/ui/leads/ui-hot-1"' not in queue.text
    decided = client.get("/ui/queue", params={"decision": "", "status": "decided"}).text
    assert 'href="/ui/leads/ui-hot-1"' in decided and "too early" in decided

    # the same form cannot be replayed with another decision
    changed = client.post(
        "/ui/leads/ui-hot-1/decision", data={**body, "kind": "accepted", "reason": ""}
    )
    assert changed.status_code == 409
    assert store.count_feedback() == 1


def test_forms_need_the_session_csrf_token(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    signed_in(client, Role.SALES)
    form = _decision_form(client, "ui-hot-1")
    # a form posted after the session ended: sign in again, then back to the lead page
    stale = TestClient(client.app).post(
        "/ui/leads/ui-hot-1/decision", data={**form, "kind": "accepted"}, follow_redirects=False
    )
    assert stale.headers["location"] == "/ui/login?next=%2Fui%2Fleads%2Fui-hot-1"
    for token in ("", "0" * 64):
        response = client.post(
            "/ui/leads/ui-hot-1/decision",
            data={**form, "csrf": token, "kind": "accepted"},
        )
        assert response.status_code == 403
    assert client.app.state.store.count_feedback() == 0


def test_disagree_note_is_feedback_of_kind_disagree(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    store: Store = client.app.state.store
    signed_in(client, Role.SALES)
    html = client.get("/ui/leads/ui-cold-1").text
    csrf = hidden(html, "csrf")
    note_idem = re.findall(r'name="idem" value="([^"]*)"', html)[1]
    empty = client.post(
        "/ui/leads/ui-cold-1/disagree", data={"csrf": csrf, "idem": note_idem, "comment": " "}
    )
    assert empty.status_code == 422 and "comment" in empty.text
    note = {"csrf": csrf, "idem": note_idem, "comment": "They asked for a quote yesterday"}
    response = client.post("/ui/leads/ui-cold-1/disagree", data=note)
    assert response.status_code == 200 and "Your note has been recorded" in response.text
    client.post("/ui/leads/ui-cold-1/disagree", data=note)
    assert store.count_feedback(kind="disagree") == 1
    comments = store.feedback_frame(include_comment=True)["comment"].tolist()
    assert comments == ["They asked for a quote yesterday"]
    assert "They asked for a quote" not in response.text  # comments are not shown back


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
    assert "reason: для отказа нужна причина" in error
    english = client.get("/ui/queue", params={"lang": "en"}).text
    assert "Handoff queue" in english


def test_accept_language_negotiation_and_reason_translation() -> None:
    assert negotiate("ru-RU,ru;q=0.9,en-US;q=0.8") == "ru"
    assert negotiate("de-DE,en;q=0.7,ru;q=0.5") == "en"
    assert negotiate("en;q=0.2, ru;q=0.8") == "ru"
    assert negotiate(None) == "en" and negotiate("fr") == "en"
    assert reason_text("demo_request", "requested a demo 2 days ago", "ru") == (
        "запросил демо 2 дня назад"
    )
    assert reason_text("company_size", "company size 1-10 is outside the ICP", "ru") == (
        "размер компании 1-10 — вне профиля ICP"
    )
    assert reason_text("season", "leads in March convert worse", "ru") == (
        "лиды, пришедшие в марте, конвертируются хуже"
    )
    assert reason_text("x", "something new", "ru") == "something new"
    t = Translator("ru")
    assert t.pct(0.1234) == "12,3%"
    assert t("no.such.key") == "no.such.key"


PHRASE_ROWS: list[dict[str, float]] = [
    {
        "n_demo_request": 1,
        "days_since_demo_request": 2,
        "n_pricing_page_view": 3,
        "days_since_pricing_page_view": 0,
        "n_webinar_attended": 1,
        "n_webinar_registered": 1,
        "n_content_download": 2,
        "n_email_click": 1,
        "n_email_open": 3,
        "n_page_view": 5,
        "n_touches_14d": 1,
        "days_since_last_touch": 1,
        "lead_age_days": 29,
        "month_of_year": 3,
    },
    {"n_webinar_registered": 1, "n_email_open": 2, "days_since_last_touch": 20, "n_chat": 1},
    {"days_since_demo_request": float("nan"), "lead_age_days": 1, "month_of_year": 12},
    {},
]
PHRASE_RAWS: list[dict[str, Any]] = [
    {
        "channel": "webinar",
        "campaign": "q2",
        "industry": "software",
        "company_size": "201-500",
        "country": "DE",
        "region": "EMEA",
        "revenue_band": "10M-50M",
        "seniority": "director",
        "department": "it",
    },
    {},
]


def test_every_reason_phrase_of_the_model_has_a_russian_form(registry: Registry) -> None:
    """Drives each branch of the model's Phrasebook: a new English wording fails here."""
    from scoring.explain import TOUCH_FIELDS

    scorer = registry.result.scorer
    fields = [*TOUCH_FIELDS, "consent", *scorer.spec.categorical, *scorer.spec.ordinal]
    untranslated = set()
    for field in fields:
        for row in PHRASE_ROWS:
            for raw in PHRASE_RAWS:
                for positive in (True, False):
                    english = scorer.phrasebook.phrase(field, positive, row, raw)
                    if reason_text(field, english, "ru") == english:
                        untranslated.add(english)
    assert not untranslated


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


def test_accept_form_records_the_qualification_and_first_contact_is_its_own_event(
    client: TestClient, scored: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    store: Store = client.app.state.store
    signed_in(client, Role.SALES)
    form = _decision_form(client, "ui-hot-1")
    assert 'name="bant" value="budget"' in client.get("/ui/leads/ui-hot-1").text
    contacted = client.post(
        "/ui/leads/ui-hot-1/decision", data={**form, "kind": "contacted"}, follow_redirects=False
    )
    assert contacted.status_code == 303, contacted.text
    form = _decision_form(client, "ui-hot-1")
    body = {**form, "kind": "accepted", "bant": ["budget", "need"]}
    accepted = client.post("/ui/leads/ui-hot-1/decision", data=body, follow_redirects=False)
    assert accepted.status_code == 303, accepted.text
    frame = store.feedback_frame()
    assert list(frame["kind"]) == ["contacted", "accepted"]
    assert frame["qualification"].iloc[1] == {
        "framework": "bant",
        "budget": True,
        "authority": False,
        "need": True,
        "timeline": False,
    }
    page = client.get("/ui/leads/ui-hot-1").text
    assert "BANT: budget, need" in page
    assert "Lifecycle stage: <strong>accepted (SQL)</strong>" in page
    # a second acceptance cannot follow: 409, naming the rule's field, nothing stored
    again = client.post(
        "/ui/leads/ui-hot-1/decision",
        data={**_decision_form(client, "ui-hot-1"), "kind": "accepted"},
    )
    assert again.status_code == 409 and "already accepted" in again.text
    assert store.count_feedback() == 2


def test_queue_flags_sla_breaches_from_the_lifecycle(client: TestClient) -> None:
    """A lead decided in time but never contacted: flagged after 24 h, on its own clock."""
    store: Store = client.app.state.store
    now = datetime.now(UTC)
    store.record_decisions(
        [decision_row("sla-uncontacted", "hand_to_sales", now - timedelta(hours=30))]
    )
    store.add_feedback(
        {"lead_id": "sla-uncontacted", "kind": "accepted", "at": now - timedelta(hours=29),
         "qualification": {"framework": "bant", "need": True}},
        idempotency_key="flag-1",
        actor="crm",
    )  # fmt: skip
    signed_in(client, Role.SALES)
    page = client.get("/ui/queue", params={"decision": "", "status": "all"}).text
    assert "SLA breach: first contact late" in page
    assert "decision late" not in page
