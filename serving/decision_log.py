"""The decision log writer: every served decision, stored without slowing scoring down.

A score request must answer in milliseconds, and a durable SQLite commit costs about
as much as the scoring itself. Decisions are therefore handed to one background
thread that writes them in batches (one transaction per batch; after the first row of a
batch it lingers up to ``wait_seconds`` for more, unless a reader is waiting). Readers
that need the newest decision (``GET /v1/leads/{id}/decision``, feedback linking) call
:meth:`DecisionLog.flush` first. At shutdown the queue is drained.

The writer shares the GIL with the serving thread, so what it does per row is kept
small: the row is built clean (no second cleaning pass in the store) and inserted as
plain tuples (``serving.store.decision_insert``). A batch that cannot be stored is
counted (``failed_rows``, the ``on_failed`` hook: a metric and ``/readyz``), never lost
silently; a database that is busy (SQLite locked by a long roll-up refresh) or unreachable
is waited for up to ``retry_seconds`` before a batch counts as failed. Only a killed
process loses its unwritten rows (``docs/deployment.md``).
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from math import isfinite
from typing import Any

import pandas as pd

from scoring.contract import PII_COLUMNS, as_utc
from scoring.model import LeadScorer, Scores
from scoring.timestamps import iso_utc
from serving.score_answer import _rounded, build_results
from serving.storage import Store
from serving.store.jsonclean import _clean, _Cleaned

log = logging.getLogger("leadscore.decisions")


class _Identities(list[Mapping[str, Any]]):
    """Lead identity rows (``serving.identity``): written to their own table, after the
    decisions of the same batch, and never into a decision row."""


_Item = tuple[int, Callable[[], list[Mapping[str, Any]]]] | _Identities | threading.Event | None
"""What the queue holds: rows to build (count, builder), identities, a flush marker, or stop."""


class DecisionLog:
    """The writer of one process. ``failed_rows`` counts answered decisions it could not
    store (built or written); each failure is also passed to ``on_failed`` (the
    ``leadscore_decision_log_failed_rows_total`` metric), and ``/readyz`` shows the count.
    """

    def __init__(
        self,
        store: Store,
        max_batch: int = 5_000,
        wait_seconds: float = 0.02,
        on_failed: Callable[[int], None] | None = None,
        retry_seconds: float = 600.0,
    ) -> None:
        self.store = store
        self.retry_seconds = retry_seconds
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self.failed_rows = 0
        self._on_failed = on_failed

    def start(self) -> None:
        self._thread.start()

    def submit_lazy(self, count: int, make_rows: Callable[[], list[Mapping[str, Any]]]) -> None:
        """Queue ``count`` rows that ``make_rows`` builds on the log's thread, not the caller's.

        ``make_rows`` must only read data that nobody changes after this call.
        """
        if count:
            self._queue.put((count, make_rows))

    def submit_identities(self, rows: list[Mapping[str, Any]]) -> None:
        """Queue lead identities (display name, company, CRM link) for their own table."""
        if rows:
            self._queue.put(_Identities(rows))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything submitted before this call is written."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        self._wake.set()
        done.wait(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._wake.set()
            self._thread.join(timeout=30)

    def _run(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            if isinstance(items[0], tuple):
                # Rows: linger up to ``wait_seconds`` so that one durable commit covers
                # several requests. Sleeping rather than waiting on the queue means a
                # request's ``submit_lazy`` never wakes this thread (a wake-up per request
                # costs the serving thread more than the row); ``flush`` and ``close``
                # cut the linger short.
                self._wake.wait(self.wait_seconds)
            self._wake.clear()
            items.extend(self._drain())
            batch: list[Mapping[str, Any]] = []
            identities: list[Mapping[str, Any]] = []
            waiters: list[threading.Event] = []
            for item in items:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                elif isinstance(item, _Identities):
                    identities.extend(item)
                else:
                    batch.extend(self._build(*item))
                    if len(batch) >= self.max_batch:
                        self._write(batch)
                        batch = []
            if batch:
                self._write(batch)
            if identities:
                self._write_identities(identities)
            for waiter in waiters:
                waiter.set()

    def _drain(self) -> list[_Item]:
        items: list[_Item] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _build(
        self, count: int, make_rows: Callable[[], list[Mapping[str, Any]]]
    ) -> list[Mapping[str, Any]]:
        try:
            return make_rows()
        except Exception as exc:  # never log the rows: they hold lead data
            self._failed(count)
            log.error("could not build %d decisions: %s", count, exc.__class__.__name__)
            return []

    def _write(self, batch: list[Mapping[str, Any]]) -> None:
        try:
            self._retrying(self.store.record_decisions, batch)
        except Exception as exc:  # never log the rows: they hold lead data
            self._failed(len(batch))
            log.error("could not store %d decisions: %s", len(batch), exc.__class__.__name__)

    def _retrying(self, write: Callable[[list[Mapping[str, Any]]], Any], rows: list[Any]) -> None:
        """``write(rows)``, again after a pause while the database says it is busy or gone.

        A SQLite database is locked for as long as another writer's transaction runs (a
        roll-up refresh of a few thousand leads can outlast the busy timeout), and a
        PostgreSQL connection can drop; the batch is one transaction, so trying it again
        stores it once. Only after ``retry_seconds`` of that, or at once for any other
        error (a row the database refuses), is the batch given up and counted.
        """
        from sqlalchemy.exc import OperationalError

        deadline = time.monotonic() + self.retry_seconds
        pause = 0.05
        while True:
            try:
                write(rows)
                return
            except OperationalError as exc:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "database busy or unreachable (%s); retrying %d rows in %.2f s",
                    exc.__class__.__name__,
                    len(rows),
                    pause,
                )
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _failed(self, count: int) -> None:
        self.failed_rows += count
        if self._on_failed is not None:
            try:
                self._on_failed(count)
            except Exception:  # the count above stands; the writer must go on
                log.exception("could not count %d failed decisions", count)

    def _write_identities(self, rows: list[Mapping[str, Any]]) -> None:
        try:
            self._retrying(self.store.record_identities, rows)
        except Exception as exc:  # never log the rows: they are personal data
            log.error("could not store %d lead identities: %s", len(rows), exc.__class__.__name__)


def now() -> datetime:
    return datetime.now(UTC)


def build_outputs(
    scorer: LeadScorer,
    records: Sequence[Mapping[str, Any]],
    as_of: Sequence[datetime],
    scores: Scores,
    model_name: str,
    model_version: str,
    request_id: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The API answer and the decision-log row for each scored lead.

    Used by the score endpoints and by bulk re-scoring, so a decision reads the same
    whichever path made it. The row keeps the lead's non-personal fields, the
    engagement features as computed and the touch timeline: what serving saw.
    The score endpoints call the two halves, :func:`build_results` and
    :func:`build_rows`, separately so that the rows are built on the log's thread.
    """
    results = build_results(scorer, records, as_of, scores, model_name, model_version, request_id)
    rows = build_rows(
        scorer, records, as_of, scores, results, model_name, model_version, request_id, now()
    )
    return results, rows


