"""The pages in a real browser: headless Chromium against a real uvicorn server.

A salesperson signs in, opens the queue, opens a lead, rejects it with a reason (first
without one: the form says which field is missing) and sees it leave the queue; the
decision is in the store once, even after a double click. A role that may not see a page
is refused. Every page is saved as a screenshot under ``test-artifacts/screenshots``.

Uses the system's Chromium (Debian ``chromium``) through Playwright — never a downloaded
browser. Without ``/usr/bin/chromium`` (or Playwright) the tests skip, saying why, unless
``LEADSCORE_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.storage import Store
from serving.tables import Role
from tests.integration.pages_helpers import decision_row
from tests.model_fixtures import ADMIN_KEY, Registry
from tests.payloads import COLD, HOT

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("LEADSCORE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AS_OF = "2026-03-30T09:00:00Z"

MORE_LEADS: list[dict[str, Any]] = [
    {
        **HOT,
        "lead_id": f"ui-demo-{i}",
        "channel": channel,
        "industry": industry,
        "company_size": size,
        "seniority": seniority,
        "touches": HOT["touches"][: 1 + i % 3],
    }
    for i, (channel, industry, size, seniority) in enumerate(
        [
            ("paid_search", "finance", "501-1000", "vp"),
            ("seo", "retail", "51-200", "manager"),
            ("referral", "software", "1001-5000", "c_level"),
            ("event", "manufacturing", "201-500", "director"),
            ("paid_social", "education", "11-50", "individual"),
            ("content", "software", "51-200", "manager"),
        ]
    )
]


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return (
            f"no Chromium at {CHROMIUM}: install the Debian packages chromium and "
            "chromium-driver (.ci/system-packages does)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


_MISSING = _browser_missing()
if _MISSING is not None and os.environ.get("LEADSCORE_REQUIRE_BROWSER") != "1":
    # at import: no model gets trained for tests that cannot run
    pytest.skip(_MISSING, allow_module_level=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless system Chromium for the module (skips or fails without one)."""
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get("LEADSCORE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LEADSCORE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class LiveServer:
    url: str
    app: Any

    @property
    def store(self) -> Store:
        return self.app.state.store

    def key(self, role: Role, name: str) -> str:
        return self.store.create_api_key(name, role)


@pytest.fixture
def live_server(registry: Registry, tmp_path: Path) -> Iterator[LiveServer]:
    """The app from ``create_app(settings)`` served by uvicorn on a free 127.0.0.1 port."""
    import uvicorn

    from serving.app import create_app

    settings = registry.settings(
        registry.root / "serving-home", database_url=f"sqlite:///{tmp_path / 'browser.sqlite'}"
    )
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _seed(server: LiveServer) -> None:
    """Score leads through the real API, plus some older handoffs and feedback."""
    headers = {"X-API-Key": ADMIN_KEY}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for lead in [*MORE_LEADS, COLD, HOT]:
            response = http.post(
                "/v1/score", json={**lead, "as_of": AS_OF}, params={"reasons": 5}, headers=headers
            )
            assert response.status_code == 200, response.text
    server.app.state.decision_log.flush()
    now = datetime.now(UTC)
    server.store.record_decisions(
        [
            decision_row("ui-late-1", "hand_to_sales", now - timedelta(hours=11), p_won=0.21),
            decision_row("ui-soon-1", "hand_to_sales", now - timedelta(hours=6, minutes=40)),
        ]
    )
    for i, (lead_id, kind, reason) in enumerate(
        [
            ("ui-demo-0", "accepted", None),
            ("ui-demo-4", "rejected", "not_icp"),
            ("ui-cold-1", "rejected", "not_icp"),
        ]
    ):
        body = {"lead_id": lead_id, "kind": kind, "at": now.isoformat()}
        if reason:
            body["reason"] = reason
        server.store.add_feedback(body, idempotency_key=f"seed-{i}-key", actor="crm")


def _shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _sign_in(page: Any, server: LiveServer, key: str, start: str) -> None:
    page.goto(server.url + start)
    assert "/ui/login" in page.url
    page.fill("#api_key", key)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def _queue_leads(page: Any) -> list[str]:
    return [a.inner_text() for a in page.query_selector_all("a.lead-link")]


def test_sales_rejects_a_lead_with_a_reason_in_three_clicks(
    chromium: Any, live_server: LiveServer
) -> None:
    _seed(live_server)
    store = live_server.store
    sales_key = live_server.key(Role.SALES, "browser-sales")
    context = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_server.url + "/ui/queue")
        assert "/ui/login" in page.url
        _shot(page, "01-login")
        _sign_in(page, live_server, sales_key, "/ui/queue")
        assert page.url.endswith("/ui/queue")
        cookie = next(c for c in context.cookies() if c["name"] == "leadscore_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert sales_key not in cookie["value"]

        listed = _queue_leads(page)
        assert "ui-hot-1" in listed and "ui-late-1" in listed
        assert "ui-cold-1" not in listed  # nurtured and rejected: not in the handoff queue
        assert page.get_attribute('tr[data-lead="ui-late-1"]', "class") == "sla-overdue"
        _shot(page, "02-queue")

        # click 1: the queue row's link
        page.click('a.lead-link[href="/ui/leads/ui-hot-1"]')
        page.wait_for_load_state()
        assert page.url.endswith("/ui/leads/ui-hot-1")
        assert page.locator("table.reasons tr").count() >= 3
        assert page.locator("ol.timeline li").count() == 3
        assert "demo request" in page.inner_text("#timeline")
        assert "If the lead" in page.inner_text("#what-would-change")  # issue 13 item 3
        _shot(page, "03-lead")

        # a rejection without a reason: the form comes back naming the field
        page.click("button.reject")
        page.wait_for_load_state()
        assert "reason: a rejection needs a reason tag" in page.inner_text(".decision-form")
        seeded = store.count_feedback()
        _shot(page, "04-lead-missing-reason")

        # click 2 (choose the tag) and 3 (submit); a double click must store it once
        page.select_option("#reason", "competitor_won")
        page.dblclick("button.reject")
        page.wait_for_url(re.compile(r"/ui/queue\?recorded=ui-hot-1"))
        page.wait_for_load_state()
        assert "Recorded: lead ui-hot-1" in page.inner_text(".notice")
        assert "ui-hot-1" not in _queue_leads(page)
        _shot(page, "05-queue-after-rejection")

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
        assert "ui-hot-1" in _queue_leads(page)
        assert "Очередь передачи" in page.inner_text("h1")
        _shot(page, "06-queue-decided-ru")
        page.goto(live_server.url + "/ui/leads/ui-demo-2")
        assert "Почему такая оценка" in page.inner_text("#reasons")
        assert "Что изменило бы решение" in page.inner_text("#what-would-change")
        _shot(page, "07-lead-ru")

        # sales may not open the marketing overview
        response = page.goto(live_server.url + "/ui/marketing?lang=en")
        assert response is not None and response.status == 403
        assert "Not allowed" in page.inner_text("h1")
        _shot(page, "08-sales-refused-marketing")
    finally:
        context.close()


def test_marketing_sees_the_overview_and_is_refused_the_queue(
    chromium: Any, live_server: LiveServer
) -> None:
    _seed(live_server)
    context = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        _sign_in(page, live_server, live_server.key(Role.MARKETING, "browser-mkt"), "/ui")
        assert page.url.endswith("/ui/marketing")
        for section in ("#funnel", "#rejections", "#sla", "#models"):
            assert page.locator(section).is_visible()
        assert page.locator("#models .badge.alias.champion").inner_text() == "champion"
        assert "not ICP" in page.inner_text("#rejections")
        _shot(page, "09-marketing")

        response = page.goto(live_server.url + "/ui/queue")
        assert response is not None and response.status == 403
        _shot(page, "10-marketing-refused-queue")

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
        _shot(page, "11-docs-offline")
    finally:
        context.close()
