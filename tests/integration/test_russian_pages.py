"""Every page and report in Russian, as a Russian sales manager, marketer and admin see
them: no Latin-script word that is not a code, a name or a unit (issue 13, item 6).

Each role signs in with Russian chosen and follows every link of the app's own pages
(queue and its filters, lead pages, marketing page), sends the lead page's forms right
and wrong (their error answers included), and the report's HTML and its charts' text
are checked the same way. :mod:`tests.integration.latin_words` holds the small,
explicit allow-list.
"""

from __future__ import annotations

import html as html_lib
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from scoring.contract import COMPANY_SIZES, DEPARTMENTS, REVENUE_BANDS, SENIORITIES, Channel
from scoring.settings import Settings
from serving.tables import Role
from tests.clients import hidden, new_key, sign_in
from tests.integration.latin_words import context, latin_words, visible_text
from tests.integration.pages_helpers import _decision_form, score
from tests.payloads import LEAD

INDUSTRIES = ("software", "fintech", "healthcare", "retail", "government", "telecom")
COUNTRIES = ("US", "DE", "GB", "JP", "BR", "IN")
REGIONS = ("NA", "EMEA", "EMEA", "APAC", "LATAM", "APAC")
TOUCHES = (
    "page_view",
    "pricing_page_view",
    "email_open",
    "email_click",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "demo_request",
    "form_submit",
    "chat",
    "call",
)
KEY_NAMES = {Role.SALES: "olga-sales", Role.MARKETING: "ivan-mkt", Role.ADMIN: "anna-admin"}
MAX_PAGES = 80


def _leads() -> list[dict[str, Any]]:
    """One lead per channel, the other vocabularies cycled through them."""
    leads = []
    for i, channel in enumerate(Channel):
        touches = [
            {"at": f"2026-03-{10 + j:02d}T10:00:00Z", "type": TOUCHES[(i + j) % len(TOUCHES)]}
            for j in range(1 + i % 4)
        ]
        leads.append(
            {
                **LEAD,
                "lead_id": f"ru-{i}",
                "channel": channel.value,
                "campaign": None,
                "industry": INDUSTRIES[i % len(INDUSTRIES)],
                "company_size": COMPANY_SIZES[i % len(COMPANY_SIZES)],
                "seniority": SENIORITIES[i % len(SENIORITIES)],
                "department": DEPARTMENTS[i % len(DEPARTMENTS)],
                "country": COUNTRIES[i % len(COUNTRIES)],
                "region": REGIONS[i % len(REGIONS)],
                "revenue_band": REVENUE_BANDS[i % len(REVENUE_BANDS)],
                "consent_email": bool(i % 2),
                "consent_phone": not i % 3,
                "touches": touches,
            }
        )
    return leads


LEAD_IDS = {f"ru-{i}" for i in range(len(Channel))}
ALLOWED = LEAD_IDS | set(KEY_NAMES.values()) | {"no-such-lead"}
"""The test's own lead ids and key names (names, shown as given)."""


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client()
    for lead in _leads():
        score(client, lead)
    store = client.app.state.store
    at = datetime(2026, 3, 30, 12, tzinfo=UTC)
    for n, (lead_id, kind, reason) in enumerate(
        [
            ("ru-0", "rejected", "not_icp"),
            ("ru-1", "rejected", "no_budget"),
            ("ru-2", "accepted", None),
            ("ru-3", "returned_to_nurture", None),
            ("ru-4", "rejected", "no_response"),
        ]
    ):
        event = {"lead_id": lead_id, "kind": kind, "at": at + timedelta(minutes=n)}
        if reason:
            event |= {"reason": reason, "contact_attempts": 1}
        store.add_feedback(event, idempotency_key=f"ru-feedback-{n}", actor="crm")
    return client


def _sign_in(client: TestClient, role: Role) -> None:
    client.cookies.clear()
    client.get("/ui/login", params={"lang": "ru"})
    raw = new_key(client, role, KEY_NAMES[role])
    assert sign_in(client, raw).status_code == 303


def _links(page: str) -> list[str]:
    found = []
    for href in re.findall(r'href="(/ui[^"#]*)"', page):
        url = html_lib.unescape(href)
        if url.startswith(("/ui/static", "/ui/logout")) or "lang=en" in url:
            continue
        found.append(url)
    return found


