"""Durable storage of the scoring server: the decision log, sales feedback and API keys.

One :class:`Store` per process, built on one SQLAlchemy :class:`~sqlalchemy.Engine` from
:func:`make_engine`. SQLite (the embedded default, under ``Settings.home``) and PostgreSQL
(``postgresql+psycopg://...``) behave the same; the differences are handled here:

* SQLite runs in WAL mode with ``synchronous=FULL``, so a feedback row whose request got
  a 201 survives a power cut; write transactions start with ``BEGIN IMMEDIATE`` so two
  writers queue on the busy timeout instead of failing with "database is locked".
* PostgreSQL's schema is whatever the connection's ``search_path`` says, so several
  deployments or test sessions can share one database.

The engine hides bound parameters in error messages and logs (``hide_parameters``):
a failed insert must not put a feedback comment or any personal data into a log line.
Methods are synchronous and thread-safe; FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Double,
    Engine,
    Integer,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError

from scoring.contract import PII_COLUMNS, HandoffDecision, RejectionReason, as_utc
from scoring.lifecycle import (
    Breach,
    Event,
    LifecycleViolation,
    SlaClocks,
    Transition,
    check,
    feedback_row_event,
    new_breaches,
    qualification_violation,
    scored_event,
)
from serving.tables import (
    CATEGORY_LEN,
    IDEMPOTENCY_KEY_LEN,
    LEAD_ID_LEN,
    MODEL_VERSION_LEN,
    NAME_LEN,
    REQUEST_ID_LEN,
    ApiKey,
    Decision,
    Erasure,
    ErasureReason,
    Feedback,
    FeedbackKind,
    Role,
    UTCDateTime,
)

__all__ = [
    "API_KEY_PREFIX",
    "IdempotencyConflict",
    "Store",
    "canonical_json",
    "current_revision",
    "feature_hash",
    "hash_api_key",
    "head_revision",
    "make_engine",
    "migration_transaction",
    "upgrade",
]

log = logging.getLogger("leadscore.storage")

API_KEY_PREFIX = "lsk_"
"""Prefix of generated API keys: makes a leaked key recognisable to secret scanners."""

MIN_API_KEY_LENGTH = 16
"""Shortest raw key :meth:`Store.ensure_api_key` accepts (a bootstrap key from settings)."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_UPGRADE_LOCK = threading.Lock()
"""Serialises :func:`upgrade` within a process (the database lock works across processes)."""

_BEGIN_OPTION = "leadscore_sqlite_begin"
"""Execution option read by the SQLite ``begin`` listener: ``IMMEDIATE`` for writers."""

_DECISION_COLUMNS: tuple[str, ...] = tuple(c.name for c in Decision.__table__.columns)
_FEEDBACK_COLUMNS: tuple[str, ...] = tuple(c.name for c in Feedback.__table__.columns)
_DECISION_COLUMN_SET = frozenset(_DECISION_COLUMNS)
_DECISION_REQUIRED = frozenset(
    {
        "lead_id",
        "model_name",
        "model_version",
        "features",
        "p_won",
        "fit_score",
        "engagement_score",
        "decision",
        "threshold",
    }
)
_FEEDBACK_FIELDS = frozenset(
    {
        "lead_id",
        "kind",
        "reason",
        "at",
        "contact_attempts",
        "first_response_hours",
        "amount",
        "comment",
        "qualification",
    }
)
_SEGMENT_COLUMNS: tuple[str, ...] = ("channel", "industry", "company_size", "country")
_ERASE_CHUNK = 200
"""Leads erased per transaction (see :meth:`Store.erase_leads`)."""


class IdempotencyConflict(Exception):
    """An idempotency key was reused for a different request (the API answers 409).

    The message names the key only; the bodies may hold personal data.
    """

    def __init__(self, idempotency_key: str, *, other_actor: bool = False) -> None:
        super().__init__(
            f"idempotency key {idempotency_key!r} was already used "
            + ("by another API key" if other_actor else "for a different request")
        )
        self.idempotency_key = idempotency_key
        self.other_actor = other_actor
        # what the API answers (409): never the key itself, never the other body
        self.detail = (
            "Idempotency-Key was already used by another API key: send a key of your own"
            if other_actor
            else "Idempotency-Key was already used with a different body"
        )


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

    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, hide_parameters=True, json_serializer=_json_dumps)
    busy_ms = int(sqlite_busy_timeout_ms)

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
    engine = make_engine(engine_or_url) if owned else engine_or_url  # type: ignore[arg-type]
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


