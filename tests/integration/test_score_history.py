"""A lead's score history, its change of P(won) and the queue's ``sort=change``, and the
lead identity table, on the store (SQLite and PostgreSQL; issue 13 items 4 and 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, select

from serving.storage import Store
from serving.store.history import _changes, score_changes, score_history
from serving.store.queue import QueueFilters, queue_page
from serving.tables import LeadIdentity
from tests.integration.storage_helpers import T0, decision_row

NOW = T0 + timedelta(days=30)


def scores(store: Store, lead_id: str, *points: tuple[float, float]) -> None:
    """Decisions of ``lead_id``: (days before NOW, P(won)) each."""
    store.record_decisions(
        [
            decision_row(lead_id, scored_at=NOW - timedelta(days=days), p_won=p_won)
            for days, p_won in points
        ]
    )


def test_history_is_newest_first_paged_and_only_the_leads(store: Store) -> None:
    scores(store, "h-1", (20, 0.10), (9, 0.12), (3, 0.20), (1, 0.25), (0.5, 0.24))
    scores(store, "h-other", (2, 0.9))

    first, total = score_history(store, "h-1", limit=2)
    second, _ = score_history(store, "h-1", limit=2, offset=2)
    last, _ = score_history(store, "h-1", limit=2, offset=4)
    beyond, _ = score_history(store, "h-1", limit=2, offset=5)

    assert total == 5
    assert [r["p_won"] for r in first + second + last] == [0.24, 0.25, 0.20, 0.12, 0.10]
    assert beyond == []
    times = [r["scored_at"] for r in first + second + last]
    assert times == sorted(times, reverse=True) and times[0].tzinfo is not None
    assert set(first[0]) == {
        "scored_at",
        "as_of",
        "model_name",
        "model_version",
        "p_sql",
        "p_won",
        "decision",
        "threshold",
    }
    assert score_history(store, "never-scored", limit=10) == ([], 0)


def test_change_is_the_latest_minus_the_score_a_week_ago(store: Store) -> None:
    scores(store, "up", (20, 0.10), (9, 0.12), (3, 0.20), (1, 0.25))  # ref: 9 days ago
    scores(store, "down", (8, 0.40), (1, 0.30))
    scores(store, "new", (3, 0.10), (1, 0.11))  # first scored in the window: ref = first
    scores(store, "old", (40, 0.10), (20, 0.30))  # nothing in the window: no change
    scores(store, "once", (2, 0.5))

    changes = score_changes(store, ["up", "down", "new", "old", "once", "unknown"], NOW)

    assert changes.keys() == {"up", "down", "new", "old", "once"}
    assert abs(changes["up"] - (0.25 - 0.12)) < 1e-9
    assert abs(changes["down"] - (0.30 - 0.40)) < 1e-9
    assert abs(changes["new"] - 0.01) < 1e-9
    assert changes["old"] == 0.0
    assert changes["once"] is None


def test_queue_sorts_by_change_largest_rise_first(store: Store) -> None:
    for lead_id, points in {
        "q-flat": ((10, 0.30), (1, 0.30)),
        "q-rise": ((10, 0.10), (1, 0.30)),
        "q-fall": ((10, 0.50), (1, 0.30)),
        "q-once": ((1, 0.30),),
        "q-small-rise": ((10, 0.25), (1, 0.30)),
    }.items():
        scores(store, lead_id, *points)
    filters = QueueFilters(decision=None, status="all", sort="change")

    rows, total = queue_page(store, filters, now=NOW)
    recent, _ = queue_page(store, QueueFilters(decision=None, status="all"), now=NOW)

    assert total == 5
    assert [r["lead_id"] for r in rows] == ["q-rise", "q-small-rise", "q-flat", "q-fall", "q-once"]
    assert [r["trend"] for r in rows] == ["improving", "improving", "steady", "declining", None]
    # the default order keeps the newest decision first and still shows each change
    assert {r["lead_id"]: r["trend"] for r in recent} == {r["lead_id"]: r["trend"] for r in rows}


def test_the_change_reads_the_log_by_lead_id_through_its_index(store: Store) -> None:
    """The lead page's and the API's change query filters on ``lead_id`` in every part."""
    query = select(_changes(NOW, ["h-1"]))
    sql = str(query.compile(store.engine))
    assert sql.count("decisions.lead_id IN") == 2  # the ranking and the week-old reference


def test_identities_are_upserted_field_by_field_and_erased_with_the_lead(
    store: Store, engine: Engine
) -> None:
    assert "lead_identities" in inspect(engine).get_table_names()
    scores(store, "id-1", (1, 0.2))
    scores(store, "id-keep", (1, 0.2))
    store.record_identities(
        [
            {"lead_id": "id-1", "display_name": "Olga Petrova", "company_name": "Acme"},
            {"lead_id": "id-keep", "crm_url": "https://crm.example.com/leads/id-keep"},
        ]
    )
    store.record_identities(
        [{"lead_id": "id-1", "crm_url": "https://crm.example.com/x", "display_name": None}]
    )

    found = store.identities(["id-1", "id-keep", "nobody"])
    assert found.keys() == {"id-1", "id-keep"}
    assert (found["id-1"]["display_name"], found["id-1"]["company_name"]) == (
        "Olga Petrova",
        "Acme",
    )
    assert found["id-1"]["crm_url"] == "https://crm.example.com/x"

    store.erase_leads(["id-1"], lead_key=lambda i: "k" * 64, actor="dpo")

    assert store.identities(["id-1", "id-keep"]).keys() == {"id-keep"}
    with engine.connect() as conn:
        stored = repr(conn.execute(select(LeadIdentity.__table__)).all())
    assert "Olga" not in stored and "Acme" not in stored


def test_identity_values_are_checked_without_echoing_them(store: Store) -> None:
    too_long = "Z" * 201
    with pytest.raises(ValueError, match="display_name") as info:
        store.record_identities([{"lead_id": "id-2", "display_name": too_long}])
    assert too_long not in str(info.value)
    assert store.identities(["id-2"]) == {}
