"""The pages in a real browser: headless Chromium against a real uvicorn server.

A salesperson signs in, opens the queue, opens a lead, rejects it with a reason (first
without one: the form says which field is missing) and sees it leave the queue; the
decision is in the store once, even after a double click. A role that may not see a page
is refused. Every page is saved as a screenshot under ``test-artifacts/screenshots``.

The fixtures and helpers (the system's Chromium, the live server, the seeded leads) are
in ``conftest.py`` and :mod:`tests.browser.browser_helpers`; the score history and the
counterfactual card are in ``test_browser_history.py``, a rejection in Russian in
``test_browser_ru.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from serving.tables import Role
from tests.browser.browser_helpers import (
    LiveServer,
    queue_leads,
    seed,
    shot,
    sign_in,
    skip_module_without_browser,
)

pytestmark = pytest.mark.browser
skip_module_without_browser()


def test_sales_rejects_a_lead_with_a_reason_in_three_clicks(
    chromium: Any, live_server: LiveServer
) -> None:
    seed(live_server)
    store = live_server.store
    sales_key = live_server.key(Role.SALES, "browser-sales")
    context = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_server.url + "/ui/queue")
        assert "/ui/login" in page.url
        shot(page, "01-login")
        sign_in(page, live_server, sales_key, "/ui/queue")
        assert page.url.endswith("/ui/queue")
        cookie = next(c for c in context.cookies() if c["name"] == "leadscore_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert sales_key not in cookie["value"]

        listed = queue_leads(page)
        assert "ui-hot-1" in listed and "ui-late-1" in listed
        assert "ui-cold-1" not in listed  # nurtured and rejected: not in the handoff queue
        assert page.get_attribute('tr[data-lead="ui-late-1"]', "class") == "sla-overdue"
        shot(page, "02-queue")

        # click 1: the queue row's link
        page.click('a.lead-link[href="/ui/leads/ui-hot-1"]')
        page.wait_for_load_state()
        assert page.url.endswith("/ui/leads/ui-hot-1")
        assert page.locator("table.reasons tr").count() >= 3
        assert page.locator("ol.timeline li").count() == 3
        assert "demo request" in page.inner_text("#timeline")
        assert "If the lead" in page.inner_text("#what-would-change")  # issue 13 item 3
        shot(page, "03-lead")

        # a rejection without a reason: the form comes back naming the field
        page.click("button.reject")
        page.wait_for_load_state()
        assert "reason: a rejection needs a reason tag" in page.inner_text(".decision-form")
        seeded = store.count_feedback()
        shot(page, "04-lead-missing-reason")

        # click 2 (choose the tag) and 3 (submit); a double click must store it once
        page.select_option("#reason", "competitor_won")
        page.dblclick("button.reject")
        page.wait_for_url(re.compile(r"/ui/queue\?recorded=ui-hot-1"))
        page.wait_for_load_state()
        assert "Recorded: lead ui-hot-1" in page.inner_text(".notice")
        assert "ui-hot-1" not in queue_leads(page)
        shot(page, "05-queue-after-rejection")

        assert store.count_feedback() == seeded + 1
        rejected = store.feedback_frame()
        rejected = rejected[rejected["lead_id"] == "ui-hot-1"]
        assert len(rejected) == 1
        assert rejected.iloc[0][["kind", "reason", "actor"]].tolist() == [
            "rejected",
            "competitor_won",
            "browser-sales",
        ]

        # the decided view still finds it, and the Russian page reads Russian
        page.goto(live_server.url + "/ui/queue?decision=&status=decided&lang=ru")
        assert "ui-hot-1" in queue_leads(page)
        assert "Очередь передачи" in page.inner_text("h1")
        shot(page, "06-queue-decided-ru")
        page.goto(live_server.url + "/ui/leads/ui-demo-2")
        assert "Почему такая оценка" in page.inner_text("#reasons")
        assert "Что изменило бы решение" in page.inner_text("#what-would-change")
        shot(page, "07-lead-ru")

        # sales may not open the marketing overview
        response = page.goto(live_server.url + "/ui/marketing?lang=en")
        assert response is not None and response.status == 403
        assert "Not allowed" in page.inner_text("h1")
        shot(page, "08-sales-refused-marketing")
    finally:
        context.close()


def test_marketing_sees_the_overview_and_is_refused_the_queue(
    chromium: Any, live_server: LiveServer
) -> None:
    seed(live_server)
    context = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        sign_in(page, live_server, live_server.key(Role.MARKETING, "browser-mkt"), "/ui")
        assert page.url.endswith("/ui/marketing")
        for section in ("#funnel", "#rejections", "#sla", "#models"):
            assert page.locator(section).is_visible()
        assert page.locator("#models .badge.alias.champion").inner_text() == "champion"
        assert "not ICP" in page.inner_text("#rejections")
        shot(page, "09-marketing")

        response = page.goto(live_server.url + "/ui/queue")
        assert response is not None and response.status == 403
        shot(page, "10-marketing-refused-queue")

        page.click("header form button")  # sign out
        page.wait_for_load_state()
        assert "/ui/login" in page.url
        response = page.goto(live_server.url + "/ui/marketing")
        assert "/ui/login" in page.url
    finally:
        context.close()


# --- /docs without internet (issue 13, item 8) ---------------------------------------------


def test_docs_render_with_every_request_to_another_host_refused(
    chromium: Any, live_server: LiveServer
) -> None:
    """Swagger UI draws the API from the app's own files: a request to any other host is
    aborted (as on a network without internet) and the operations still appear."""
    context = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    elsewhere: list[str] = []

    def only_the_app(route: Any) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_app)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_server.url + "/docs")
        page.wait_for_selector("#operations-scoring-score_v1_score_post")
        assert page.locator(".opblock").count() > 10
        assert elsewhere == []
        shot(page, "11-docs-offline")
    finally:
        context.close()
