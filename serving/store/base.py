"""What every part of the store shares: the engine, the writer, the clock, the key cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from scoring.contract import as_utc
from scoring.lifecycle import SlaClocks
from serving.roles import Role
from serving.store.engine import _writer


def lock_lead(conn: Connection, lead_id: str) -> None:
    """Hold the lead until the transaction ends, so its events are checked one at a time.

    PostgreSQL: a transaction-scoped advisory lock per lead (the feedback writer and the
    erasure take the same one). SQLite: nothing to do, its write lock already does it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("leadscore-lead:" + lead_id))))


class StoreBase:
    """The state every part of :class:`serving.storage.Store` works on.

    ``_write`` is the engine whose SQLite transactions begin ``IMMEDIATE`` (writers
    queue on the busy timeout); ``_clocks`` are the SLA clocks the feedback writer
    measures breaches with; ``clock`` exists for tests and must return aware datetimes.
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
        self._rollup_refresh: Callable[[float | None], int | None] | None = None
        self._rollup_wait: float | None = None

    @property
    def engine(self) -> Engine:
        return self._engine

    def use_rollup_refresher(
        self, refresh: Callable[[float | None], int | None] | None, wait: float | None = None
    ) -> None:
        """Fold changed leads into the report roll-ups with ``refresh`` (the server's
        :meth:`serving.rollup_process.RollupRefresher.refresh`: in a process of its own,
        off the scoring's GIL) instead of on the calling thread, waiting at most ``wait``
        seconds for it (setting ``rollup_wait_seconds``; ``None``: until it is done)."""
        self._rollup_refresh = refresh
        self._rollup_wait = wait

    def refresh_rollups(self) -> int | None:
        """Bring the report roll-ups up to date before a report or the queue reads them
        (:func:`serving.store.rollups.refresh_rollups`); returns how many leads changed,
        or ``None`` if the refresher did not finish within the store's wait (the roll-ups
        are then read as they stand; :func:`serving.store.rollups.pending_leads` says how
        many leads are not in)."""
        if self._rollup_refresh is not None:
            return self._rollup_refresh(self._rollup_wait)
        from serving.store.rollups import refresh_rollups  # it imports the store's parts

        return refresh_rollups(self._engine)

    def _now(self) -> datetime:
        return as_utc(self._clock())
