"""Erasing a lead (issue 11 item 2): nothing of it stays, the erasure is recorded, retraining
never brings it back, and a retention period erases leads nobody has touched for long.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select, text
from typer.testing import CliRunner

from scoring.settings import Settings
from serving.erasure import ErasedLeads, erase, erase_inactive, scrub_history_files
from serving.storage import Store
from serving.tables import Erasure, Role
from tests.integration.storage_helpers import T0, decision_row, scored
from tests.model_fixtures import admin_headers
from tests.payloads import lead_body

VICTIM = "lead-erase-me-4711"
SCORED_AT = "2026-05-04T09:00:00Z"
"""When the API tests score their leads (before the feedback they send)."""
COMMENT = "Ivan Petrov asked to call +7 916 555-01-23 after lunch"


def everything_stored(engine: Engine) -> str:
    """Every row of every table, as one text: what a search of the database would see."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            parts += [repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(parts)


def victim_history(store: Store) -> None:
    """The victim: scored twice, accepted with a comment, won (an implied step too)."""
    scored(store, VICTIM, "lead-keep-1")
    store.record_decisions([decision_row(VICTIM, scored_at=T0 + timedelta(hours=1))])
    store.add_feedback(
        {"lead_id": VICTIM, "kind": "contacted", "at": "2025-03-01T10:00:00Z", "comment": COMMENT},
        idempotency_key="erase-key-1",
        actor="sales-bot",
    )
    store.add_feedback(
        {"lead_id": VICTIM, "kind": "won", "at": "2025-04-01T10:00:00Z", "amount": 5000.0},
        idempotency_key="erase-key-2",
        actor="sales-bot",
    )
    store.add_feedback(
        {"lead_id": "lead-keep-1", "kind": "accepted", "at": "2025-03-01T11:00:00Z"},
        idempotency_key="keep-key-1",
        actor="sales-bot",
    )


def test_erase_removes_every_row_of_the_lead_and_records_who_when_how_many(
    store: Store, engine: Engine, tmp_path: Path
) -> None:
    victim_history(store)
    assert VICTIM in everything_stored(engine) and COMMENT in everything_stored(engine)
    settings = Settings(home=tmp_path / "home")

    summary = erase(store, settings, [VICTIM], actor="dpo-admin")

    # two scores; contacted, the implied acceptance and won
    assert (summary.leads, summary.decisions, summary.feedback) == (1, 2, 3)
    stored = everything_stored(engine)
    assert VICTIM not in stored and "Ivan Petrov" not in stored and "555-01-23" not in stored
    assert store.last_decision(VICTIM) is None
    assert store.last_decision("lead-keep-1") is not None
    assert set(store.feedback_frame()["lead_id"]) == {"lead-keep-1"}
    (record,) = store.erasures()
    assert record["actor"] == "dpo-admin" and record["reason"] == "request"
    assert (record["decisions"], record["feedback"]) == (2, 3)
    assert record["erased_at"].tzinfo is not None
    # the record keeps a keyed hash, which the server's secret recognises, never the id
    with engine.connect() as conn:
        (key,) = conn.execute(select(Erasure.__table__.c.lead_key)).scalars()
    assert key != VICTIM and VICTIM in ErasedLeads.load(store, settings)
    assert "lead-keep-1" not in ErasedLeads.load(store, settings)
    assert VICTIM not in ErasedLeads(b"another secret of 32 characters!!", {key})

    # erasing again is harmless: recorded, nothing left to delete
    again = erase(store, settings, [VICTIM], actor="dpo-admin")
    assert (again.decisions, again.feedback) == (0, 0)


def test_a_lead_erased_can_be_scored_again_as_a_new_lead(store: Store, tmp_path: Path) -> None:
    """The rule chosen: a new score after an erasure is a new consent, stored as usual."""
    victim_history(store)
    erase(store, Settings(home=tmp_path), [VICTIM], actor="dpo-admin")
    scored(store, VICTIM)
    store.add_feedback(
        {"lead_id": VICTIM, "kind": "accepted", "at": "2025-03-01T10:00:00Z"},
        idempotency_key="after-erase-1",
        actor="sales-bot",
    )
    assert store.last_decision(VICTIM) is not None
    assert list(store.feedback_frame()["lead_id"]).count(VICTIM) == 1


