"""The demo's first impression (issue 13, item 8): the most recent synthetic MQLs are
scored through the API before the server starts, so the queue and the marketing page
have content; each role gets a sign-in link to its page."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from fastapi.testclient import TestClient

from cli.demo_leads import prescore, recent_leads, sign_in_lines
from serving.tables import Role
from tests.clients import new_key, sign_in
from tests.model_fixtures import Registry


def test_recent_leads_are_the_latest_mqls_as_of_their_mql_time(registry: Registry) -> None:
    history = registry.history
    leads = recent_leads(history, 40)
    assert len(leads) == 40
    mql = pd.to_datetime(history.leads["mql_at"], utc=True)
    newest = set(history.leads.loc[mql.nlargest(40).index, "lead_id"])
    assert {lead["lead_id"] for lead in leads} == newest
    for lead in leads:
        assert not {"name", "email", "phone"} & set(lead)  # no personal data sent
        assert lead["as_of"] == mql[history.leads["lead_id"] == lead["lead_id"]].iloc[0].isoformat()
        assert all(t["at"] < lead["as_of"] for t in lead["touches"])  # ISO UTC text sorts
    # nothing after "now": a history that runs past today is cut there
    early = recent_leads(history, 40, now=datetime(2025, 3, 1, tzinfo=UTC))
    assert early and all(lead["as_of"] < "2025-03-01T00:00:01+00:00" for lead in early)


def test_prescore_fills_the_queue_and_the_marketing_page(
    registry: Registry,
    make_client,  # type: ignore[no-untyped-def]
) -> None:
    client: TestClient = make_client()
    leads = recent_leads(registry.history, 60)
    scorer = new_key(client, Role.SCORER)
    assert prescore(client, scorer, leads, batch_size=25) == 60  # three batches, via the API
    client.app.state.decision_log.flush()

    sales = TestClient(client.app)
    assert sign_in(sales, new_key(client, Role.SALES), "/ui/queue").status_code == 303
    queue = sales.get("/ui/queue", params={"decision": "", "status": "all"}).text
    assert leads[-1]["lead_id"] in queue  # the newest lead opens the queue
    assert "60 leads" in queue
    marketing = TestClient(client.app)
    assert sign_in(marketing, new_key(client, Role.MARKETING)).status_code == 303
    page = marketing.get("/ui/marketing")
    assert page.status_code == 200 and "No scored leads yet." not in page.text


def test_sign_in_lines_name_each_role_and_its_page() -> None:
    lines = sign_in_lines(
        "http://127.0.0.1:8000", {"scorer": "k0", "sales": "k1", "marketing": "k2", "admin": "k3"}
    )
    assert lines == [
        "  sales:     http://127.0.0.1:8000/ui/login?next=/ui/queue      key: k1",
        "  marketing: http://127.0.0.1:8000/ui/login?next=/ui/marketing  key: k2",
        "  admin:     http://127.0.0.1:8000/ui/login?next=/ui/queue      key: k3",
    ]
