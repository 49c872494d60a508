"""The decision log's insert: validated rows handed to the driver as plain tuples.

The decision log's writer shares the GIL with the serving thread, so every microsecond
of Python it spends per row is one a score request waits. SQLAlchemy's ``insert`` with a
dict per row binds every value through the column types in Python; here the rows are
tuples in column order, only the columns whose type converts a value (timestamps, and
``reasons`` to JSON) go through their processor, and the driver gets the batch at once:
one multi-row ``INSERT`` on SQLite, ``COPY`` on PostgreSQL (one statement, so the roll-up
triggers of migration 0009, statement-level there, fire once per batch). Both run the
same triggers and constraints as any ``INSERT``.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from pydantic_core import to_json
from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from serving.store.jsonclean import _json_dumps
from serving.tables import Decision

_TABLE = cast(Table, Decision.__table__)
COLUMNS: tuple[str, ...] = tuple(c.name for c in _TABLE.columns)

_Processors = list[tuple[int, Callable[[Any], Any]]]
_PROCESSORS: dict[str, _Processors] = {}


def _processors(dialect: Dialect) -> _Processors:
    """``(position, bind processor)`` of the columns whose type converts values.

    JSON columns get the engine's serializer (which passes a snapshot's text through), on
    both backends. On PostgreSQL (``COPY``) the driver adapts everything else itself; on
    SQLite the types' own processors run (UTC naive timestamps, as SQLAlchemy writes them).
    """
    found = _PROCESSORS.get(dialect.name)
    if found is None:
        found = []
        for i, column in enumerate(_TABLE.columns):
            if column.name == "features":  # canonical text already: passed through
                found.append((i, _json_dumps))
                continue
            if column.name == "reasons":
                found.append((i, _reasons_json))
                continue
            if dialect.name == "postgresql":
                continue
            process = column.type._cached_bind_processor(dialect)
            if process is not None:
                found.append((i, process))
        _PROCESSORS[dialect.name] = found
    return found


def _tuples(rows: Sequence[Mapping[str, Any]], dialect: Dialect) -> list[list[Any]]:
    """The rows' values in column order, converted by the column types that convert.

    A batch's rows share ``logged_at``, a request's rows ``scored_at``: a value that is
    the same object as the previous row's is converted once.
    """
    processors = _processors(dialect)
    last: list[tuple[Any, Any]] = [(_NOTHING, None)] * len(processors)
    out = []
    for row in rows:
        values = [row[name] for name in COLUMNS]
        for k, (i, process) in enumerate(processors):
            value = values[i]
            seen, converted = last[k]
            if value is not seen:
                converted = process(value)
                last[k] = (value, converted)
            values[i] = converted
        out.append(values)
    return out


_NOTHING = object()


def _reasons_json(reasons: Any) -> str:
    """JSON text of a row's reasons, cleaned already (``_clean``: no NaN, plain data).

    pydantic-core's encoder, five times faster than ``json.dumps`` here; the text is not
    hashed, so its float spelling (``1e-7`` for ``1e-07``) does not matter: it reads back
    as the same values.
    """
    return to_json(reasons).decode()


def insert_decisions(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert decision rows that hold every column (as ``_prepare_decision`` makes them,
    ``logged_at`` set), inside ``conn``'s transaction."""
    if not rows:
        return
    dialect = conn.dialect
    values = _tuples(rows, dialect)
    if dialect.name == "postgresql":
        names = ", ".join(COLUMNS)
        raw = conn.connection.driver_connection
        statement = f"COPY {_TABLE.name} ({names}) FROM STDIN"
        with (
            _as_sqlalchemy_errors(conn, statement),
            raw.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(statement) as copy,
        ):
            for row in values:
                copy.write_row(row)
        return
    # Multi-row INSERTs rather than executemany: the sqlite3 module lets go of the GIL
    # around every statement it steps, and taking it back from a busy serving thread
    # waits for that thread's switch interval — once per row with executemany. Chunks
    # of power-of-two sizes keep the statements few, so SQLite's statement cache holds them.
    most = _sqlite_chunk(conn.connection.driver_connection)
    start = 0
    while start < len(values):
        size = min(most, 1 << ((len(values) - start).bit_length() - 1))
        chunk = values[start : start + size]
        conn.exec_driver_sql(_sqlite_insert(size), tuple(v for row in chunk for v in row))
        start += size


def _sqlite_chunk(raw: Any) -> int:
    """Rows per statement: the largest power of two within the connection's limit on
    bound parameters (32,766 since SQLite 3.32, 999 before: a system SQLite may be old),
    and at most 1,024 (the statement's text stays well under SQLite's 1 MB)."""
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return int(min(1024, 1 << ((limit // len(COLUMNS)).bit_length() - 1)))


@functools.cache
def _sqlite_insert(rows: int) -> str:
    one = "(" + ", ".join("?" for _ in COLUMNS) + ")"
    return f"INSERT INTO {_TABLE.name} ({', '.join(COLUMNS)}) VALUES " + ", ".join([one] * rows)


def driver_value(conn: Connection, sql: str) -> Any:
    """The first value of raw ``sql`` run on ``conn``'s driver connection, inside its
    transaction (``None`` without a row): a fraction of what a Core statement costs in
    Python, for the few statements every batch of the log runs."""
    raw = conn.connection.driver_connection
    with _as_sqlalchemy_errors(conn, sql):
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            row = cursor.fetchone()
        finally:
            cursor.close()
    return None if row is None else row[0]


@contextlib.contextmanager
def _as_sqlalchemy_errors(conn: Connection, statement: str) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy raises them for its own statements
    (``IntegrityError`` for a duplicate id...), without the parameters."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(
            statement, None, exc, dbapi.Error, hide_parameters=True, dialect=conn.dialect
        ) from exc


def last_logged_at(conn: Connection) -> datetime | None:
    """The newest ``logged_at`` in the log, as the ORM would read it (aware, UTC)."""
    value = driver_value(conn, f"SELECT max(logged_at) FROM {_TABLE.name}")
    if value is None:
        return None
    process = _TABLE.c.logged_at.type._cached_result_processor(conn.dialect, None)
    return cast(datetime, process(value) if process is not None else value)
