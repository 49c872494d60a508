"""Shared fixtures. Keep them generic: other test modules build on them.

Database fixtures run each test against SQLite *and* PostgreSQL (``db_url`` is
parametrised). PostgreSQL comes from ``LEADSCORE_TEST_POSTGRES_URL`` (default: the local
trust-auth server). Other test runs share that database, so every test gets its own
schema, ``lstest_<session hex>_<n>``, selected through the connection's ``search_path``
and dropped afterwards; the session drops any leftovers of its own prefix at the end.
Without a reachable server the postgres variants skip, saying why, unless
``LEADSCORE_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import itertools
import os
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from serving.storage import Store, make_engine, upgrade

pytest_plugins = ["tests.model_fixtures"]

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class PostgresServer:
    """The result of probing PostgreSQL once per session (``error`` set if unreachable)."""

    url: str
    shown_url: str  # without the password, for messages
    prefix: str
    error: str | None = None


def _postgres_url() -> str:
    return os.environ.get("LEADSCORE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def _admin_connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A plain autocommit psycopg connection for CREATE/DROP SCHEMA."""
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        connect_timeout=3,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Probe PostgreSQL once; at the end, drop every schema this session created."""
    url = _postgres_url()
    shown = make_url(url).render_as_string(hide_password=True)
    prefix = f"lstest_{secrets.token_hex(4)}"
    try:
        with _admin_connect(url) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to connect means "not reachable"
        yield PostgresServer(url, shown, prefix, error=f"{type(exc).__name__}: {exc}".strip())
        return
    yield PostgresServer(url, shown, prefix)
    try:
        with _admin_connect(url) as conn:
            conn.execute("SET lock_timeout = '10s'")
            leftovers = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "\\_%",)
            ).fetchall()
            for (schema,) in leftovers:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.Error as exc:  # a hung test's connection may still hold a lock
        warnings.warn(f"could not drop test schemas {prefix}_*: {exc}", stacklevel=1)


_schema_counter = itertools.count(1)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema of this test's own, dropped afterwards.

    Skips saying why when the server does not answer, or fails under
    ``LEADSCORE_REQUIRE_POSTGRES=1``. Request it before anything that connects with the
    URL, so that those are closed before the schema is dropped.
    """
    postgres_server: PostgresServer = request.getfixturevalue("postgres_server")
    if postgres_server.error is not None:
        message = (
            f"PostgreSQL not reachable at {postgres_server.shown_url}: {postgres_server.error}"
        )
        if os.environ.get("LEADSCORE_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"{postgres_server.prefix}_{next(_schema_counter)}"
    with _admin_connect(postgres_server.url) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_server.url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _admin_connect(postgres_server.url) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""Parameters of a fixture that runs its tests on SQLite and on PostgreSQL."""


@pytest.fixture(params=BOTH_DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a SQLite file under ``tmp_path`` or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leadscore.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the schema migrated to head."""
    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    """A :class:`~serving.storage.Store` on a freshly migrated database."""
    return Store(engine)


def spark_missing() -> str | None:
    """Why Spark cannot start here (no pyspark, no Java), or None."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (the extra leadscore[spark]; make setup installs it)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java for Spark (java on PATH or JAVA_HOME; .ci/system-packages installs it)"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One Spark session in ``local[2]`` for the whole test session (a JVM takes seconds).

    Skips saying why without pyspark or Java, unless ``LEADSCORE_REQUIRE_SPARK=1`` (CI),
    where it fails.
    """
    reason = spark_missing()
    if reason is not None:
        if os.environ.get("LEADSCORE_REQUIRE_SPARK") == "1":
            pytest.fail(f"LEADSCORE_REQUIRE_SPARK=1 but {reason}")
        pytest.skip(reason)
    from cli.score_engines import spark_session

    session = spark_session("local[2]", app_name="leadscore-tests")
    try:
        yield session
    finally:
        session.stop()
