"""The feedback contract: what a sales event must say about itself to be recorded.

One definition for every way feedback comes in: the API's request model
(``serving.feedback.FeedbackRequest``), the lead page's forms (which go through that
model) and the store (``Store.normalize_feedback``, for callers that skip the API).
Whether the event may *follow* the lead's history is the lifecycle's question
(:func:`scoring.lifecycle.check`); this module answers the one before it: are the
event's own values possible? ``docs/lifecycle.md`` lists every rule.

``at`` (when it happened) is required of the API and the forms; a direct store caller
(a script) may leave it out, and the store then records the moment of receipt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scoring.lifecycle import Event, EventKind, Violation, value_violation

MAX_CONTACT_ATTEMPTS = 1_000
"""The most contact attempts one event may report (more is a typo or a runaway dialler)."""
MAX_AMOUNT = 1e10
"""The largest deal amount accepted."""
MAX_FIRST_RESPONSE_HOURS = 24.0 * 365
"""The longest first response accepted: a year."""
MAX_COMMENT_CHARS = 2_000
"""The longest free-text comment."""

_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""The value rules never read an event's time; its order is the lifecycle's business."""


def feedback_violation(
    kind: str,
    *,
    reason: str | None = None,
    amount: Any = None,
    contact_attempts: Any = None,
    qualification: Any = None,
) -> Violation | None:
    """The first rule the event's own values break (a 422), or ``None``.

    The lifecycle's value rules (:func:`~scoring.lifecycle.value_violation`: a rejection
    needs a reason tag, a won deal a positive amount, numbers that are numbers, a
    qualification only on an acceptance) and two rules of new events only: a reason tag
    belongs to a rejection alone, and at most :data:`MAX_CONTACT_ATTEMPTS` attempts.
    Stored history is replayed without those two (rows from before them stay readable).
    """
    event = Event(
        kind,
        _NO_TIME,
        reason=reason,
        amount=amount,
        contact_attempts=contact_attempts,
        qualification=qualification,
    )
    problem = value_violation(event)
    if problem is not None:
        return problem
    if reason is not None and kind != EventKind.REJECTED:
        return Violation(
            "reason_on_rejection_only", "reason", 422, "only a rejection carries a reason tag"
        )
    if contact_attempts is not None and contact_attempts > MAX_CONTACT_ATTEMPTS:
        return Violation(
            "attempts_bound",
            "contact_attempts",
            422,
            f"at most {MAX_CONTACT_ATTEMPTS} contact attempts",
        )
    return None
