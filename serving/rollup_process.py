"""The server's background roll-up refresh, in a process of its own.

Every scored lead is marked dirty for the report roll-ups, and folding a few hundred
leads a second in replays their lifecycles in pandas: in the serving process that took
more CPU than the scoring, held the GIL the serving thread needs and grew the worker by
gigabytes (docs/benchmarks.md, "Re-measured on a quiet machine"). So the refresh runs in
one child process (``spawn``: a clean interpreter, no copy of the served model), which
opens its own engine on the same database once and keeps it. The roll-ups' own lock
(``serving.store.rollups.lock_rollups``) already serialises refreshes between processes
and replicas. The child runs at a lower CPU priority (:data:`NICENESS`): on a small
machine a busy hour's folding would otherwise take the core the scoring needs, and the
roll-ups can wait a few seconds more. An in-memory SQLite database cannot be shared with a
child: it is refreshed on a thread of this process, as before.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.pool import Pool
from typing import Any

from sqlalchemy.engine import Engine

from serving.store.engine import in_memory

NICENESS = 10
"""How much the refresher child lowers its priority (``os.nice``): the scheduler gives the
serving process's threads the CPU first, the refresh what is left."""

_child_engine: Engine | None = None
"""The child's engine: opened at its first refresh, kept for the next ones."""


def _lower_priority() -> None:
    os.nice(NICENESS)


def _refresh_in_child(url: str) -> int:
    from serving.storage import make_engine
    from serving.store.rollups import refresh_rollups

    global _child_engine
    if _child_engine is None:
        _child_engine = make_engine(url)
    return refresh_rollups(_child_engine)


class RollupRefresher:
    """``refresh()`` folds the changed leads into the roll-ups in the child process (started
    at the first call) and returns how many it recomputed; ``close()`` stops the child,
    whose unfinished refresh, a transaction, rolls back."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._pool: Pool | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()  # ``close`` (at shutdown) against a refresh starting

    def refresh(self) -> int:
        if in_memory(self.url):
            from serving.store.rollups import refresh_rollups

            return refresh_rollups(self.engine)
        with self._lock:
            if self._closed.is_set():
                return 0
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(1, _lower_priority)
            pending: Any = self._pool.apply_async(_refresh_in_child, (self.url,))
        while not self._closed.is_set():
            pending.wait(0.2)
            if pending.ready():
                return int(pending.get())
        return 0

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._pool is not None:
                self._pool.terminate()
                self._pool.join()
                self._pool = None
