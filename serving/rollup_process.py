"""The server's roll-up refreshes, in a process of its own.

Every scored lead is marked dirty for the report roll-ups, and folding a few hundred
leads a second in replays their lifecycles in pandas: in the serving process that took
more CPU than the scoring, held the GIL the serving thread needs and grew the worker by
gigabytes (docs/benchmarks.md, "Re-measured on a quiet machine"). So both the background
refresh and the refresh a report request makes before it reads run in one child process
(``spawn``: a clean interpreter, no copy of the served model), which opens its own
engine on the same database once and keeps it; a request thread waits for it without
holding the GIL. The roll-ups' own lock (``serving.store.rollups.lock_rollups``)
already serialises refreshes between processes and replicas. The child runs at a lower
CPU priority (:data:`NICENESS`): on a small machine a busy hour's folding would otherwise
take the core the scoring needs. An in-memory SQLite database cannot be shared with a
child: it is refreshed on the calling thread, as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from sqlalchemy.engine import Engine

from serving.store.engine import in_memory

log = logging.getLogger("leadscore.rollups")

NICENESS = 10
"""How much the refresher child lowers its priority (``os.nice``): the scheduler gives the
serving process's threads the CPU first, the refresh what is left."""
WAIT_SECONDS = 0.2
"""How often a waiting refresh checks that the child is alive and the server not closing."""


class RefresherDied(RuntimeError):
    """The refresher process ended during a refresh (killed, out of memory); the next
    refresh starts a new one."""


def _serve(url: str, conn: Connection) -> None:
    """The child: one refresh per message, its count (or its exception) sent back."""
    from serving.storage import make_engine
    from serving.store.rollups import refresh_rollups

    os.nice(NICENESS)
    engine = make_engine(url)
    while True:
        try:
            conn.recv()
        except EOFError:  # the server closed its end
            return
        try:
            conn.send(refresh_rollups(engine))
        except Exception as exc:
            try:
                conn.send(exc)
            except Exception:  # an exception that does not pickle: its kind, at least
                conn.send(RuntimeError(f"roll-up refresh failed: {exc.__class__.__name__}"))


class RollupRefresher:
    """``refresh()`` folds the changed leads into the roll-ups in the child process (started
    at the first call, again after it died) and returns how many it recomputed; calls from
    several threads take turns. ``close()`` stops the child, whose unfinished refresh, a
    transaction, rolls back.

    ``refresh(timeout)`` gives up waiting after ``timeout`` seconds and returns ``None``: a
    report must not hold a request thread for the minutes a refresh can take under a
    storm of scoring. The child goes on; the next call first waits for that answer, then
    asks for a refresh of its own (the pending one began before it was called)."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._child: BaseProcess | None = None
        self._conn: Connection | None = None
        self._pending = False  # a refresh was asked for and its answer not read yet
        self._closed = threading.Event()
        self._lock = threading.Lock()  # one refresh through the pipe at a time; ``close``

    def refresh(self, timeout: float | None = None) -> int | None:
        if in_memory(self.url):
            from serving.store.rollups import refresh_rollups

            return refresh_rollups(self.engine)
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return None
        try:
            return self._refresh(deadline)
        finally:
            self._lock.release()

    def _refresh(self, deadline: float | None) -> int | None:
        mine = False
        while not self._closed.is_set():
            conn, child = self._started()
            if not self._pending:
                conn.send(True)
                self._pending = mine = True
            left = None if deadline is None else deadline - time.monotonic()
            if conn.poll(WAIT_SECONDS if left is None else max(0.0, min(WAIT_SECONDS, left))):
                self._pending = False
                answer = conn.recv()
                if mine:
                    if isinstance(answer, BaseException):
                        raise answer
                    return int(answer)
                if isinstance(answer, BaseException):  # its caller stopped waiting
                    log.error("refreshing the report roll-ups failed: %s", type(answer).__name__)
                continue  # that was an earlier caller's refresh: now ours
            if not child.is_alive():
                self._stop()
                raise RefresherDied(f"the roll-up refresher ended (exit code {child.exitcode})")
            if left is not None and left <= 0:
                return None
        return 0

    def _started(self) -> tuple[Connection, BaseProcess]:
        if self._child is None or self._conn is None or not self._child.is_alive():
            self._stop()
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe()
            child = context.Process(
                target=_serve, args=(self.url, theirs), name="leadscore-rollups", daemon=True
            )
            child.start()
            theirs.close()
            self._child, self._conn = child, ours
        return self._conn, self._child

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._child is not None:
            self._child.terminate()
            self._child.join()
        self._child = self._conn = None
        self._pending = False

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._stop()
