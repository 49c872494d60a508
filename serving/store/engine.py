"""The serving database's engine and its migrations (SQLite or PostgreSQL).

SQLite runs in WAL mode with ``synchronous=FULL``, so a feedback row whose request got a
201 survives a power cut; write transactions start with ``BEGIN IMMEDIATE`` so two
writers queue on the busy timeout instead of failing with "database is locked".
PostgreSQL's schema is whatever the connection's ``search_path`` says, so several
deployments or test sessions can share one database. The engine hides bound parameters
in error messages and logs (``hide_parameters``): a failed insert must not put a
feedback comment or any personal data into a log line.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from serving.store.jsonclean import _json_dumps

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

_UPGRADE_LOCK = threading.Lock()
"""Serialises :func:`upgrade` within a process (the database lock works across processes)."""

_BEGIN_OPTION = "leadscore_sqlite_begin"
"""Execution option read by the SQLite ``begin`` listener: ``IMMEDIATE`` for writers."""

# --- engine and migrations ---------------------------------------------------------------


def make_engine(url: str | URL, *, sqlite_busy_timeout_ms: int = 15_000) -> Engine:
    """Create the engine of the serving database (SQLite or PostgreSQL).

    SQLite: WAL (readers never block the writer), ``synchronous=FULL`` (a commit is on disk
    when it returns), foreign keys on (off by default in SQLite), a busy timeout, and
    explicit ``BEGIN`` handling so that writers can take the lock up front. The parent
    folder of the database file is created, since SQLite's own error for a missing folder
    ("unable to open database file") does not say which.

    ``secure_delete`` is on, so an erased lead's rows do not linger in the file's free
    pages (see :meth:`Store.erase_leads`).

    PostgreSQL: ``postgresql://`` is taken to mean psycopg 3 (the driver leadscore ships
    with); connections are pinged on checkout, so a restarted server costs no request.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        if parsed.drivername in {"postgres", "postgresql"}:
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = 10
        return create_engine(
            parsed,
            pool_pre_ping=True,
            hide_parameters=True,
            json_serializer=_json_dumps,
            connect_args=connect_args,
        )
    if backend != "sqlite":
        raise ValueError(f"unsupported database backend {backend!r}: use sqlite or postgresql")

    return _sqlite_engine(parsed, int(sqlite_busy_timeout_ms))


def _sqlite_engine(parsed: URL, busy_ms: int) -> Engine:
    """:func:`make_engine` for SQLite: its folder made, its pragmas and ``BEGIN`` set."""
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, hide_parameters=True, json_serializer=_json_dumps)

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module, which would otherwise start deferred
        # transactions behind SQLAlchemy's back; the "begin" listener below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            _enable_wal(cursor, busy_ms / 1000)
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # an erased lead's rows are overwritten with zeros, not left in free pages
            cursor.execute("PRAGMA secure_delete = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY when another writer got in between (the busy timeout does not
        # apply to that upgrade); writers therefore begin IMMEDIATE and queue instead.
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")

    return engine


def _enable_wal(cursor: Any, timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the lock.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database
    is locked" at once, without its busy handler, when another process is doing the
    same: two workers starting together on a fresh file would otherwise fail one start.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def in_memory(url: str | URL) -> bool:
    """An in-memory SQLite database: each connection's own, so another thread (SQLAlchemy
    gives each thread its connection) or process cannot see it."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _writer(engine: Engine) -> Engine:
    """The same engine, with SQLite write transactions starting ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the migration lock, so concurrent start-ups migrate once.

    PostgreSQL: a transaction-scoped advisory lock keyed by the current schema (DDL is
    transactional there, so a loser waits and then finds the schema at head). SQLite:
    ``BEGIN IMMEDIATE`` is the database-wide write lock.
    """
    with _writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT pg_advisory_xact_lock("
                "hashtext('leadscore-migrate:' || coalesce(current_schema(), '')))"
            )
        yield conn


def _alembic_config() -> Config:
    config = Config()
    # ConfigParser interpolation: a '%' in the install path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def upgrade(engine_or_url: Engine | str | URL) -> None:
    """Migrate the database to the newest schema; idempotent, safe to call at every start.

    Given a URL, a temporary engine is made (and disposed of); given an engine, it is used
    as it is (make it with :func:`make_engine`). An in-memory SQLite URL is pointless
    here: every pooled connection would see its own empty database.
    """
    owned = not isinstance(engine_or_url, Engine)
    engine = make_engine(engine_or_url) if owned else engine_or_url
    try:
        config = _alembic_config()
        # alembic.context / alembic.op are process-wide proxies, not thread-local: two
        # threads migrating at once (even different databases) would swap contexts.
        with _UPGRADE_LOCK, migration_transaction(engine) as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated); for readiness checks."""
    with engine.connect() as conn:
        schema = None
        if conn.dialect.name == "postgresql":
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        context = MigrationContext.configure(conn, opts={"version_table_schema": schema})
        return context.get_current_revision()
