"""One feedback contract: the API's request model and the store refuse the same events.

``serving.feedback.FeedbackRequest`` (the API and the lead page's forms) and
``Store.normalize_feedback`` (callers that skip the API) both apply
``scoring.feedback.feedback_violation``; they used to disagree on a reason tag outside
a rejection and on the bound on contact attempts.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from scoring.feedback import MAX_CONTACT_ATTEMPTS, feedback_violation
from scoring.lifecycle import LifecycleViolation
from serving.feedback import FeedbackRequest
from serving.schemas import error_items
from serving.storage import Store

AT = "2026-03-02T10:00:00Z"

CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("rejection with its tag", {"kind": "rejected", "reason": "no_budget"}, None),
    ("rejection without a tag", {"kind": "rejected"}, "reason"),
    ("acceptance with a tag", {"kind": "accepted", "reason": "no_budget"}, "reason"),
    ("contact with attempts", {"kind": "contacted", "contact_attempts": 3}, None),
    (
        "too many attempts",
        {"kind": "contacted", "contact_attempts": MAX_CONTACT_ATTEMPTS + 1},
        "contact_attempts",
    ),
    ("attempts as a boolean", {"kind": "contacted", "contact_attempts": True}, "contact_attempts"),
    ("won with an amount", {"kind": "won", "amount": 5_000.0}, None),
    ("won without an amount", {"kind": "won"}, "amount"),
    (
        "qualification on a rejection",
        {"kind": "rejected", "reason": "too_early", "qualification": {"need": True}},
        "qualification",
    ),
]


def _api_field(body: dict[str, Any]) -> str | None:
    try:
        FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        return error_items(exc.errors())[0]["field"].split(".")[0]
    return None


def _store_field(body: dict[str, Any]) -> str | None:
    try:
        Store.normalize_feedback(body)
    except LifecycleViolation as exc:
        return exc.violation.field.split(".")[0]
    return None


@pytest.mark.parametrize(("case", "event", "field"), CASES, ids=[c[0] for c in CASES])
def test_the_api_and_the_store_refuse_the_same_events(
    case: str, event: dict[str, Any], field: str | None
) -> None:
    body = {"lead_id": "L-1", "at": AT, **event}
    assert _api_field(body) == field, case
    assert _store_field(body) == field, case


def test_the_contract_names_the_rule_of_the_new_events() -> None:
    tagged = feedback_violation("accepted", reason="no_budget")
    assert tagged is not None and tagged.rule == "reason_on_rejection_only"
    assert tagged.status == 422
    many = feedback_violation("contacted", contact_attempts=MAX_CONTACT_ATTEMPTS + 1)
    assert many is not None and many.rule == "attempts_bound"
    assert feedback_violation("contacted", contact_attempts=MAX_CONTACT_ATTEMPTS) is None


def test_only_the_store_may_leave_the_time_out() -> None:
    """The API and the forms need ``at``; a script calling the store means "at receipt"."""
    body = {"lead_id": "L-1", "kind": "accepted"}
    assert _api_field(body) == "at"
    assert "at" not in Store.normalize_feedback(body)