def test_many_leads_are_erased_in_several_transactions_each_recorded(
    store: Store, engine: Engine, tmp_path: Path
) -> None:
    ids = [f"bulk-{i:04d}" for i in range(450)]  # more than one chunk of 200
    store.record_decisions([decision_row(lead_id) for lead_id in [*ids, *ids[:10]]])
    scored(store, "bulk-keep")

    summary = erase(store, Settings(home=tmp_path), ids, actor="dpo-admin")

    assert (summary.leads, summary.decisions) == (450, 460)
    assert set(store.decisions_for_training()["lead_id"]) == {"bulk-keep"}
    with engine.connect() as conn:
        keys = conn.execute(select(Erasure.__table__.c.lead_key)).scalars().all()
    assert len(set(keys)) == 450


def test_retention_erases_only_leads_untouched_for_the_period(
    engine: Engine, tmp_path: Path
) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    moment = {"t": now - timedelta(days=400)}
    store = Store(engine, clock=lambda: moment["t"])
    old = now - timedelta(days=400)
    store.record_decisions(
        [
            decision_row("old-quiet", scored_at=old, as_of=old, decision="hand_to_sales"),
            decision_row("old-but-busy", scored_at=old, as_of=old, decision="hand_to_sales"),
            decision_row("recent", scored_at=now - timedelta(days=3)),
        ]
    )
    store.add_feedback(
        {"lead_id": "old-quiet", "kind": "accepted", "at": old.isoformat(), "comment": COMMENT},
        idempotency_key="ret-key-1",
        actor="sales-bot",
    )
    moment["t"] = now - timedelta(days=10)  # feedback received ten days ago
    store.add_feedback(
        {"lead_id": "old-but-busy", "kind": "accepted", "at": old.isoformat()},
        idempotency_key="ret-key-2",
        actor="sales-bot",
    )
    moment["t"] = now

    summary = erase_inactive(store, Settings(home=tmp_path), 365, now=now, actor="retention")

    assert (summary.leads, summary.decisions, summary.feedback) == (1, 1, 1)
    assert store.last_decision("old-quiet") is None
    assert store.last_decision("old-but-busy") is not None
    assert store.last_decision("recent") is not None
    assert [r["reason"] for r in store.erasures()] == ["retention"]
    assert COMMENT not in everything_stored(engine)


