"""The decision log writer: every served decision, stored without slowing scoring down.

A score request must answer in milliseconds, and a durable SQLite commit costs about
as much as the scoring itself. Decisions are therefore handed to one background
thread that writes them in batches (one transaction per batch). Readers that need
the newest decision (``GET /v1/leads/{id}/decision``, feedback linking) call
:meth:`DecisionLog.flush` first. At shutdown the queue is drained.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from scoring.explain import REJECTION_TEXT
from scoring.model import LeadScorer, Scores
from scoring.policy import BANDS
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


def now() -> datetime:
    return datetime.now(UTC)


def _finite(value: float | None, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


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
    """
    threshold = scorer.policy.handoff_threshold
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    touch_columns = scorer.feature_names[len(scorer.spec.input_columns) :]
    for i, record in enumerate(records):
        p_won = float(scores.p_won[i])
        rejection = scores.likely_rejection[i]
        result = {
            "lead_id": record["lead_id"],
            "request_id": request_id,
            "as_of": as_of[i].isoformat(),
            "p_sql": _finite(scores.p_sql[i]) if scores.p_sql is not None else None,
            "p_won": round(p_won, 6),
            "fit_score": _finite(scores.fit_score[i], 1),
            "engagement_score": _finite(scores.engagement_score[i], 1)
            if scores.engagement_score is not None
            else None,
            "decision": BANDS[scores.bands[i]].value,
            "threshold": round(threshold, 6),
            "distance_to_threshold": round(p_won - threshold, 6),
            "likely_rejection": None
            if rejection is None
            else {
                "reason": rejection[0],
                "probability": round(rejection[1], 4),
                "text": REJECTION_TEXT.get(rejection[0], rejection[0]),
            },
            "reasons": scores.reasons[i] if scores.reasons is not None else None,
            "unseen_categories": sorted(scores.unseen[i]),
            "model": {"name": model_name, "version": model_version},
        }
        results.append(result)
        features: dict[str, Any] = {c: record.get(c) for c in scorer.spec.input_columns}
        features["created_at"] = record.get("created_at")
        features["as_of"] = as_of[i]
        features["touches"] = _timeline(record["touches"], as_of[i])
        features.update(
            zip(
                touch_columns,
                (_finite(v) for v in scores.matrix[i, -len(touch_columns) :]),
                strict=True,
            )
            if touch_columns
            else ()
        )
        rows.append(
            {
                "request_id": request_id,
                "lead_id": record["lead_id"],
                "scored_at": now(),
                "as_of": as_of[i],
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
    return results, rows


TIMELINE_TOUCHES = 50


def _timeline(touches: list[dict[str, Any]], as_of: datetime) -> list[dict[str, str]]:
    """The latest touches before the scoring moment, for the lead page's timeline."""
    stamped = [(pd.Timestamp(t["at"]), str(t["type"])) for t in touches]
    before = sorted(t for t in stamped if t[0] < as_of)[-TIMELINE_TOUCHES:]
    return [{"at": at.isoformat(), "type": kind} for at, kind in before]