class Findings:
    """Latin words found per page, for one failure message naming them all."""

    def __init__(self, allowed: set[str] = ALLOWED) -> None:
        self.by_page: dict[str, list[str]] = {}
        self.allowed = allowed

    def check(self, where: str, page: str) -> None:
        text = visible_text(page)
        assert text, where
        words = latin_words(text, self.allowed)
        if words:
            self.by_page[where] = sorted(
                {f"{w!r} in «{context(text, w)}»" for w in words}, key=str.lower
            )

    def report(self) -> str:
        lines = []
        for where, words in self.by_page.items():
            lines.append(f"{where}: {len(words)} word(s)")
            lines.extend(f"    {w}" for w in words[:40])
        return "\n".join(lines)


def _walk(client: TestClient, start: list[str], findings: Findings) -> set[str]:
    """Follow every link of the app's own pages from ``start``; check each page."""
    seen: set[str] = set()
    todo = list(start)
    while todo and len(seen) < MAX_PAGES:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        assert 'lang="ru"' in response.text, url
        findings.check(url, response.text)
        todo.extend(link for link in _links(response.text) if link not in seen)
    return seen


QUEUE_VIEWS = [
    "/ui/queue?" + "&".join(f"{k}={v}" for k, v in view)
    for view in itertools.product(
        [("status", s) for s in ("open", "decided", "all")],
        [("decision", d) for d in ("", "hand_to_sales", "nurture", "disqualify")],
    )
] + ["/ui/queue?status=all&decision=&sla=overdue", "/ui/queue?status=all&decision=&band=top"]


def _send_forms(client: TestClient, findings: Findings) -> None:
    """The lead page's forms, wrong and right: each answer page is checked."""
    lead = "ru-5"
    post = client.post
    wrong = {
        "unknown kind": {"kind": "maybe"},
        "rejection without a reason": {"kind": "rejected", "reason": ""},
        "reason on an acceptance": {"kind": "accepted", "reason": "no_budget"},
        "attempts not a number": {"kind": "contacted", "contact_attempts": "three"},
        "attempts negative": {"kind": "contacted", "contact_attempts": "-2"},
        "comment too long": {"kind": "contacted", "comment": "ж" * 5000},
        "reason not in the list": {"kind": "rejected", "reason": "no_money"},
    }
    for name, data in wrong.items():
        response = post(f"/ui/leads/{lead}/decision", data={**_decision_form(client, lead), **data})
        assert response.status_code in (409, 422), (name, response.status_code)
        findings.check(f"decision form: {name}", response.text)
    note = {"comment": "  "}
    response = post(f"/ui/leads/{lead}/disagree", data={**_decision_form(client, lead), **note})
    assert response.status_code == 422
    findings.check("disagree form: empty", response.text)
    forged = post(f"/ui/leads/{lead}/decision", data={"csrf": "x", "kind": "contacted"})
    assert forged.status_code == 403
    findings.check("decision form: forged", forged.text)
    for name, data in {
        "contacted": {"kind": "contacted", "contact_attempts": "2"},
        "accepted with BANT": {"kind": "accepted", "bant": ["budget", "need"]},
    }.items():
        response = post(f"/ui/leads/{lead}/decision", data={**_decision_form(client, lead), **data})
        assert response.status_code == 200, name  # the queue, after the redirect
        findings.check(f"decision form: {name} (queue notice)", response.text)
    again = post(
        f"/ui/leads/{lead}/decision", data={**_decision_form(client, lead), "kind": "accepted"}
    )
    assert again.status_code == 409
    findings.check("decision form: accepted twice", again.text)
    noted = post(
        f"/ui/leads/{lead}/disagree",
        data={**_decision_form(client, lead), "comment": "оценка занижена"},
    )
    assert noted.status_code == 200
    findings.check("disagree form: sent", noted.text)


def test_every_page_in_russian_has_no_english_word(client: TestClient) -> None:
    findings = Findings()
    login = client.get("/ui/login", params={"lang": "ru"})
    findings.check("/ui/login", login.text)
    for raw, name in (("", "empty key"), ("lsk_not_a_key_at_all_0000", "unknown key")):
        form = client.get("/ui/login")
        answer = client.post("/ui/login", data={"api_key": raw, "csrf": hidden(form.text, "csrf")})
        assert answer.status_code in (401, 422)
        findings.check(f"/ui/login: {name}", answer.text)

    _sign_in(client, Role.SALES)
    seen = _walk(client, ["/ui/queue", *QUEUE_VIEWS, "/ui/leads/no-such-lead"], findings)
    assert {f"/ui/leads/{lead_id}" for lead_id in ("ru-0", "ru-2")} <= seen
    forbidden = client.get("/ui/marketing")
    assert forbidden.status_code == 403
    findings.check("/ui/marketing as sales (403)", forbidden.text)
    _send_forms(client, findings)
    findings.check("/ui/leads/ru-5 after the forms", client.get("/ui/leads/ru-5").text)
    findings.check("/ui/logout", client.get("/ui/logout").text)

    _sign_in(client, Role.MARKETING)
    seen = _walk(client, ["/ui/marketing"], findings)
    assert "/ui/marketing" in seen
    findings.check("/ui/queue as marketing (403)", client.get("/ui/queue").text)

    _sign_in(client, Role.ADMIN)
    _walk(client, ["/ui/queue?status=all&decision=", "/ui/marketing"], findings)

    assert not findings.by_page, "English on Russian pages:\n" + findings.report()


