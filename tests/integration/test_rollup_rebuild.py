"""The set-based rebuild of the roll-ups gives exactly what the incremental path gives.

``serving.store.rollup_rebuild`` builds every roll-up table from the log in a few
statements (the first refresh after an upgrade, when every lead is dirty); the
incremental path of ``refresh_rollups`` recomputes dirty leads a chunk at a time. Both
are run from the state migration 0009 leaves (``reset_rollups``) on the same store, on
SQLite and PostgreSQL, and every roll-up table is compared row by row; the reports read
from the rebuilt tables still equal the pandas path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from serving.rollup_tables import DirtyLead, ReportDaySum
from serving.storage import Store
from serving.store import rollups
from serving.store.rollup_funnel import FunnelPart
from serving.store.rollup_rebuild import reset_rollups, rollup_table_list
from serving.store.rollups import refresh_rollups
from serving.tables import Decision
from tests.integration.test_report_rollups import _check, _decision
from tests.integration.test_report_sql_parity import START, _seed


def _tables(engine: Engine, *, nonzero: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every roll-up table's rows, sorted (``nonzero``: day sums that are not zero)."""
    out = {}
    with engine.connect() as conn:
        for table in rollup_table_list():
            query = select(table)
            if nonzero and table is ReportDaySum.__table__:
                query = query.where(table.c.amount != 0)
            out[table.name] = sorted(tuple(row) for row in conn.execute(query))
        dirty = conn.execute(select(func.count()).select_from(DirtyLead)).scalar_one()
    assert dirty == 0
    assert out["lead_rollups"] and out["report_day_sums"]
    return out


def _later_writes(store: Store) -> None:
    """New leads, an earlier first decision, feedback, an update in place, an erasure."""
    store.record_decisions(
        [
            _decision("N1", START + timedelta(days=2, hours=3), "hand_to_sales", {"channel": "x"}),
            _decision("L5", START - timedelta(days=1), "nurture", {"channel": "moved"}),
        ]
    )
    store.add_feedback(
        {"lead_id": "N1", "kind": "rejected", "reason": "no_budget", "at": START + timedelta(3)},
        idempotency_key="N1-0",
        actor="crm",
    )
    with store.engine.begin() as conn:
        conn.execute(
            update(Decision)
            .where(Decision.lead_id == "L9")
            .values(channel="email", features={"channel": "email"})
        )
    store.erase_leads(["L3"], lead_key=lambda lead: "k" + lead, actor="admin")


def test_the_full_rebuild_builds_what_the_incremental_path_builds(store: Store) -> None:
    _seed(store, leads=120)
    assert reset_rollups(store.engine) == 121
    assert refresh_rollups(store.engine, chunk=7, full=False) == 121
    incremental = _tables(store.engine)
    assert reset_rollups(store.engine) == 121
    assert refresh_rollups(store.engine, full=True) == 121
    assert _tables(store.engine) == incremental
    _check(store)


def test_a_full_rebuild_over_stale_roll_ups_equals_catching_up(store: Store) -> None:
    _seed(store, leads=80)
    refresh_rollups(store.engine)
    _later_writes(store)
    assert refresh_rollups(store.engine, full=False) == 3  # N1, L5, L9 (the erasure did L3)
    caught_up = _tables(store.engine, nonzero=True)  # day sums that fell to zero stay
    _later_writes_again = [_decision("N2", START, "nurture", {"channel": "y"})]
    store.record_decisions(_later_writes_again)
    assert refresh_rollups(store.engine, full=True) == 1
    rebuilt = _tables(store.engine)
    store.erase_leads(["N2"], lead_key=lambda lead: "k" + lead, actor="admin")
    assert refresh_rollups(store.engine, full=True) == 0  # the erasure left none dirty
    assert _tables(store.engine) == caught_up
    assert rebuilt != caught_up
    _check(store)


def test_a_part_without_a_set_based_rebuild_is_rebuilt_in_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ChunkedOnly:
        """The funnel part without ``rebuild_all``: what a section that has none gets."""

        stored = FunnelPart.stored
        rebuild = FunnelPart.rebuild

    _seed(store, leads=60)
    _later_writes(store)
    monkeypatch.setattr(rollups, "parts", lambda: (ChunkedOnly(),))  # both ways: one part
    reset_rollups(store.engine)
    refresh_rollups(store.engine, chunk=11, full=False)
    incremental = _tables(store.engine)
    reset_rollups(store.engine)
    refresh_rollups(store.engine, full=True)
    assert _tables(store.engine) == incremental


def test_most_leads_dirty_takes_the_full_rebuild(store: Store) -> None:
    _seed(store, leads=40)
    with store.engine.begin() as conn:
        dirty = rollups._dirty_count(conn)
        assert rollups._mostly_dirty(conn, chunk=10, dirty=dirty)
        assert not rollups._mostly_dirty(conn, chunk=41, dirty=dirty)
    assert refresh_rollups(store.engine, chunk=10) == 41  # one rebuild, not 5 chunks
    store.record_decisions([_decision("N3", START, "nurture", {"channel": "y"})])
    with store.engine.begin() as conn:
        dirty = rollups._dirty_count(conn)
        assert not rollups._mostly_dirty(conn, chunk=0, dirty=dirty)  # 1 of 42: incremental
