"""The roll-ups are kept current off the request path: by ``leadscore serve`` in the
background, and by ``leadscore rollups refresh`` by hand (after an upgrade)."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from cli.app import app as cli_app
from scoring.settings import Settings
from serving.app import create_app
from serving.report_sql import store_report
from serving.rollup_process import RollupRefresher
from serving.rollup_tables import DirtyLead, LeadRollup
from serving.storage import Store, make_engine, upgrade
from serving.store import rollups
from serving.store.rollups import refresh_rollups
from tests.integration.test_report_rollups import _decision
from tests.integration.test_report_sql_parity import START, _seed

NO_REGISTRY = "http://127.0.0.1:9"
"""No model is needed: a registry that refuses at once (a SQLite one would be created by
MLflow's own migrations, which may outlive a short test in a thread of their own)."""


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[Store, RollupRefresher]]:
    """A migrated store and the server's refresher on it (its child stopped after)."""
    engine = make_engine(db_url)
    upgrade(engine)
    refresher = RollupRefresher(db_url, engine)
    try:
        yield Store(engine), refresher
    finally:
        refresher.close()
        engine.dispose()


def _count(store: Store, table: type) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_server_folds_new_decisions_in_without_a_report_request(
    tmp_path: Path, db_url: str
) -> None:
    settings = Settings(
        home=tmp_path,
        database_url=db_url,
        tracking_uri=NO_REGISTRY,
        model_poll_seconds=0,
        rollup_refresh_seconds=0.2,
    )
    app = create_app(settings)
    with TestClient(app):
        store: Store = app.state.store
        store.record_decisions([_decision("B1", START, "hand_to_sales", {"channel": "seo"})])
        assert _count(store, DirtyLead) == 1
        deadline = time.monotonic() + 20
        while _count(store, DirtyLead) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _count(store, DirtyLead) == 0
        assert _count(store, LeadRollup) == 1
        # in a process of its own, not on the scoring process's GIL and memory, and at a
        # lower priority than the scoring (a niceness the scheduler gives less CPU)
        children = multiprocessing.active_children()
        assert children
        assert all(os.getpriority(os.PRIO_PROCESS, c.pid) > os.nice(0) for c in children)
    # stopped at shutdown: a decision written after it stays dirty
    store = Store(make_engine(db_url))
    store.record_decisions([_decision("B2", START, "nurture", {"channel": "seo"})])
    time.sleep(0.6)
    assert _count(store, DirtyLead) == 1
    store.engine.dispose()


def test_zero_seconds_leaves_the_roll_ups_to_the_reports(tmp_path: Path, db_url: str) -> None:
    settings = Settings(
        home=tmp_path,
        database_url=db_url,
        tracking_uri=NO_REGISTRY,
        model_poll_seconds=0,
        rollup_refresh_seconds=0,
    )
    app = create_app(settings)
    with TestClient(app):
        store: Store = app.state.store
        store.record_decisions([_decision("B1", START, "hand_to_sales", {"channel": "seo"})])
        time.sleep(0.5)
        assert _count(store, DirtyLead) == 1
        # a report's refresh folds it in, in the refresher's process (not on the
        # request's thread, whose GIL the scoring needs)
        assert not multiprocessing.active_children()
        assert store.refresh_rollups() == 1
        assert multiprocessing.active_children()
        assert _count(store, DirtyLead) == 0 and _count(store, LeadRollup) == 1


def test_a_refresher_that_died_is_reported_and_started_again(
    served: tuple[Store, RollupRefresher],
) -> None:
    store, refresher = served
    store.record_decisions([_decision("D1", START, "nurture", {"channel": "seo"})])
    assert refresher.refresh() == 1
    child = refresher._child
    assert child is not None and child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    store.record_decisions([_decision("D2", START, "nurture", {"channel": "seo"})])
    # the dead child is noticed at the next call: a new one does the refresh
    assert refresher.refresh() == 1
    assert refresher._child is not child and _count(store, DirtyLead) == 0


