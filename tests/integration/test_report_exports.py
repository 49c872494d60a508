"""BI exports on SQLite and PostgreSQL: the attribution report from the store, ``?format=csv``
on every report endpoint, and ``GET /v1/decisions`` paged with a cursor while decisions
arrive."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from serving.api_decisions import router as decisions_router
from serving.app import validation_error
from serving.ratelimit import MemoryLimiter
from serving.report_api import router as reports_router
from serving.report_csv import to_csv
from serving.roles import Role
from serving.storage import Store
from tests.integration.storage_helpers import decision_row

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
REPORTS = ("funnel", "rejections", "sla", "calibration", "drift", "attribution")


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def make_app(store: Store) -> FastAPI:
    """The report and decision routers alone, with the server's 422 answer."""
    app = FastAPI()
    app.state.store = store
    app.state.auth_limiter = MemoryLimiter(max_failures=10, window_seconds=300)
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.include_router(reports_router)
    app.include_router(decisions_router)
    return app


def _lead(lead_id: str, channel: str, campaign: str, touches: list[dict[str, Any]]) -> dict:
    features = {
        "channel": channel,
        "campaign": campaign,
        "industry": "saas",
        "created_at": _day(0).isoformat(),
        "touches": touches,
    }
    return decision_row(
        lead_id,
        features=features,
        scored_at=_day(10),
        as_of=_day(10),
        decision="hand_to_sales",
        reasons=[{"code": "pricing_views", "params": {}}],
    )


@pytest.fixture
def filled(store: Store) -> Store:
    """Two handed-over leads: ``a`` (paid search, then an e-mail and a webinar; won
    10,000) and ``b`` (seo, no touches; lost)."""
    touches = [
        {"at": _day(3).isoformat(), "type": "email_click", "channel": "email",
         "campaign": "nurture"},
        {"at": _day(8).isoformat(), "type": "webinar_attended", "channel": "webinar"},
    ]  # fmt: skip
    store.record_decisions(
        [_lead("a", "paid_search", "spring", touches), _lead("b", "seo", "brand", [])]
    )
    events = [
        {"lead_id": "a", "kind": "accepted", "at": _day(11).isoformat()},
        {"lead_id": "a", "kind": "won", "at": _day(20).isoformat(), "amount": 10_000.0},
        {"lead_id": "b", "kind": "accepted", "at": _day(12).isoformat()},
        {"lead_id": "b", "kind": "lost", "at": _day(30).isoformat()},
    ]
    for i, event in enumerate(events):
        store.add_feedback(event, idempotency_key=f"k-{i}", actor="test")
    return store


_KEYS = itertools.count()


def _headers(store: Store, role: Role = Role.MARKETING) -> dict[str, str]:
    return {"X-API-Key": store.create_api_key(f"{role.value}-{next(_KEYS)}", role)}


def _row(body: dict[str, Any], dimension: str, group: str, model: str) -> dict[str, Any]:
    (row,) = [
        r
        for r in body["rows"]
        if (r["dimension"], r["group"], r["model"]) == (dimension, group, model)
    ]
    return row


def test_attribution_report_from_the_store(filled: Store) -> None:
    client = TestClient(make_app(filled))
    answer = client.get("/v1/reports/attribution", headers=_headers(filled))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["section"] == "attribution" and body["source"] == "store"
    assert body["total"] == {"mql": 2, "sql": 2, "won": 1, "revenue": 10_000.0, "touches": 4}
    assert _row(body, "channel", "paid_search", "first_touch")["revenue"] == 10_000.0
    assert _row(body, "channel", "webinar", "last_touch")["revenue"] == 10_000.0
    assert _row(body, "channel", "email", "u_shaped")["revenue_share"] == 0.2
    assert _row(body, "campaign", "nurture", "linear")["won"] == pytest.approx(1 / 3, abs=1e-4)
    # b's MQL and SQL go to its own channel in every model
    assert _row(body, "channel", "seo", "time_decay")["sql"] == 1.0
    for model in body["models"]:
        shares = [r["revenue_share"] for r in body["rows"] if r["model"] == model]
        assert sum(s for s in shares if s is not None) / 2 == pytest.approx(1.0, abs=1e-3)


def test_every_report_endpoint_answers_csv(filled: Store) -> None:
    client = TestClient(make_app(filled))
    headers = _headers(filled)
    for name in REPORTS:
        body = client.get(f"/v1/reports/{name}", headers=headers).json()
        answer = client.get(f"/v1/reports/{name}", params={"format": "csv"}, headers=headers)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers["content-type"].startswith("text/csv"), name
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        if name in ("funnel", "rejections", "sla"):
            assert len(rows) == 1 + len(body["rows"]), name  # the overall row first
            assert rows[0]["dimension"] == "" and rows[1]["dimension"] == "channel"
        if name == "attribution":
            assert len(rows) == len(body["rows"])
            first = rows[0]
            assert set(first) == {"dimension", "group", "model", "mql", "sql", "won", "revenue",
                                  "revenue_share"}  # fmt: skip
        for row in rows:  # flat: no JSON left in any cell
            assert not any(str(v).startswith(("{", "[")) for v in row.values()), (name, row)
    rejections = client.get("/v1/reports/rejections?format=csv", headers=headers).text
    assert "reasons.no_budget.share" in rejections.splitlines()[0]
    drift = client.get("/v1/reports/drift?format=csv", headers=headers).text.splitlines()[0]
    assert "new_values" in drift.split(",") and "new_values." not in drift  # fixed columns