def test_the_report_and_its_charts_in_russian_have_no_english_word(tmp_path: Path) -> None:
    from serving.report_charts import write_charts
    from serving.report_html import write_html
    from serving.reports import CostInputs, build_report, from_history
    from training.synthetic import generate

    history = generate(3000, seed=11, drift=True)
    oracle = history.oracle
    assert oracle is not None
    predictions = oracle.rename(columns={"p_sql_true": "p_sql", "p_won_true": "p_won"})
    channels = {c: {"marketing": 6e4, "sales": 3e4} for c in history.leads["channel"].unique()}
    report = build_report(
        from_history(history, predictions=predictions, reference_end="2026-01-01"),
        costs=CostInputs.from_dict({"channels": channels}),
    )
    assert report["warnings"], "the planted drift gives the report warnings to check"
    # campaign ids are names the marketing team gave its campaigns: shown as given
    campaigns = {str(c) for c in history.leads["campaign"].dropna().unique()}
    findings = Findings(allowed=ALLOWED | campaigns)
    page = write_html(report, tmp_path / "html", lang="ru")
    html = page.read_text(encoding="utf-8")
    assert 'lang="ru"' in html
    findings.check("report index.html", html)
    charts = write_charts(report, tmp_path / "svg", lang="ru", image_format="svg")
    assert len(charts) == 6
    for name in charts.values():
        svg = (tmp_path / "svg" / name).read_text(encoding="utf-8")
        assert "<text" in svg, name  # text kept as text, so it can be read and checked
        findings.check(f"chart {name}", svg)
    assert not findings.by_page, "English in the Russian report:\n" + findings.report()


def test_times_are_shown_in_the_readers_time_zone(
    make_client: Callable[..., TestClient],
) -> None:
    """The setting, the browser's zone (the cookie its script sets) and ``?tz=`` each move
    the times shown; a name that is not an IANA zone is ignored, never an error."""
    client = make_client(timezone="Asia/Tokyo")
    score(client, {**LEAD, "lead_id": "tz-1"})
    _sign_in(client, Role.SALES)
    scored_at = client.app.state.store.last_decision("tz-1")["scored_at"]
    utc = scored_at if scored_at.tzinfo else scored_at.replace(tzinfo=UTC)

    def shown(**params: str) -> str:
        page = client.get("/ui/leads/tz-1", params=params)
        assert page.status_code == 200
        return visible_text(page.text)

    tokyo = utc.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{tokyo:%d.%m.%Y %H:%M} UTC+9" in shown()  # the setting
    client.cookies.set("leadscore_tz", "America/New_York", path="/ui")  # the browser's
    new_york = utc.astimezone(ZoneInfo("America/New_York"))
    offset = int(new_york.utcoffset().total_seconds() // 3600)  # type: ignore[union-attr]
    assert f"{new_york:%d.%m.%Y %H:%M} UTC\u2212{-offset}" in shown()
    client.cookies.delete("leadscore_tz", path="/ui")  # (the TestClient keeps both otherwise)
    moscow = utc.astimezone(ZoneInfo("Europe/Moscow"))
    page = client.get("/ui/leads/tz-1", params={"tz": "Europe/Moscow"})
    assert f"{moscow:%d.%m.%Y %H:%M} UTC+3" in visible_text(page.text)
    assert "leadscore_tz=Europe%2FMoscow" in page.headers["set-cookie"]  # remembered
    assert "UTC+3" in shown()
    assert "UTC+3" in shown(tz="../../etc/passwd")  # not a zone: ignored
    assert "UTC+3" in shown(tz="Mars/Olympus_Mons")

    with pytest.raises(ValueError, match="IANA time zone"):
        Settings(timezone="Moscow")