@pytest.mark.parametrize("mode", [[], ["--full"], ["--incremental"]])
def test_rollups_refresh_prints_how_many_leads_and_how_long(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    _seed(store, leads=25)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["rollups", "refresh", *mode])
    assert result.exit_code == 0, result.output
    assert re.search(r"\b26 lead\(s\) recomputed in \d+\.\d s", result.output), result.output
    assert _count(store, DirtyLead) == 0 and _count(store, LeadRollup) == 26
    again = runner.invoke(cli_app, ["rollups", "refresh", *mode])
    assert re.search(r"\b0 lead\(s\) recomputed", again.output), again.output
    engine.dispose()


def test_a_refresh_folds_in_what_was_dirty_when_it_began(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leads marked dirty while a refresh runs are the next refresh's: under traffic that
    re-marks leads as fast as they are folded, a report's refresh still returns."""
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    store.record_decisions(
        [_decision(f"R{i}", START, "nurture", {"channel": "seo"}) for i in range(6)]
    )
    refresh_rollups(engine)
    store.record_decisions(
        [_decision(f"R{i}", START, "nurture", {"channel": "seo"}) for i in range(3)]
    )
    marked = 0

    def busy(conn: Any, ids: Any) -> None:  # each chunk: a writer re-marks another lead
        nonlocal marked
        real(conn, ids)
        marked += 1
        conn.execute(insert(DirtyLead).values(lead_id=f"R{3 + marked % 3}"))

    real = rollups._recompute
    monkeypatch.setattr(rollups, "_recompute", busy)
    assert refresh_rollups(engine, chunk=1, full=False) == 3  # the three dirty at its start
    monkeypatch.undo()
    assert _count(store, DirtyLead) >= 1  # the re-marked ones wait for the next call
    engine.dispose()


def test_a_long_refresh_is_waited_for_at_most_the_timeout(
    served: tuple[Store, RollupRefresher],
) -> None:
    """Under a storm of scoring a refresh can take minutes: a report stops waiting after
    ``rollup_wait_seconds`` (``refresh`` answers ``None``) instead of holding a request
    thread, and the next call takes that refresh's answer, then makes its own."""
    store, refresher = served
    engine = store.engine
    store.record_decisions([_decision("W1", START, "nurture", {"channel": "seo"})])
    assert refresher.refresh() == 1  # the child is up
    store.record_decisions([_decision("W2", START, "nurture", {"channel": "seo"})])
    with engine.begin() as conn:  # another refresher holds the roll-ups (and writes)
        rollups.lock_rollups(conn)
        conn.execute(insert(DirtyLead).values(lead_id="W3"))
        started = time.monotonic()
        assert refresher.refresh(timeout=0.5) is None
        assert time.monotonic() - started < 5
        assert refresher.refresh(timeout=0.2) is None  # still blocked, still pending
    # released: the pending refresh finishes, then this call's own takes in the rest
    # (W3, marked without a decision, is dropped: a lead with no rows has no roll-up)
    assert refresher.refresh() in (0, 1, 2)
    assert _count(store, DirtyLead) == 0 and _count(store, LeadRollup) == 2


def test_a_report_the_roll_ups_are_behind_for_says_how_many_leads_are_not_in(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = Store(engine)
    try:
        _seed(store, leads=20)
        refresh_rollups(engine)
        store.record_decisions([_decision("L1", START, "nurture", {"channel": "seo"})])
        store.use_rollup_refresher(lambda wait: None, wait=0.1)  # never catches up in time
        behind = store_report(
            store, lambda: None, group_by=[], sections=["funnel"], reference_given=False
        )
        notes = [n for n in behind["notes"] if getattr(n, "code", None) == "store.behind"]
        assert len(notes) == 1 and notes[0].startswith("1 lead(s) changed")
        store.use_rollup_refresher(None)  # the calling thread refreshes, to the end
        current = store_report(
            store, lambda: None, group_by=[], sections=["funnel"], reference_given=False
        )
        assert not [n for n in current["notes"] if getattr(n, "code", None) == "store.behind"]
        assert _count(store, DirtyLead) == 0
    finally:
        engine.dispose()