def test_csv_cells_never_run_as_a_spreadsheet_formula() -> None:
    text = to_csv([{"group": '=HYPERLINK("x")', "n": -1.5, "ok": True, "none": None}])
    assert text.splitlines() == ["group,n,ok,none", '"\'=HYPERLINK(""x"")",-1.5,true,']


def test_unknown_format_is_422_naming_format(filled: Store) -> None:
    client = TestClient(make_app(filled))
    for path in ("/v1/reports/funnel", "/v1/reports/attribution", "/v1/decisions"):
        answer = client.get(path, params={"format": "xlsx"}, headers=_headers(filled))
        assert answer.status_code == 422, path
        assert [e["field"] for e in answer.json()["detail"]] == ["format"], answer.text


def test_decisions_need_the_marketing_role(filled: Store) -> None:
    client = TestClient(make_app(filled))
    assert client.get("/v1/decisions").status_code == 401
    assert client.get("/v1/decisions", headers=_headers(filled, Role.SALES)).status_code == 403
    assert client.get("/v1/decisions", headers=_headers(filled, Role.SCORER)).status_code == 403
    answer = client.get("/v1/decisions", headers=_headers(filled))
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 2 and body["has_more"] is False
    assert "features" not in body["decisions"][0] and "touches" not in answer.text


def test_bad_since_is_422_naming_since(filled: Store) -> None:
    client = TestClient(make_app(filled))
    overflow = "c1." + base64.urlsafe_b64encode(b"9999-12-31T23:59:59-23:59|x").decode()
    for since in (
        "yesterday",
        "c1.!!!",
        "c1.bm8tYmFy",
        "3000-01-01T00:00:00",
        "9999-12-31T23:59:59-23:59",
        overflow,
    ):
        answer = client.get("/v1/decisions", params={"since": since}, headers=_headers(filled))
        assert answer.status_code == 422, since
        assert answer.json()["detail"][0]["field"] == "since"


def test_since_a_moment_and_csv(filled: Store) -> None:
    client = TestClient(make_app(filled))
    headers = _headers(filled)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    empty = client.get("/v1/decisions", params={"since": future}, headers=headers).json()
    assert empty == {"decisions": [], "count": 0, "next": None, "has_more": False}
    answer = client.get("/v1/decisions", params={"format": "csv", "limit": 1}, headers=headers)
    assert answer.status_code == 200 and answer.headers["x-has-more"] == "true"
    (row,) = list(csv.DictReader(io.StringIO(answer.text)))
    assert row["reasons"] == "pricing_views" and row["decision"] == "hand_to_sales"
    rest = client.get(
        "/v1/decisions", params={"since": answer.headers["x-next-cursor"]}, headers=headers
    ).json()
    assert [r["lead_id"] for r in rest["decisions"]] != [row["lead_id"]] and rest["count"] == 1


def _page_all(client: TestClient, headers: dict[str, str], cursor: str | None) -> tuple[list, str]:
    ids: list[str] = []
    while True:
        params = {"limit": 7, **({"since": cursor} if cursor else {})}
        body = client.get("/v1/decisions", params=params, headers=headers).json()
        ids += [r["id"] for r in body["decisions"]]
        cursor = body["next"] or cursor
        if not body["has_more"]:
            return ids, cursor  # type: ignore[return-value]


@pytest.mark.parametrize("frozen", [False, True], ids=["clock", "frozen-clock"])
def test_paging_while_decisions_arrive_misses_and_repeats_nothing(
    engine: Engine, frozen: bool
) -> None:
    """Two writers log 40 batches each while a loader pages (7 rows a page) and resumes
    from its last cursor; then it drains. Every row is seen exactly once. With a frozen
    clock every batch would share one moment: the log still orders them."""
    store = Store(engine, clock=(lambda: T0) if frozen else None)
    client = TestClient(make_app(store))
    headers = _headers(store)
    written: list[str] = []
    lock = threading.Lock()

    def write(w: int) -> None:
        for b in range(40):
            rows = [decision_row(f"w{w}-{b}-{i}", id=f"w{w}b{b:02d}i{i}") for i in range(3)]
            store.record_decisions(rows)
            with lock:
                written.extend(r["id"] for r in rows)

    writers = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for thread in writers:
        thread.start()
    seen: list[str] = []
    cursor: str | None = None
    while any(t.is_alive() for t in writers):
        ids, cursor = _page_all(client, headers, cursor)
        seen += ids
    for thread in writers:
        thread.join()
    ids, cursor = _page_all(client, headers, cursor)
    seen += ids
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert sorted(seen) == sorted(written), "a row was missed"
    assert len(seen) == 240
    # and a later run from the last cursor sees only what came after it
    store.record_decisions([decision_row("late", id="late0")])
    later, _ = _page_all(client, headers, cursor)
    assert later == ["late0"]
