"""Recording a sales event: the one path from a checked request to the store.

``POST /v1/feedback`` and the lead page's forms (accept / reject / contacted, the
"disagree" note) both call :func:`record_feedback`, so an event is bounded in time,
linked to the newest decision, checked against the lead's lifecycle, counted in the
metrics and stored exactly once per idempotency key the same way whichever door it
came in by. The callers only turn the outcome into their own answer (JSON or a page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State

from serving.schemas import FeedbackRequest, times_after

__all__ = ["record_feedback"]


def record_feedback(
    state: State,
    event: FeedbackRequest,
    *,
    idempotency_key: str,
    actor: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Store ``event`` for ``actor``; ``(row, created)`` (``created`` is false on a retry).

    ``state`` is the app's (``request.app.state``): its settings, store, decision log
    and metrics. ``now`` is the server's clock at arrival. Raises
    :class:`~fastapi.exceptions.RequestValidationError` for a time later than ``now``
    plus the allowed clock skew, :class:`~serving.storage.IdempotencyConflict` for a
    key reused with another body or by another actor,
    :class:`~scoring.lifecycle.LifecycleViolation` for an event the lead's lifecycle
    refuses, ``ValueError`` for anything else the store refuses.
    """
    late = times_after(event, now, state.settings.clock_skew)
    if late:
        raise RequestValidationError(late)
    decision_log = getattr(state, "decision_log", None)
    if decision_log is not None:  # link the event to the newest decision
        decision_log.flush()
    metrics = getattr(state, "metrics", None)
    row, created = state.store.add_feedback(
        event.model_dump(exclude_none=True, mode="json"),
        idempotency_key=idempotency_key,
        actor=actor,
        on_breach=None if metrics is None else metrics.count_breach,
    )
    if created and metrics is not None:
        metrics.feedback.labels(row["kind"]).inc()
    return row, created