def build_rows(
    scorer: LeadScorer,
    records: Sequence[Mapping[str, Any]],
    as_of: Sequence[datetime],
    scores: Scores,
    results: Sequence[Mapping[str, Any]],
    model_name: str,
    model_version: str,
    request_id: str,
    scored_at: datetime,
) -> list[dict[str, Any]]:
    """The decision-log row for each scored lead, from its API answer in ``results``.

    The feature snapshot is built clean (``serving.store.jsonclean._Cleaned``: each value
    as ``_clean`` would make it, personal-data columns left out), so the store does not
    walk it again: this runs on the log's thread, which shares the GIL with scoring.
    """
    rows: list[dict[str, Any]] = []
    input_columns, touch_columns, positions = _layout(scorer)
    # Python's round, not numpy's: np.round(x, 6) can land one ulp away from round(x, 6),
    # and retraining reads these values back — the same lead must give the same row.
    touch_values = (
        [_rounded(row, 6) for row in scores.matrix[:, positions]] if touch_columns else None
    )
    for i, record in enumerate(records):
        result = results[i]
        rejection = scores.likely_rejection[i]
        moment = as_of[i]
        features = _Cleaned({c: _clean(record.get(c)) for c in input_columns})
        features["created_at"] = _clean(record.get("created_at"))
        features["as_of"] = _clean(moment)
        features["touches"] = _timeline(record["touches"], moment)
        if touch_values is not None:
            # _rounded gives None for NaN; an infinity is null in JSON too
            features.update(
                (c, v if v is None or isfinite(v) else None)
                for c, v in zip(touch_columns, touch_values[i], strict=True)
            )
        rows.append(
            {
                "request_id": request_id,
                "lead_id": record["lead_id"],
                "scored_at": scored_at,
                "as_of": moment,
                "model_name": model_name,
                "model_version": model_version,
                "features": features,
                "p_sql": result["p_sql"],
                "p_won": result["p_won"],
                "fit_score": result["fit_score"] if result["fit_score"] is not None else -1.0,
                "engagement_score": result["engagement_score"]
                if result["engagement_score"] is not None
                else -1.0,
                "decision": result["decision"],
                "threshold": result["threshold"],
                "reasons": result["reasons"]["positive"] + result["reasons"]["negative"]
                if result["reasons"]
                else [],
                "likely_rejection_reason": rejection[0] if rejection else None,
            }
        )
    return rows


