"""Request bodies shared by the integration and browser tests (one definition each).

They used to live in ``test_api.py``, ``test_pages.py`` and ``test_retrain.py`` and were
imported from there by other test modules; a test module importing another one ties
their folders together, and these are data, not tests.
"""

from __future__ import annotations

from typing import Any

PII = {"name": "Olga Petrova", "email": "olga.petrova@example.org", "phone": "+7-916-555-0199"}

LEAD: dict[str, Any] = {
    "lead_id": "api-lead-1",
    "created_at": "2026-03-01T09:00:00Z",
    "channel": "webinar",
    "campaign": "webinar_q2_ai",
    "industry": "software",
    "company_size": "201-500",
    "country": "DE",
    "region": "EMEA",
    "revenue_band": "10M-50M",
    "seniority": "director",
    "department": "marketing",
    "consent_email": True,
    **PII,
    "touches": [
        {"at": "2026-03-20T10:00:00Z", "type": "webinar_attended"},
        {"at": "2026-03-27T10:00:00Z", "type": "pricing_page_view"},
        {"at": "2026-03-28T10:00:00Z", "type": "demo_request"},
    ],
}
"""A well-fitting lead with personal data, as the API receives it."""

FEEDBACK = {
    "lead_id": "api-lead-1",
    "kind": "rejected",
    "reason": "too_early",
    "at": "2026-03-30T12:00:00Z",
    "contact_attempts": 3,
    "first_response_hours": 5.5,
    "comment": "call back next quarter, olga.petrova@example.org",
}
"""Feedback on :data:`LEAD`, its comment naming the lead's e-mail address."""

SCORED_BEFORE_FEEDBACK = {**LEAD, "as_of": "2026-03-30T09:00:00Z"}
"""LEAD scored before FEEDBACK's time: feedback needs a lead scored before it (lifecycle)."""

HOT: dict[str, Any] = {**LEAD, "lead_id": "ui-hot-1"}
"""The pages' hot lead: :data:`LEAD` under its own id."""

COLD: dict[str, Any] = {
    **HOT,
    "lead_id": "ui-cold-1",
    "channel": "paid_social",
    "industry": "government",
    "company_size": "1-10",
    "seniority": "intern",
    "touches": [],
}
"""A lead that fits badly and has done nothing."""


def lead_body(lead_id: str, as_of: str) -> dict[str, Any]:
    """A small lead in the contract's fields, scored as of ``as_of``."""
    return {
        "lead_id": lead_id,
        "created_at": "2026-04-01T09:00:00Z",
        "channel": "webinar",
        "industry": "software",
        "company_size": "201-500",
        "country": "DE",
        "seniority": "director",
        "touches": [{"at": "2026-04-02T10:00:00Z", "type": "pricing_page_view"}],
        "as_of": as_of,
    }
