"""The decision log writer: every served decision, stored without slowing scoring down.

A score request must answer in milliseconds, and a durable SQLite commit costs about
as much as the scoring itself. Decisions are therefore handed to one background
thread that writes them in batches (one transaction per batch). Readers that need
the newest decision (``GET /v1/leads/{id}/decision``, feedback linking) call
:meth:`DecisionLog.flush` first. At shutdown the queue is drained.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from serving.storage import Store

log = logging.getLogger("leadscore.decisions")


class DecisionLog:
    def __init__(self, store: Store, max_batch: int = 5_000, wait_seconds: float = 0.2) -> None:
        self.store = store
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self._queue: queue.Queue[list[Mapping[str, Any]] | threading.Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self.failed_rows = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue rows for writing; never blocks the caller."""
        if rows:
            self._queue.put(list(rows))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything submitted before this call is written."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[Mapping[str, Any]] = []
            waiters: list[threading.Event] = []
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    batch.extend(item)
                if stop or len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            for waiter in waiters:
                waiter.set()

    def _write(self, batch: list[Mapping[str, Any]]) -> None:
        try:
            self.store.record_decisions(batch)
        except Exception as exc:  # never log the rows: they hold lead data
            self.failed_rows += len(batch)
            log.error("could not store %d decisions: %s", len(batch), exc.__class__.__name__)