def _layout(scorer: LeadScorer) -> tuple[list[str], list[str], list[int]]:
    """The snapshot's input columns (personal data left out), its touch-feature columns
    and their positions in the scorer's matrix: once per model, not once per row."""
    return _layout_of(
        tuple(scorer.spec.input_columns),
        tuple(scorer.spec.computed_columns),
        tuple(scorer.feature_names),
    )


@functools.lru_cache(maxsize=16)
def _layout_of(
    input_columns: tuple[str, ...], touch_columns: tuple[str, ...], names: tuple[str, ...]
) -> tuple[list[str], list[str], list[int]]:
    kept = [c for c in input_columns if c not in PII_COLUMNS and c not in _SNAPSHOT_KEYS]
    touches = [c for c in touch_columns if c not in PII_COLUMNS]
    return kept, touches, [names.index(c) for c in touches]


_SNAPSHOT_KEYS = frozenset({"created_at", "as_of", "touches"})
"""Keys the snapshot sets itself, after the input columns (as it always has)."""


TIMELINE_TOUCHES = 50


def _timeline(touches: list[dict[str, Any]], as_of: datetime) -> list[dict[str, str]]:
    """The latest touches before the scoring moment, for the lead page's timeline and
    the attribution report (which credits each touch's channel and campaign).

    Each touch is sorted on ``(time, type, channel, campaign)`` and written with its
    time as ``as_utc(time).isoformat()``; a time sent as that text already is kept as it
    came (:func:`_touch_time`; ``""`` otherwise, formatted once kept). The text, last in
    the tuple, is the same for equal times, so it never changes which touches are kept.
    """
    stamped = [
        (*_touch_time(t["at"]), str(t["type"]), str(t.get("channel") or ""),
         str(t.get("campaign") or ""))
        for t in touches
    ]  # fmt: skip
    before = sorted(
        (at, kind, channel, campaign, text)
        for at, text, kind, channel, campaign in stamped
        if at < as_of
    )[-TIMELINE_TOUCHES:]
    # channel and campaign only when sent: the attribution report credits them; the
    # texts cleaned here, as the snapshot is (``build_rows``)
    timeline = []
    for at, kind, channel, campaign, text in before:
        touch = {"at": text or as_utc(at).isoformat(), "type": _clean(kind)}
        if channel:
            touch["channel"] = _clean(channel)
        if campaign:
            touch["campaign"] = _clean(campaign)
        timeline.append(touch)
    return timeline


def _touch_time(at: Any) -> tuple[datetime, str]:
    """A touch's time for :func:`_timeline`, with its text if it came as the text the
    timeline writes (else ``""``).

    A datetime is taken as it is, any other value as ``pd.Timestamp`` reads it. A
    re-scored lead's touches come back from its snapshot as text this module wrote, ten
    to fifty per lead: ``datetime.fromisoformat`` reads that form three times faster
    than ``pd.Timestamp``, to the same instant, and the text is what
    ``as_utc(time).isoformat()`` would write again (formatting cost more than the rest of
    the timeline). Any other text — another zone, nanoseconds, a date alone, a year
    pandas refuses — still goes through ``pd.Timestamp``.
    """
    moment = iso_utc(at)  # month 13: None, and pandas' error, as before
    if moment is not None:
        # ``.000000`` is read the same, but isoformat() writes no zero microseconds
        return moment, ("" if at.endswith(".000000+00:00") else at)
    return (at if isinstance(at, datetime) else pd.Timestamp(at)), ""
