"""A salesperson who reads Russian rejects a lead in a real browser (issue 13 item 6).

She signs in, switches the pages to Russian with the header's language switcher, opens a
lead from the queue and rejects it: first without a reason — the form answers in Russian,
naming the field, with no English word on the page — then with one and a comment in
Russian, and sees the Russian confirmation on the queue. The rejection is stored once,
under her key's name, the comment as she typed it.
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
from tests.integration.latin_words import context, latin_words, visible_text
from tests.payloads import HOT

pytestmark = pytest.mark.browser
skip_module_without_browser()

SALES_NAME = "olga-sales"
LEAD_ID = HOT["lead_id"]
MISSING_REASON = "причина отказа: для отказа нужна причина"
COMMENT = "Выбрали другого поставщика, перезвонить в следующем квартале"


def english_words(page: Any) -> list[str]:
    """Latin-script words on the page that are not a code, a name or a unit (the lead
    ids, the key's name and the campaign code are the test's own data)."""
    text = visible_text(page.content())
    found = latin_words(text, {SALES_NAME, HOT["campaign"], *queue_leads(page), LEAD_ID})
    return [f"{word!r} in …{context(text, word)}…" for word in found]


def test_sales_rejects_a_lead_in_russian(chromium: Any, live_server: LiveServer) -> None:
    seed(live_server)
    store = live_server.store
    key = live_server.key(Role.SALES, SALES_NAME)
    context_ = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = context_.new_page()
    page.set_default_timeout(20_000)
    try:
        sign_in(page, live_server, key, "/ui/queue")
        assert page.inner_text("h1") == "Handoff queue"  # the browser asks for English
        page.click('header a[hreflang="ru"]')  # the language switcher
        page.wait_for_load_state()
        assert page.get_attribute("html", "lang") == "ru"
        assert page.inner_text("h1") == "Очередь передачи в продажи"
        assert LEAD_ID in queue_leads(page)
        assert english_words(page) == []
        shot(page, "17-queue-ru")

        # the choice is remembered: the lead opened from the queue is in Russian too
        page.click(f'a.lead-link[href="/ui/leads/{LEAD_ID}"]')
        page.wait_for_load_state()
        assert page.url.endswith(f"/ui/leads/{LEAD_ID}")
        assert page.get_attribute("html", "lang") == "ru"
        before = store.count_feedback()

        # a rejection without a reason: the form answers in Russian, naming the field
        page.click("button.reject")
        page.wait_for_load_state()
        errors = page.locator("#decide .error")
        assert errors.locator("p").inner_text() == "В форме есть ошибки:"
        assert errors.locator('li[data-field="reason"]').inner_text() == MISSING_REASON
        assert page.inner_text("#decide p.field-error") == MISSING_REASON
        assert page.get_attribute("#reason", "aria-invalid") == "true"
        assert english_words(page) == []
        assert store.count_feedback() == before
        page.locator("#decide").scroll_into_view_if_needed()
        shot(page, "18-lead-ru-missing-reason")

        # with a reason (its label in Russian) and a comment in Russian
        options = page.locator("#reason option")
        labels = dict(
            zip(
                [options.nth(i).get_attribute("value") for i in range(options.count())],
                [options.nth(i).inner_text() for i in range(options.count())],
                strict=True,
            )
        )
        assert labels["competitor_won"] == "выбрал конкурента"
        page.select_option("#reason", "competitor_won")
        page.fill("#comment", COMMENT)
        page.click("button.reject")
        page.wait_for_url(re.compile(rf"/ui/queue\?recorded={LEAD_ID}"))
        page.wait_for_load_state()
        assert page.get_attribute("html", "lang") == "ru"
        assert page.inner_text(".notice") == f"Записано: лид {LEAD_ID} — отклонён."
        assert LEAD_ID not in queue_leads(page)
        assert english_words(page) == []
        shot(page, "19-queue-ru-after-rejection")

        assert store.count_feedback() == before + 1
        stored = store.feedback_frame(include_comment=True)
        stored = stored[stored["lead_id"] == LEAD_ID]
        assert len(stored) == 1
        assert stored.iloc[0][["kind", "reason", "actor", "comment"]].tolist() == [
            "rejected",
            "competitor_won",
            SALES_NAME,
            COMMENT,
        ]

        # the lead page lists the decision once, in Russian
        page.goto(f"{live_server.url}/ui/leads/{LEAD_ID}")
        history = page.locator("#history ul.history li")
        assert history.count() == 1
        assert history.first.inner_text().startswith("отклонён · выбрал конкурента")
        assert english_words(page) == []
    finally:
        context_.close()