# --- canonical JSON and hashes ---------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Turn ``value`` into plain JSON data, the same way on every backend.

    NaN and infinities become ``null`` (JSON has neither and PostgreSQL refuses them);
    NUL characters become U+FFFD (PostgreSQL text cannot hold them); numpy scalars,
    enums, decimals and timestamps (as UTC ISO 8601) are converted.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def _clean(value: Any) -> Any:
    """``_jsonable(_strip_pii(value))`` in one pass, fast for plain JSON-like data.

    Exact built-in types (the decision log's features: dicts, lists, strings, floats,
    timestamps) are handled inline; anything else takes the general path, so the result
    is always the same as the two-step version.
    """
    kind = type(value)
    if kind is str:
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if kind is float:
        return value if math.isfinite(value) else None
    if value is None or kind is bool or kind is int:
        return value
    if kind is dict:
        out = {}
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            if key not in PII_COLUMNS:
                # the common leaves inline: a call per value costs more than the check
                leaf = type(v)
                if leaf is str and "\x00" not in v:
                    out[key] = v
                elif leaf is float:
                    out[key] = v if math.isfinite(v) else None
                elif v is None or leaf is bool or leaf is int:
                    out[key] = v
                else:
                    out[key] = _clean(v)
        return out
    if kind is list or kind is tuple:
        return [_clean(v) for v in value]
    if kind is datetime:
        return as_utc(value).isoformat()
    return _jsonable(_strip_pii(value))


class _JSONText(str):
    """JSON text made by :func:`_canonical_dumps`; the engine stores it as it is.

    A decision's features are serialised once, for their hash, and that same text is
    what the database receives, instead of serialising them a second time.
    """

    __slots__ = ()


def _json_dumps(value: Any) -> str:
    """The engine's JSON serializer: strict (no NaN), so SQLite stores what PostgreSQL would."""
    if type(value) is _JSONText:
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    """Canonical JSON of ``value``: sorted keys, no whitespace, UTF-8, see :func:`_jsonable`.

    Equal data gives equal text, so its sha256 identifies a feature snapshot or a request
    body independently of key order or formatting.
    """
    return _canonical_dumps(_jsonable(value))


def _canonical_dumps(data: Any) -> str:
    """Canonical JSON text of data that is already plain JSON (see :func:`canonical_json`)."""
    return json.dumps(
        data,
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def feature_hash(features: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of a feature snapshot (as stored in ``decisions``)."""
    return _sha256(canonical_json(_strip_pii(features)))


def hash_api_key(raw_key: str) -> str:
    """sha256 hex of a raw API key: what the database stores and looks keys up by.

    A plain hash is enough (no salt, no slow KDF) because generated keys carry 256 bits
    of randomness; nobody can brute-force them from the hash.
    """
    return _sha256(raw_key)


def _strip_pii(value: Any) -> Any:
    """Drop personal-data keys (``PII_COLUMNS``) at any depth: they never enter the log."""
    if isinstance(value, Mapping):
        return {k: _strip_pii(v) for k, v in value.items() if str(k) not in PII_COLUMNS}
    if isinstance(value, list | tuple):
        return [_strip_pii(v) for v in value]
    return value


def _decision_id(base: int, offset: int) -> str:
    """Hex of a version-4 UUID: ``base`` (random 128 bits) plus ``offset`` (< 2**62)."""
    return uuid.UUID(int=(base + offset) % (1 << 128), version=4).hex


# --- validation helpers ----------------------------------------------------------------


def _timestamp(value: Any, field: str) -> datetime:
    """A datetime or an ISO 8601 string, as an aware UTC datetime (naive = UTC)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field} is not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{field} must be a timestamp")
    return as_utc(value)


def _text(value: Any, field: str, max_len: int) -> str:
    """A required, non-blank string of at most ``max_len`` characters (no NUL)."""
    checked = _optional_text(value, field, max_len)
    if checked is None:
        raise ValueError(f"{field} is required")
    if not checked.strip():
        raise ValueError(f"{field} must not be empty")
    return checked


def _optional_text(value: Any, field: str, max_len: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    if len(value) > max_len:
        raise ValueError(f"{field} is longer than {max_len} characters")
    if "\x00" in value:
        raise ValueError(f"{field} must not contain NUL characters")
    return value


def _number(
    value: Any,
    field: str,
    *,
    required: bool = True,
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    if value is None:
        if required:
            raise ValueError(f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | np.number):
        raise ValueError(f"{field} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{field} must be finite")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ValueError(f"{field} must be within [{lo}, {hi}]")
    return number


def _vocabulary(value: Any, field: str, allowed: type[Enum], *, required: bool) -> str | None:
    if value is None:
        if required:
            raise ValueError(f"{field} is required")
        return None
    try:
        return str(allowed(value).value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in allowed)  # type: ignore[attr-defined]
        raise ValueError(f"{field} must be one of: {choices}") from None


def _unknown_keys(given: Mapping[str, Any], known: frozenset[str] | set[str], what: str) -> None:
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)}")


def _event(normal: Mapping[str, Any], at: datetime) -> Event:
    """A normalised feedback body as a lifecycle event."""
    return Event(
        normal["kind"],
        at,
        reason=normal.get("reason"),
        amount=normal.get("amount"),
        contact_attempts=normal.get("contact_attempts"),
        qualification=normal.get("qualification"),
    )


def _frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], table: Any) -> pd.DataFrame:
    """Rows as a DataFrame with stable dtypes (also when empty): UTC datetimes, floats."""
    frame = pd.DataFrame([dict(r) for r in rows], columns=list(columns))
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif isinstance(column_type, Double):
            frame[name] = frame[name].astype("float64")
        elif isinstance(column_type, Integer) and name != "id":
            frame[name] = frame[name].astype("Int64")
    return frame


