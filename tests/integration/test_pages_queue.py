"""The sales pages (``/ui``), through the TestClient: the queue, the lead page and its forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.pages import (
    QueueFilters,
    lead_state,
    queue_page,
)
from serving.storage import Store
from serving.tables import Role
from tests.clients import hidden, signed_in
from tests.integration.pages_helpers import _decision_form, decision_row, score
from tests.payloads import COLD, HOT, PII


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def scored(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    return score(client, HOT), score(client, COLD)


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
