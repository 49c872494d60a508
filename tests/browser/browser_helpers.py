"""What the browser tests share besides fixtures: where Chromium is, the seeded leads,
signing in and screenshots (the fixtures are in ``conftest.py``).

Uses the system's Chromium (Debian ``chromium``) through Playwright — never a downloaded
browser. Without ``/usr/bin/chromium`` (or Playwright) the tests skip, saying why, unless
``LEADSCORE_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.storage import Store
from serving.tables import Role
from tests.integration.pages_helpers import decision_row
from tests.model_fixtures import ADMIN_KEY
from tests.payloads import COLD, HOT

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
REQUIRED = os.environ.get("LEADSCORE_REQUIRE_BROWSER") == "1"

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


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
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


def skip_module_without_browser() -> None:
    """At a test module's import: no model gets trained for tests that cannot run."""
    missing = browser_missing()
    if missing is not None and not REQUIRED:
        pytest.skip(missing, allow_module_level=True)


@dataclass
class LiveServer:
    url: str
    app: Any

    @property
    def store(self) -> Store:
        return self.app.state.store

    def key(self, role: Role, name: str) -> str:
        return self.store.create_api_key(name, role)


def score(server: LiveServer, lead: dict[str, Any], as_of: str = AS_OF) -> dict[str, Any]:
    """Score ``lead`` through the real API as of ``as_of``; the answer's JSON."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post(
            "/v1/score",
            json={**lead, "as_of": as_of},
            params={"reasons": 5},
            headers={"X-API-Key": ADMIN_KEY},
        )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def seed(server: LiveServer) -> None:
    """Score leads through the real API, plus some older handoffs and feedback."""
    for lead in [*MORE_LEADS, COLD, HOT]:
        score(server, lead)
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


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, server: LiveServer, key: str, start: str) -> None:
    page.goto(server.url + start)
    assert "/ui/login" in page.url
    page.fill("#api_key", key)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def queue_leads(page: Any) -> list[str]:
    """The lead ids of the queue's rows, top to bottom."""
    return [row.get_attribute("data-lead") for row in page.query_selector_all("tr[data-lead]")]
