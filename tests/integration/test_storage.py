"""The serving store on SQLite and PostgreSQL: migrations, engines and API keys."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from serving.storage import (
    API_KEY_PREFIX,
    Store,
    current_revision,
    hash_api_key,
    head_revision,
    make_engine,
    upgrade,
)
from serving.tables import ApiKey, Base, Decision, Feedback, Role
from tests.integration.storage_helpers import T0, _race

# --- migrations -------------------------------------------------------------------------


def test_migrations_create_tables_and_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)  # again: a no-op
        upgrade(db_url)  # by URL, as the server does at start
        tables = set(inspect(engine).get_table_names())
        # alembic_version sits in the same schema as the tables (PostgreSQL: the test schema)
        assert {"api_keys", "decisions", "feedback", "alembic_version"} <= tables
        assert current_revision(engine) == head_revision()
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("decisions")}
        assert "ix_decisions_lead_id_scored_at" in indexes
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert versions == [(head_revision(),)]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_postgres_version_table_lives_in_the_current_schema(db_url: str) -> None:
    """Another deployment's alembic_version later on search_path must not fool upgrade()."""
    url = make_url(db_url)
    schema = url.query["options"].removeprefix("-csearch_path=")
    decoy = f"{schema}_decoy"
    with make_engine(db_url).begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{decoy}"')
        conn.exec_driver_sql(f'CREATE TABLE "{decoy}".alembic_version (version_num varchar(32))')
        conn.exec_driver_sql(
            f"INSERT INTO \"{decoy}\".alembic_version VALUES ('{head_revision()}')"
        )
    engine = make_engine(
        url.update_query_dict({"options": f"-csearch_path={schema},{decoy}"}).render_as_string(
            hide_password=False
        )
    )
    try:
        upgrade(engine)
        assert {"api_keys", "decisions", "feedback", "alembic_version"} <= set(
            inspect(engine).get_table_names(schema=schema)
        )
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{decoy}" CASCADE')
        engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """tables.py and the migrations describe the same schema (no forgotten revision)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _upgrade_in_process(url: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    upgrade(url)


def test_concurrent_upgrades_migrate_once(db_url: str) -> None:
    """Workers starting at once (separate processes) must not trip over each other's DDL."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_upgrade_in_process, args=(db_url, barrier)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_concurrent_upgrades_in_threads(db_url: str, tmp_path: Path) -> None:
    """Threads of one process migrating two databases at once (alembic's globals)."""
    other = f"sqlite:///{tmp_path / 'other.db'}"
    results = _race(4, lambda i: upgrade(db_url if i % 2 else other))
    assert [r for r in results if isinstance(r, BaseException)] == []
    for url in (db_url, other):
        engine = make_engine(url)
        try:
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()


def test_sqlite_engine_is_durable_and_strict(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # folder is created
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        orphan = {
            "id": "f" * 32,
            "lead_id": "L",
            "kind": "accepted",
            "at": T0,
            "received_at": T0,
            "decision_id": "no-such-decision",
            "actor": "a",
            "idempotency_key": "k",
            "body_hash": "0" * 64,
        }
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(Feedback.__table__), orphan)
    finally:
        engine.dispose()


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://user@localhost/db")


# --- API keys ---------------------------------------------------------------------------


def test_api_keys_are_stored_hashed(store: Store, db_url: str) -> None:
    raw = store.create_api_key("crm-prod", Role.SCORER)
    assert raw.startswith(API_KEY_PREFIX) and len(raw) > 40
    with store.engine.connect() as conn:
        rows = conn.execute(select(ApiKey.__table__)).mappings().all()
    assert len(rows) == 1
    assert all(raw not in str(value) for value in rows[0].values())
    assert all(raw[len(API_KEY_PREFIX) :] not in str(value) for value in rows[0].values())
    assert rows[0]["key_hash"] == hashlib.sha256(raw.encode()).hexdigest() == hash_api_key(raw)
    listed = store.list_api_keys()
    assert [(k["name"], k["role"], k["active"]) for k in listed] == [("crm-prod", "scorer", True)]
    assert not any("hash" in field or "key" in field for field in listed[0])
    if db_url.startswith("sqlite"):  # not even in the database files
        store.engine.dispose()
        path = Path(db_url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            assert raw.encode() not in file.read_bytes()


def test_roles_resolve_and_revocation_is_immediate(store: Store) -> None:
    keys = {role: store.create_api_key(f"key-{role.value}", role) for role in Role}
    for role, raw in keys.items():
        assert store.role_for_key(raw) == (f"key-{role.value}", role)  # now cached
    assert store.role_for_key("lsk_not-a-key") is None
    assert store.role_for_key("") is None
    assert store.revoke_api_key("key-sales") is True
    assert store.role_for_key(keys[Role.SALES]) is None  # the cache did not keep it alive
    assert store.revoke_api_key("key-sales") is False  # nothing active left to revoke
    assert store.role_for_key(keys[Role.SCORER]) == ("key-scorer", Role.SCORER)
    # the name of a revoked key can be reused (rotation); an active name cannot
    new = store.create_api_key("key-sales", Role.SALES)
    assert store.role_for_key(new) == ("key-sales", Role.SALES)
    with pytest.raises(ValueError, match="already exists"):
        store.create_api_key("key-sales", Role.SALES)
    with pytest.raises(ValueError, match="role must be one of"):
        store.create_api_key("x", "superuser")
    states = {(k["name"], k["active"]) for k in store.list_api_keys()}
    assert ("key-sales", False) in states and ("key-sales", True) in states


def test_ensure_api_key_is_idempotent_and_rotates(store: Store) -> None:
    first = "bootstrap-admin-key-0123456789"
    assert store.ensure_api_key(first, "bootstrap", Role.ADMIN) is True
    assert store.ensure_api_key(first, "bootstrap", Role.ADMIN) is False
    assert len(store.list_api_keys()) == 1
    assert store.role_for_key(first) == ("bootstrap", Role.ADMIN)
    # a new configured value replaces the old key
    second = "bootstrap-admin-key-abcdefghij"
    assert store.ensure_api_key(second, "bootstrap", Role.ADMIN) is True
    assert store.role_for_key(first) is None
    assert store.role_for_key(second) == ("bootstrap", Role.ADMIN)
    # a revoked bootstrap key stays revoked across restarts
    store.revoke_api_key("bootstrap")
    assert store.ensure_api_key(second, "bootstrap", Role.ADMIN) is False
    assert store.role_for_key(second) is None
    with pytest.raises(ValueError, match="at least"):
        store.ensure_api_key("short", "bootstrap", Role.ADMIN)


def test_concurrent_ensure_api_key_makes_one_key(store: Store) -> None:
    raw = "bootstrap-admin-key-concurrent"
    results = _race(8, lambda i: store.ensure_api_key(raw, "bootstrap", Role.ADMIN))
    assert not [r for r in results if isinstance(r, BaseException)]
    assert results.count(True) == 1
    assert len(store.list_api_keys()) == 1


def test_decision_table_has_the_reporting_index(engine: Engine) -> None:
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes(Decision.__tablename__)
    }
    assert indexes["ix_decisions_lead_id_scored_at"] == ["lead_id", "scored_at"]
