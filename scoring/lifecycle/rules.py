"""The rules on an event's own values, whatever the lead's history (the 422s).

A won deal needs its amount, numbers are numbers (never booleans), a rejection needs its
reason tag, a qualification is BANT or GPCT with true/false criteria and only on an
acceptance. :mod:`scoring.feedback` adds the contract's bounds on top of these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from scoring.lifecycle.states import (
    QUALIFICATION_CRITERIA,
    REJECTION_NEEDS_REASON,
    Event,
    EventKind,
    Violation,
)


def _is_number(value: Any) -> bool:
    """A real number: booleans are never numbers (``False`` is not a 0.0 deal)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def qualification_violation(qualification: Mapping[str, Any] | None) -> Violation | None:
    """Is ``qualification`` a framework (``bant``/``gpct``) with criteria true/false?"""
    if qualification is None:
        return None
    framework = str(qualification.get("framework", "")).lower()
    criteria = QUALIFICATION_CRITERIA.get(framework)
    if criteria is None:
        return Violation(
            "qualification_framework",
            "qualification.framework",
            422,
            "the qualification framework must be one of: bant, gpct",
        )
    for key, value in qualification.items():
        if key == "framework":
            continue
        if key not in criteria:
            return Violation(
                "qualification_criterion",
                f"qualification.{key}",
                422,
                f"not a {framework.upper()} criterion: use {', '.join(criteria)}",
            )
        if not isinstance(value, bool):
            return Violation(
                "qualification_boolean",
                f"qualification.{key}",
                422,
                "a qualification criterion is true or false",
            )
    return None


def value_violation(event: Event) -> Violation | None:
    """The rules on an event's own values, whatever the lead's history (422s)."""
    if event.amount is not None and not _is_number(event.amount):
        return Violation("amount_number", "amount", 422, "the amount must be a number")
    if event.kind == EventKind.WON and (event.amount is None or event.amount <= 0):
        return Violation(
            "won_needs_amount", "amount", 422, "a won deal needs its amount, greater than 0"
        )
    if event.contact_attempts is not None and (
        not _is_number(event.contact_attempts)
        or isinstance(event.contact_attempts, float)
        or event.contact_attempts < 0
    ):
        return Violation(
            "attempts_integer",
            "contact_attempts",
            422,
            "contact attempts must be a non-negative whole number",
        )
    if event.kind == EventKind.REJECTED and event.reason is None:
        return Violation("rejection_reason", "reason", 422, REJECTION_NEEDS_REASON)
    if event.qualification is not None and event.kind not in (
        EventKind.ACCEPTED,
        EventKind.QUALIFIED,
    ):
        return Violation(
            "qualification_on_acceptance",
            "qualification",
            422,
            "only an acceptance (or a qualified event) carries a qualification",
        )
    if event.kind == EventKind.QUALIFIED and event.qualification is None:
        return Violation(
            "qualified_needs_qualification",
            "qualification",
            422,
            "a qualified event carries the qualification sales confirmed",
        )
    return qualification_violation(event.qualification)