# --- the store ---------------------------------------------------------------------------


class Store:
    """The serving database behind one engine: decisions, feedback, API keys.

    Thread-safe (the engine pools connections; the key cache has a lock). Every write is
    one transaction, committed durably before the method returns. ``clock`` exists for
    tests; it must return aware datetimes.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] | None = None,
        key_cache_seconds: float = 5.0,
        key_cache_size: int = 1024,
        clocks: SlaClocks | None = None,
    ) -> None:
        self._engine = engine
        self._clocks = clocks or SlaClocks()
        self._write = _writer(engine)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._key_cache_seconds = key_cache_seconds
        self._key_cache_size = key_cache_size
        self._key_cache: OrderedDict[str, tuple[float, tuple[str, Role]]] = OrderedDict()
        self._key_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self._engine

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # -- decisions ----------------------------------------------------------------------

    def record_decisions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append scored leads to the decision log: one transaction, one executemany.

        Each row needs ``lead_id, model_name, model_version, features, p_won, fit_score,
        engagement_score, decision, threshold``; ``id``, ``request_id`` (one per call),
        ``scored_at`` (now), ``as_of`` (= scored_at), ``feature_hash``, ``reasons`` ([])
        and the segment columns (copied from ``features``) are filled in when absent.
        PII keys are dropped from ``features``. A bad row rejects the whole batch
        (``ValueError``) before anything is written.
        """
        if not rows:
            return
        now = self._now()
        request_id = uuid.uuid4().hex
        # One random draw per batch, not one per row: the ids are the batch's random
        # 128 bits plus the row's position, formatted as version-4 UUIDs. Still distinct
        # (only the top bits that the version and variant overwrite are lost).
        id_base = uuid.uuid4().int
        prepared = [
            self._prepare_decision(row, request_id, now, _decision_id(id_base, i))
            for i, row in enumerate(rows)
        ]
        with self._write.begin() as conn:
            conn.execute(insert(Decision.__table__), prepared)

    @staticmethod
    def _prepare_decision(
        row: Mapping[str, Any], request_id: str, now: datetime, default_id: str | None = None
    ) -> dict[str, Any]:
        _unknown_keys(row, _DECISION_COLUMN_SET, "decision")
        missing = sorted(k for k in _DECISION_REQUIRED if row.get(k) is None)
        if missing:
            raise ValueError(f"decision row misses required field(s): {', '.join(missing)}")
        raw_features = row["features"]
        if not isinstance(raw_features, Mapping):
            raise ValueError("features must be a mapping")
        features = _clean(raw_features)
        features_text = _canonical_dumps(features)
        reasons = row.get("reasons")
        if reasons is None:
            reasons = []
        if not isinstance(reasons, list | tuple):
            raise ValueError("reasons must be a list")
        scored_at = _timestamp(row.get("scored_at") or now, "scored_at")
        out: dict[str, Any] = {
            "id": _text(row.get("id") or default_id or uuid.uuid4().hex, "id", 32),
            "request_id": _text(row.get("request_id") or request_id, "request_id", REQUEST_ID_LEN),
            "lead_id": _text(row["lead_id"], "lead_id", LEAD_ID_LEN),
            "scored_at": scored_at,
            "as_of": _timestamp(row.get("as_of") or scored_at, "as_of"),
            "model_name": _text(row["model_name"], "model_name", NAME_LEN),
            "model_version": _text(str(row["model_version"]), "model_version", MODEL_VERSION_LEN),
            # ``features`` is already plain JSON data: canonical JSON without a second pass
            "feature_hash": row.get("feature_hash") or _sha256(features_text),
            "features": _JSONText(features_text),
            "p_sql": _number(row.get("p_sql"), "p_sql", required=False, lo=0.0, hi=1.0),
            "p_won": _number(row["p_won"], "p_won", lo=0.0, hi=1.0),
            "fit_score": _number(row["fit_score"], "fit_score"),
            "engagement_score": _number(row["engagement_score"], "engagement_score"),
            "decision": _vocabulary(row["decision"], "decision", HandoffDecision, required=True),
            "threshold": _number(row["threshold"], "threshold"),
            "reasons": _clean(list(reasons)),
            "likely_rejection_reason": _vocabulary(
                row.get("likely_rejection_reason"),
                "likely_rejection_reason",
                RejectionReason,
                required=False,
            ),
        }
        _text(out["feature_hash"], "feature_hash", 64)
        for name in _SEGMENT_COLUMNS:
            # Copies for reporting filters: an over-long CRM value is cut here rather than
            # failing the score (the full value stays in ``features``).
            value = row.get(name)
            if value is None:
                value = features.get(name)
            text = None if value is None else _clean(str(value))[:CATEGORY_LEN]
            out[name] = _optional_text(text, name, CATEGORY_LEN)
        return out

    def last_decision(self, lead_id: str) -> dict[str, Any] | None:
        """The newest decision for ``lead_id`` (by ``scored_at``), or ``None``."""
        table = Decision.__table__
        query = (
            select(table)
            .where(table.c.lead_id == lead_id)
            .order_by(table.c.scored_at.desc(), table.c.id.desc())
            .limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def recent_decisions(
        self,
        limit: int = 100,
        offset: int = 0,
        *,
        decision: HandoffDecision | str | None = None,
        channel: str | None = None,
        min_p_won: float | None = None,
        max_p_won: float | None = None,
        since: datetime | None = None,
        lead_id: str | None = None,
        industry: str | None = None,
        company_size: str | None = None,
        country: str | None = None,
    ) -> list[dict[str, Any]]:
        """A page of the decision log, newest first, optionally filtered (all filters AND)."""
        if not 1 <= limit <= 10_000:
            raise ValueError("limit must be within [1, 10000]")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        table = Decision.__table__
        query = select(table)
        if decision is not None:
            decision = _vocabulary(decision, "decision", HandoffDecision, required=True)
            query = query.where(table.c.decision == decision)
        for name, value in (
            ("channel", channel),
            ("lead_id", lead_id),
            ("industry", industry),
            ("company_size", company_size),
            ("country", country),
        ):
            if value is not None:
                query = query.where(table.c[name] == value)
        if min_p_won is not None:
            query = query.where(table.c.p_won >= min_p_won)
        if max_p_won is not None:
            query = query.where(table.c.p_won <= max_p_won)
        if since is not None:
            query = query.where(table.c.scored_at >= as_utc(since))
        query = (
            query.order_by(table.c.scored_at.desc(), table.c.id.desc()).limit(limit).offset(offset)
        )
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def decisions_for_training(self, since: datetime | None = None) -> pd.DataFrame:
        """The decision log as a frame, oldest first (``features`` and ``reasons`` as objects).

        Timestamps are UTC-aware; ``since`` filters on ``scored_at``.
        """
        table = Decision.__table__
        query = select(table).order_by(table.c.scored_at, table.c.id)
        if since is not None:
            query = query.where(table.c.scored_at >= as_utc(since))
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return _frame(rows, _DECISION_COLUMNS, table)

    # -- feedback -------------------------------------------------------------------------

    @staticmethod
    def normalize_feedback(body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a feedback body and return it normalised (``None`` fields dropped).

        The normal form (UTC ISO ``at``, floats as floats, vocabulary values as strings)
        is what the body hash covers, so a retry that formats the same request differently
        is still recognised as the same request. Raises ``ValueError`` naming the field,
        never echoing a value.
        """
        _unknown_keys(body, _FEEDBACK_FIELDS, "feedback")
        kind = _vocabulary(body.get("kind"), "kind", FeedbackKind, required=True)
        reason = _vocabulary(body.get("reason"), "reason", RejectionReason, required=False)
        if kind == FeedbackKind.REJECTED and reason is None:
            raise ValueError("reason is required when kind is 'rejected'")
        attempts = body.get("contact_attempts")
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int | np.integer) or attempts < 0
        ):
            raise ValueError("contact_attempts must be a non-negative integer")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise ValueError("comment must be a string")
        qualification = body.get("qualification")
        if qualification is not None:
            if not isinstance(qualification, Mapping):
                raise ValueError("qualification must be an object")
            qualification = {str(k): v for k, v in qualification.items() if v is not None}
            qualification["framework"] = str(qualification.get("framework", "bant")).lower()
            problem = qualification_violation(qualification)
            if problem is not None:
                raise LifecycleViolation(problem)
        at = body.get("at")
        normal: dict[str, Any] = {
            "lead_id": _text(body.get("lead_id"), "lead_id", LEAD_ID_LEN),
            "kind": kind,
            "reason": reason,
            "at": None if at is None else _timestamp(at, "at").isoformat(),
            "contact_attempts": None if attempts is None else int(attempts),
            "first_response_hours": _number(
                body.get("first_response_hours"), "first_response_hours", required=False, lo=0.0
            ),
            "amount": _number(body.get("amount"), "amount", required=False, lo=0.0),
            "qualification": qualification,
            "comment": comment,
        }
        return {k: v for k, v in normal.items() if v is not None}

    def add_feedback(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: str,
        actor: str,
        on_breach: Callable[[Breach], None] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store one feedback event exactly once per idempotency key, if the lifecycle allows.

        Returns ``(row, created)``. A retry (same key, same normalised body, same actor)
        returns the stored row with ``created=False`` before any rule is checked, so a
        retry always gets the first answer; the same key with another body or from
        another actor raises :class:`IdempotencyConflict`. A new event is checked against
        the lead's decisions and feedback (:func:`scoring.lifecycle.check`): a broken
        rule raises :class:`~scoring.lifecycle.LifecycleViolation`; the steps it implies
        (an acceptance before a ``won``) are stored first, as rows of their own flagged
        ``implied``, under the key plus ``#implied-<kind>``. ``on_breach`` hears each SLA
        breach the event reveals (for the metrics). The row is linked to the lead's
        latest decision at receipt. Race-safe: concurrent requests with one key meet at
        the unique constraint, and the losers re-read the winner's row; events for one
        lead are checked one at a time (SQLite's write lock, a PostgreSQL advisory lock).
        """
        key = _text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LEN)
        actor_name = _text(actor, "actor", NAME_LEN)
        normal = self.normalize_feedback(body)
        body_hash = _sha256(canonical_json(normal))
        table = Feedback.__table__
        revealed: list[Breach] = []
        try:
            with self._write.begin() as conn:
                existing = self._feedback_by_key(conn, key)
                if existing is not None:
                    return self._replay(existing, key, body_hash, actor_name), False
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        select(
                            func.pg_advisory_xact_lock(
                                func.hashtext("leadscore-lead:" + normal["lead_id"])
                            )
                        )
                    )
                received_at = self._now()
                at = _timestamp(normal["at"], "at") if "at" in normal else received_at
                event = _event(normal, at)
                lead_id = normal["lead_id"]
                histories, latest = self._lifecycle_histories(conn, [lead_id])
                history, decision_id = histories[lead_id], latest.get(lead_id)
                outcome = check(history, event)
                if not isinstance(outcome, Transition):
                    raise LifecycleViolation(outcome)
                comment = normal.get("comment")
                row: dict[str, Any] = {
                    "id": uuid.uuid4().hex,
                    "lead_id": normal["lead_id"],
                    "kind": normal["kind"],
                    "reason": normal.get("reason"),
                    "at": at,
                    "received_at": received_at,
                    "contact_attempts": normal.get("contact_attempts"),
                    "first_response_hours": normal.get("first_response_hours"),
                    "amount": normal.get("amount"),
                    # PostgreSQL text cannot hold NUL; the hash keeps the original.
                    "comment": None if comment is None else comment.replace("\x00", "\ufffd"),
                    "decision_id": decision_id,
                    "actor": actor_name,
                    "idempotency_key": key,
                    "body_hash": body_hash,
                    "implied": False,
                    "qualification": normal.get("qualification"),
                }
                for step in outcome.implied:
                    implied_body = {"lead_id": row["lead_id"], "kind": step.kind, "at": at}
                    conn.execute(
                        insert(table),
                        {
                            **{c: None for c in _FEEDBACK_COLUMNS},
                            **implied_body,
                            "id": uuid.uuid4().hex,
                            "received_at": received_at,
                            "decision_id": decision_id,
                            "actor": actor_name,
                            "idempotency_key": f"{key}#implied-{step.kind}"[:IDEMPOTENCY_KEY_LEN],
                            "body_hash": _sha256(canonical_json(implied_body)),
                            "implied": True,
                        },
                    )
                conn.execute(insert(table), row)
                revealed = new_breaches(history, event, received_at, self._clocks)
        except IntegrityError:
            # Most likely a concurrent request with the same key won the race; if not,
            # the original error stands.
            with self._engine.connect() as conn:
                existing = self._feedback_by_key(conn, key)
            if existing is None:
                raise
            return self._replay(existing, key, body_hash, actor_name), False
        if on_breach is not None:
            for breach in revealed:
                on_breach(breach)
        return row, True

    def lifecycle_events(self, lead_ids: Sequence[str]) -> dict[str, list[Event]]:
        """Each lead's history as lifecycle events (scores, then feedback); for the queue."""
        with self._engine.connect() as conn:
            return self._lifecycle_histories(conn, lead_ids)[0]

    @staticmethod
    def _lifecycle_histories(
        conn: Connection, lead_ids: Sequence[str]
    ) -> tuple[dict[str, list[Event]], dict[str, str]]:
        """The leads' events (scores and feedback) and each one's latest decision id."""
        ids = list(dict.fromkeys(lead_ids))
        events: dict[str, list[Event]] = {lead_id: [] for lead_id in ids}
        latest: dict[str, str] = {}
        if not ids:
            return events, latest
        decisions = Decision.__table__
        scored = conn.execute(
            select(
                decisions.c.id,
                decisions.c.lead_id,
                decisions.c.as_of,
                decisions.c.decision,
                # only the creation time: the snapshot may hold thousands of touches
                decisions.c.features["created_at"].as_string().label("created_at"),
            )
            .where(decisions.c.lead_id.in_(ids))
            .order_by(decisions.c.scored_at, decisions.c.id)
        ).all()
        for r in scored:
            events[r.lead_id].append(
                scored_event(r.as_of, r.decision, {"created_at": r.created_at})
            )
            latest[r.lead_id] = r.id
        f = Feedback.__table__
        rows = conn.execute(
            select(
                f.c.lead_id,
                f.c.kind,
                f.c.at,
                f.c.reason,
                f.c.amount,
                f.c.contact_attempts,
                f.c.qualification,
                f.c.implied,
            )
            .where(f.c.lead_id.in_(ids))
            .order_by(f.c.at, f.c.received_at, f.c.implied.desc(), f.c.id)
        ).all()
        for r in rows:
            events[r.lead_id].append(feedback_row_event(r._mapping))
        return events, latest

    @staticmethod
    def _feedback_by_key(conn: Connection, key: str) -> dict[str, Any] | None:
        table = Feedback.__table__
        found = conn.execute(select(table).where(table.c.idempotency_key == key)).mappings().first()
        return dict(found) if found is not None else None

    @staticmethod
    def _replay(existing: dict[str, Any], key: str, body_hash: str, actor: str) -> dict[str, Any]:
        if existing["actor"] != actor:
            raise IdempotencyConflict(key, other_actor=True)
        if existing["body_hash"] != body_hash:
            raise IdempotencyConflict(key)
        return existing

    def feedback_frame(
        self, since: datetime | None = None, *, include_comment: bool = False
    ) -> pd.DataFrame:
        """All feedback as a frame for retraining, in order of receipt.

        ``since`` filters on ``received_at`` (what arrived since the last run). Comments
        are left out unless asked for: free text is never a feature and may hold PII.
        """
        table = Feedback.__table__
        columns = [c for c in _FEEDBACK_COLUMNS if include_comment or c != "comment"]
        # an implied step before the event that implied it (they share ``received_at``)
        query = select(*(table.c[c] for c in columns)).order_by(
            table.c.received_at, table.c.implied.desc(), table.c.id
        )
        if since is not None:
            query = query.where(table.c.received_at >= as_utc(since))
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return _frame(rows, columns, table)

    def count_feedback(self, *, kind: FeedbackKind | str | None = None) -> int:
        """How many feedback rows there are (of one ``kind``, if given)."""
        table = Feedback.__table__
        query = select(func.count()).select_from(table)
        if kind is not None:
            query = query.where(
                table.c.kind == _vocabulary(kind, "kind", FeedbackKind, required=True)
            )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- erasure ----------------------------------------------------------------------

    def erase_leads(
        self,
        lead_ids: Sequence[str],
        *,
        lead_key: Callable[[str], str],
        actor: str,
        reason: ErasureReason | str = ErasureReason.REQUEST,
        history_rows: Mapping[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        """Delete every decision and feedback row of ``lead_ids`` and record each erasure.

        Deletion, not anonymisation: a decision's feature snapshot (touches included) and
        a feedback comment can tie a row back to the person, and the lead id itself is
        what ties the rest. Implied steps, qualifications and idempotency records are
        feedback rows and go with it. Each lead gets an :class:`~serving.tables.Erasure`
        row (who, when, why, row counts, ``lead_key(lead_id)``; never the id) in the
        transaction that deletes its rows (one per ``_ERASE_CHUNK`` leads).
        ``history_rows`` are the rows the caller removed from files.

        On SQLite the WAL is checkpointed and truncated afterwards, so the deleted rows'
        old page images do not stay in ``-wal``; ``secure_delete`` (see
        :func:`make_engine`) zeroes them in the database file. PostgreSQL keeps dead
        tuples until its next (auto)vacuum (``docs/privacy.md``).
        """
        ids = list(dict.fromkeys(_text(i, "lead_id", LEAD_ID_LEN) for i in lead_ids))
        actor_name = _text(actor, "actor", NAME_LEN)
        why = _vocabulary(reason, "reason", ErasureReason, required=True)
        if not ids:
            return []
        decisions, feedback = Decision.__table__, Feedback.__table__
        counts = {i: {"decisions": 0, "feedback": 0} for i in ids}
        now = self._now()
        records: list[dict[str, Any]] = []
        # one transaction per chunk: a retention run may erase thousands of leads, and
        # PostgreSQL's lock table has room for a few thousand advisory locks in all
        for start in range(0, len(ids), _ERASE_CHUNK):
            chunk = ids[start : start + _ERASE_CHUNK]
            with self._write.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # the lock ``add_feedback`` takes: an event being checked against the
                    # lead's history finishes before its rows go, or starts after
                    for lead_id in sorted(chunk):
                        conn.execute(
                            select(
                                func.pg_advisory_xact_lock(
                                    func.hashtext("leadscore-lead:" + lead_id)
                                )
                            )
                        )
                for table, name in ((feedback, "feedback"), (decisions, "decisions")):
                    gone = conn.execute(
                        delete(table).where(table.c.lead_id.in_(chunk)).returning(table.c.lead_id)
                    ).scalars()
                    for lead_id in gone:
                        counts[lead_id][name] += 1
                done = [
                    {
                        "lead_key": lead_key(lead_id),
                        "erased_at": now,
                        "actor": actor_name,
                        "reason": why,
                        **counts[lead_id],
                        "history_rows": int((history_rows or {}).get(lead_id, 0)),
                    }
                    for lead_id in chunk
                ]
                conn.execute(insert(Erasure.__table__), done)
            records += done
        self._truncate_wal()
        return [{k: v for k, v in r.items() if k != "lead_key"} for r in records]

    def _truncate_wal(self) -> None:
        """SQLite: copy the WAL into the database and empty it (best effort)."""
        if self._engine.dialect.name != "sqlite":
            return
        with self._engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy is not None and busy[0]:
            log.warning(
                "WAL checkpoint after an erasure was blocked by a reader; it will "
                "complete at the next checkpoint"
            )

    def leads_inactive_since(self, cutoff: datetime) -> list[str]:
        """Leads whose last score and last feedback were both received before ``cutoff``.

        What the retention period erases: a lead that is still being worked (a recent
        score or event) keeps its whole history, older rows included.
        """
        decisions, feedback = Decision.__table__, Feedback.__table__
        last = union_all(
            select(decisions.c.lead_id, func.max(decisions.c.scored_at).label("last")).group_by(
                decisions.c.lead_id
            ),
            select(feedback.c.lead_id, func.max(feedback.c.received_at).label("last")).group_by(
                feedback.c.lead_id
            ),
        ).subquery()
        query = (
            select(last.c.lead_id)
            .group_by(last.c.lead_id)
            .having(func.max(last.c.last) < as_utc(cutoff))
            .order_by(last.c.lead_id)
        )
        with self._engine.connect() as conn:
            return [str(lead_id) for lead_id in conn.execute(query).scalars()]

    def erased_lead_keys(self) -> set[str]:
        """The keys (HMACs) of every lead ever erased: what retraining leaves out."""
        table = Erasure.__table__
        with self._engine.connect() as conn:
            return {str(k) for k in conn.execute(select(table.c.lead_key).distinct()).scalars()}

    def erasures(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest erasure records (without their keys), for audits."""
        table = Erasure.__table__
        columns = [c for c in table.c if c.name != "lead_key"]
        query = select(*columns).order_by(table.c.erased_at.desc(), table.c.id.desc())
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.limit(limit)).mappings()]

    # -- API keys -------------------------------------------------------------------------

    def create_api_key(self, name: str, role: Role | str) -> str:
        """Create a key and return the raw key; this is the only time it can be seen.

        Raises ``ValueError`` if an active key already has this name (revoke it first).
        """
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        self._insert_key(raw, name, role)
        return raw

    def _insert_key(self, raw: str, name: str, role: Role | str) -> None:
        checked_name = _text(name, "name", NAME_LEN)
        checked_role = _vocabulary(role, "role", Role, required=True)
        table = ApiKey.__table__
        try:
            with self._write.begin() as conn:
                conn.execute(
                    insert(table).values(
                        name=checked_name,
                        role=checked_role,
                        key_hash=hash_api_key(raw),
                        created_at=self._now(),
                        revoked_at=None,
                    )
                )
        except IntegrityError:
            raise ValueError(f"an active API key named {checked_name!r} already exists") from None
        self._clear_key_cache()

    def revoke_api_key(self, name: str) -> bool:
        """Revoke the active key called ``name``; ``False`` if there was none.

        Takes effect at once in this process; other processes may accept the key for up
        to ``key_cache_seconds`` more.
        """
        table = ApiKey.__table__
        with self._write.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.name == name, table.c.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
        self._clear_key_cache()
        return bool(result.rowcount)

    def ensure_api_key(self, raw_key: str, name: str, role: Role | str) -> bool:
        """Make sure ``raw_key`` exists (the bootstrap key from settings); ``True`` if created.

        If the key already exists nothing changes, also if it was revoked: revoking a
        bootstrap key is not undone by a restart (remove it from the settings instead).
        A different key holding ``name`` is revoked, so changing the configured value
        rotates the key. Safe when several workers start at once.
        """
        raw = _text(raw_key, "raw_key", 4096)
        if len(raw) < MIN_API_KEY_LENGTH or raw != raw.strip():
            raise ValueError(
                f"API key must be at least {MIN_API_KEY_LENGTH} characters, without "
                "surrounding whitespace"
            )
        checked_name = _text(name, "name", NAME_LEN)
        checked_role = _vocabulary(role, "role", Role, required=True)
        table = ApiKey.__table__
        key_hash = hash_api_key(raw)
        try:
            with self._write.begin() as conn:
                exists = conn.execute(
                    select(table.c.id).where(table.c.key_hash == key_hash)
                ).first()
                if exists is not None:
                    return False
                now = self._now()
                conn.execute(
                    update(table)
                    .where(table.c.name == checked_name, table.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                conn.execute(
                    insert(table).values(
                        name=checked_name,
                        role=checked_role,
                        key_hash=key_hash,
                        created_at=now,
                        revoked_at=None,
                    )
                )
        except IntegrityError:
            with self._engine.connect() as conn:
                exists = conn.execute(
                    select(table.c.id).where(table.c.key_hash == key_hash)
                ).first()
            if exists is None:
                raise
            return False
        finally:
            self._clear_key_cache()
        return True

    def role_for_key(self, raw_key: str) -> tuple[str, Role] | None:
        """``(name, role)`` of an active key, or ``None``; looked up by hash, briefly cached."""
        if not raw_key:
            return None
        return self.role_for_key_hash(hash_api_key(raw_key))

    def role_for_key_hash(self, key_hash: str) -> tuple[str, Role] | None:
        """:meth:`role_for_key` for a caller that only holds the hash (a page session)."""
        now = time.monotonic()
        cached = self._cached_principal(key_hash, now)
        if cached is not None:
            return cached
        table = ApiKey.__table__
        with self._engine.connect() as conn:
            found = conn.execute(
                select(table.c.name, table.c.role).where(
                    table.c.key_hash == key_hash, table.c.revoked_at.is_(None)
                )
            ).first()
        if found is None:
            return None  # misses are not cached: a key created elsewhere works at once
        principal = (str(found.name), Role(found.role))
        if self._key_cache_seconds > 0:
            with self._key_lock:
                self._key_cache[key_hash] = (now + self._key_cache_seconds, principal)
                self._key_cache.move_to_end(key_hash)
                while len(self._key_cache) > self._key_cache_size:
                    self._key_cache.popitem(last=False)
        return principal

    def cached_role_for_key(self, raw_key: str) -> tuple[str, Role] | None:
        """What :meth:`role_for_key` would answer from the cache alone, or ``None``.

        Never touches the database, so an event loop may call it; ``None`` means "ask
        :meth:`role_for_key`" (a miss, an expired entry or no key), never "invalid".
        """
        if not raw_key:
            return None
        return self._cached_principal(hash_api_key(raw_key), time.monotonic())

    def _cached_principal(self, key_hash: str, now: float) -> tuple[str, Role] | None:
        with self._key_lock:
            cached = self._key_cache.get(key_hash)
            if cached is not None:
                expires, principal = cached
                if expires > now:
                    self._key_cache.move_to_end(key_hash)
                    return principal
                del self._key_cache[key_hash]
        return None

    def list_api_keys(self) -> list[dict[str, Any]]:
        """All keys, oldest first: id, name, role, created_at, revoked_at, active. No hashes."""
        table = ApiKey.__table__
        query = select(
            table.c.id, table.c.name, table.c.role, table.c.created_at, table.c.revoked_at
        ).order_by(table.c.created_at, table.c.id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**dict(r), "active": r["revoked_at"] is None} for r in rows]

    def _clear_key_cache(self) -> None:
        with self._key_lock:
            self._key_cache.clear()