def test_history_files_lose_the_leads_rows_and_keep_the_rest_byte_for_byte(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data" / "export"
    folder.mkdir(parents=True)
    leads = 'lead_id,created_at,notes\nA-1,2025-01-01,"x, y"\nB-2,2025-01-02,\nA-10,2025-01-03,z\n'
    touches = "lead_id,at\nB-2,2025-01-05\nB-2,2025-01-06\nA-1,2025-01-07\n"
    (folder / "leads.csv").write_text(leads)
    (folder / "touches.csv").write_text(touches)
    (folder / "SNAPSHOT").write_text("2025-02-01\n")

    removed, files = scrub_history_files(tmp_path / "data", {"B-2"})

    assert removed == {"B-2": 3}
    assert sorted(f.name for f in files) == ["leads.csv", "touches.csv"]
    assert (folder / "leads.csv").read_text() == leads.replace("B-2,2025-01-02,\n", "")
    assert (folder / "touches.csv").read_text() == "lead_id,at\nA-1,2025-01-07\n"
    # a lead id that only occurs inside another one ("A-1" in "A-10") changes nothing
    assert scrub_history_files(tmp_path / "data", {"A-"}) == ({}, [])


def test_retraining_leaves_erased_leads_of_any_base_history_out(
    store: Store, tmp_path: Path
) -> None:
    """A CRM export outside the home folder still holds the lead: retraining skips it."""
    from training.retrain import merge_feedback
    from training.synthetic import generate

    base = generate(300, months=6, seed=3)
    erased_id = str(base.leads["lead_id"].iloc[5])
    settings = Settings(home=tmp_path)
    erase(store, settings, [erased_id], actor="dpo-admin")
    now = pd.Timestamp("2030-01-01", tz="UTC")
    empty = store.decisions_for_training(), store.feedback_frame()

    history, used = merge_feedback(base, *empty, now=now, erased=ErasedLeads.load(store, settings))

    assert used.erased == 1
    for name, table in history.tables().items():
        assert erased_id not in set(table["lead_id"]), name
    assert history.oracle is None or erased_id not in set(history.oracle["lead_id"])
    assert len(history.leads) == len(base.leads) - 1
    kept, _ = merge_feedback(base, *empty, now=now)
    assert erased_id in set(kept.leads["lead_id"])  # the filter, not the merge, removes it


# --- the API ---------------------------------------------------------------------------------


def test_delete_lead_is_admin_only_and_leaves_a_404_everywhere(
    make_client: Callable[..., TestClient],
) -> None:
    from tests.clients import signed_in

    client = make_client()
    store: Store = client.app.state.store
    assert client.post(
        "/v1/score", json=lead_body(VICTIM, SCORED_AT), headers=admin_headers()
    ).is_success
    feedback = {"lead_id": VICTIM, "kind": "accepted", "at": "2026-05-04T10:00:00Z"}
    headers = {**admin_headers(), "Idempotency-Key": "api-erase-0001"}
    stored = client.post("/v1/feedback", json={**feedback, "comment": COMMENT}, headers=headers)
    assert stored.status_code == 201, stored.text
    sales = {"X-API-Key": store.create_api_key("erase-sales", Role.SALES)}
    assert client.get(f"/v1/leads/{VICTIM}/decision", headers=sales).status_code == 200

    assert client.delete(f"/v1/leads/{VICTIM}", headers=sales).status_code == 403
    assert client.delete(f"/v1/leads/{VICTIM}").status_code == 401
    assert client.delete("/v1/leads/bad%20id", headers=admin_headers()).status_code == 422
    erased = client.delete(f"/v1/leads/{VICTIM}", headers=admin_headers())

    assert erased.status_code == 200, erased.text
    assert erased.json() == {"erased": True, "decisions": 1, "feedback": 1, "history_rows": 0}
    assert VICTIM not in erased.text
    assert client.get(f"/v1/leads/{VICTIM}/decision", headers=sales).status_code == 404
    page = signed_in(client, Role.SALES).get(f"/ui/leads/{VICTIM}")
    assert page.status_code == 404 and COMMENT not in page.text
    assert store.erasures()[0]["actor"] == "bootstrap-admin"
    # no score left for the lead: its feedback is refused until it is scored again
    headers = {**admin_headers(), "Idempotency-Key": "api-erase-0002"}
    assert client.post("/v1/feedback", json=feedback, headers=headers).status_code == 409
    assert COMMENT not in everything_stored(store.engine)


# --- the command line ------------------------------------------------------------------------


def test_erase_command_refuses_unclear_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.app import app

    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    monkeypatch.delenv("LEADSCORE_RETENTION_DAYS", raising=False)
    runner = CliRunner()
    for args in (
        [],
        ["--lead-id", "a", "--older-than", "30"],
        ["--retention"],
        ["--older-than", "0"],
        ["--lead-id", " "],
        ["--file", str(tmp_path / "missing.csv")],
    ):
        result = runner.invoke(app, ["erase", *args])
        assert result.exit_code == 2, (args, result.output)
    two_columns = tmp_path / "ids.csv"
    two_columns.write_text("id,name\n1,x\n")
    assert runner.invoke(app, ["erase", "--file", str(two_columns)]).exit_code == 2


def test_erase_command_reads_a_file_and_applies_the_retention_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.app import app
    from serving.storage import make_engine, upgrade

    database = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", database)
    engine = make_engine(database)
    upgrade(engine)
    store = Store(engine)
    long_ago = datetime.now(UTC) - timedelta(days=100)
    store.record_decisions(
        [
            decision_row(lead_id, scored_at=long_ago, as_of=long_ago)
            for lead_id in ("f-1", "f-2", "f-3", "stale-1")
        ]
    )
    store.record_decisions([decision_row("fresh-1")])
    ids = tmp_path / "ids.csv"
    ids.write_text("crm_name,lead_id\nx,f-1\ny,f-2\n")

    result = CliRunner().invoke(app, ["erase", "--file", str(ids), "--lead-id", "f-3"])
    assert result.exit_code == 0, result.output
    assert "erased 3 leads: 3 decisions" in result.output
    assert "f-1" not in result.output  # counts only, never a lead id

    monkeypatch.setenv("LEADSCORE_RETENTION_DAYS", "90")
    result = CliRunner().invoke(app, ["erase", "--retention"])
    assert result.exit_code == 0, result.output
    assert "erased 1 leads: 1 decisions" in result.output
    assert [r["reason"] for r in store.erasures()][:1] == ["retention"]
    assert store.last_decision("fresh-1") is not None
    assert set(store.decisions_for_training()["lead_id"]) == {"fresh-1"}
    engine.dispose()


def home_mentions(home: Path, *needles: str) -> list[str]:
    """Files under ``home`` (gzip ones unpacked) whose bytes contain any of ``needles``."""
    found = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        elif path.suffix == ".parquet":  # compressed columns: read them back
            data = pd.read_parquet(path).to_csv().encode()
        if any(n.encode() in data for n in needles):
            found.append(str(path.relative_to(home)))
    return found


@pytest.mark.slow
def test_train_score_feedback_erase_then_nothing_is_found_and_retrain_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11's check, as a new user would run it, from a fresh LEADSCORE_HOME."""
    from cli.app import app
    from serving.app import create_app

    home = tmp_path / "home"
    for name in ("TRACKING_URI", "REGISTRY_URI", "DATABASE_URL", "ERASURE_SECRET"):
        monkeypatch.delenv(f"LEADSCORE_{name}", raising=False)
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    monkeypatch.setenv("LEADSCORE_BOOTSTRAP_ADMIN_KEY", "lsk_erase_test_admin_0123456789")
    monkeypatch.setenv("LEADSCORE_MODEL_POLL_SECONDS", "0")
    runner = CliRunner()
    data = home / "data" / "synthetic-2000-42"
    for args in (
        ["generate", "--out", str(data), "--leads", "2000"],
        ["train", "--data", str(data), "--promote"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    # a lead of the CRM history that the gate's test frame (an MLflow artifact) holds too
    (frame_file,) = (home / "mlartifacts").rglob("test_frame.parquet")
    victim = str(pd.read_parquet(frame_file)["lead_id"].iloc[0])
    assert "mlartifacts" in " ".join(home_mentions(home, victim))
    assert any(f.startswith("data") for f in home_mentions(home, victim))

    admin = {"X-API-Key": "lsk_erase_test_admin_0123456789"}
    with TestClient(create_app(Settings())) as client:
        assert (
            client.post("/v1/score", json=lead_body(victim, SCORED_AT), headers=admin).status_code
            == 200
        )
        feedback = {"lead_id": victim, "kind": "accepted", "at": "2026-05-04T10:00:00Z"}
        feedback["comment"] = COMMENT
        headers = {**admin, "Idempotency-Key": "done-when-0001"}
        answer = client.post("/v1/feedback", json=feedback, headers=headers)
        assert answer.status_code == 201, answer.text
        client.app.state.decision_log.flush()

        result = runner.invoke(app, ["erase", "--lead-id", victim])
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        assert "erased 1 leads: 1 decisions, 1 feedback events" in result.output

        assert client.get(f"/v1/leads/{victim}/decision", headers=admin).status_code == 404
        # while the server runs on: its open database, WAL included
        assert home_mentions(home, victim, COMMENT, "Ivan Petrov") == []
    assert home_mentions(home, victim, COMMENT, "Ivan Petrov") == []

    result = runner.invoke(app, ["retrain"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert home_mentions(home, victim, COMMENT) == []
