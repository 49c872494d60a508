"""The data contract: the four canonical tables every CRM export maps onto.

Training, serving, the synthetic generator and the CRM importers all speak these
column names and vocabularies, so that a lead means the same thing everywhere.
``docs/data-contract.md`` is the human-readable version of this module.

Personal data (name, email, phone) is part of the *leads* table because a CRM
export carries it, but it is listed in :data:`PII_COLUMNS` and never reaches a
feature, a log line or an error message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class Channel(StrEnum):
    """Marketing channel that produced the lead (first touch)."""

    SEO = "seo"
    PAID_SEARCH = "paid_search"
    PAID_SOCIAL = "paid_social"
    CONTENT = "content"
    WEBINAR = "webinar"
    REFERRAL = "referral"
    EVENT = "event"
    EMAIL = "email"
    DIRECT = "direct"
    PARTNER = "partner"
    OTHER = "other"


class TouchType(StrEnum):
    """One interaction of the lead with marketing, as the web analytics / MAP records it."""

    PAGE_VIEW = "page_view"
    PRICING_PAGE_VIEW = "pricing_page_view"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    CONTENT_DOWNLOAD = "content_download"
    WEBINAR_REGISTERED = "webinar_registered"
    WEBINAR_ATTENDED = "webinar_attended"
    DEMO_REQUEST = "demo_request"
    FORM_SUBMIT = "form_submit"
    CHAT = "chat"
    CALL = "call"


class SalesDecision(StrEnum):
    """What sales did with a handed-over lead (the SLA's accept / reject / return)."""

    ACCEPTED = "accepted"  # accepted as SQL (BANT confirmed)
    REJECTED = "rejected"  # rejected, with a mandatory reason tag
    RETURNED_TO_NURTURE = "returned_to_nurture"  # back to marketing, not dropped


class RejectionReason(StrEnum):
    """The mandatory reason tag on a rejection (DOMAIN.md)."""

    NO_BUDGET = "no_budget"
    NOT_ICP = "not_icp"
    TOO_EARLY = "too_early"
    COMPETITOR_WON = "competitor_won"
    NO_RESPONSE = "no_response"
    BAD_CONTACT_DATA = "bad_contact_data"
    DUPLICATE = "duplicate"
    OTHER = "other"


class Outcome(StrEnum):
    """How a deal (an SQL) ended."""

    WON = "won"
    LOST = "lost"


class HandoffDecision(StrEnum):
    """The service's recommendation for a scored lead."""

    HAND_TO_SALES = "hand_to_sales"
    NURTURE = "nurture"
    DISQUALIFY = "disqualify"


COMPANY_SIZES: tuple[str, ...] = (
    "1-10",
    "11-50",
    "51-200",
    "201-500",
    "501-1000",
    "1001-5000",
    "5001+",
)
"""Employee-count bands, smallest first (ordered: the feature pipeline keeps the order)."""

REVENUE_BANDS: tuple[str, ...] = ("<1M", "1M-10M", "10M-50M", "50M-250M", "250M-1B", "1B+")
"""Annual revenue bands in USD, smallest first."""

SENIORITIES: tuple[str, ...] = (
    "intern",
    "individual",
    "manager",
    "director",
    "vp",
    "c_level",
    "owner",
)
"""Seniority of the contact, lowest first."""

DEPARTMENTS: tuple[str, ...] = (
    "marketing",
    "sales",
    "it",
    "engineering",
    "finance",
    "operations",
    "hr",
    "executive",
    "other",
)

# --- the four tables -------------------------------------------------------------------

LEAD_ID = "lead_id"

LEAD_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "created_at",
    "mql_at",
    "channel",
    "campaign",
    "industry",
    "company_size",
    "country",
    "region",
    "revenue_band",
    "job_title",
    "seniority",
    "department",
    "consent_email",
    "consent_phone",
    "name",
    "email",
    "phone",
)
"""Columns of the *leads* table."""

PII_COLUMNS: frozenset[str] = frozenset({"name", "email", "phone"})
"""Personal data: never a feature, never logged, never echoed in an error."""

NOT_FEATURES: frozenset[str] = PII_COLUMNS | {"lead_id", "created_at", "mql_at", "job_title"}
"""Lead columns that are identifiers, timestamps or free text, not model inputs.

``job_title`` is free text; its information reaches the model through the
``seniority`` and ``department`` columns the CRM (or the importer) derives from it.
"""

LEAD_CATEGORICAL_FEATURES: tuple[str, ...] = (
    "channel",
    "campaign",
    "industry",
    "country",
    "region",
    "department",
)
"""Unordered categorical lead fields used as features."""

LEAD_ORDINAL_FEATURES: dict[str, tuple[str, ...]] = {
    "company_size": COMPANY_SIZES,
    "revenue_band": REVENUE_BANDS,
    "seniority": SENIORITIES,
}
"""Ordered categorical lead fields used as features, with their order."""

LEAD_BOOLEAN_FEATURES: tuple[str, ...] = ("consent_email", "consent_phone")

TOUCH_COLUMNS: tuple[str, ...] = ("lead_id", "at", "type", "channel")
"""Columns of the *touches* table."""

TOUCH_UTM_COLUMNS: tuple[str, ...] = ("utm_source", "utm_medium", "utm_campaign")
"""Optional columns of the *touches* table: the UTM tags of the visit a touch came from
(web-analytics imports fill them, see ``training.webtouches``). Kept with a saved history
for attribution; never features: validation hands training only :data:`TOUCH_COLUMNS`."""

FEEDBACK_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "at",
    "decision",
    "reason",
    "contact_attempts",
    "first_response_hours",
    "comment",
)
"""Columns of the *sales feedback* table. ``comment`` is free text and never a feature."""

OUTCOME_COLUMNS: tuple[str, ...] = ("lead_id", "outcome", "amount", "closed_at", "loss_reason")
"""Columns of the *outcomes* table (one row per SQL that closed)."""

TABLES: dict[str, tuple[str, ...]] = {
    "leads": LEAD_COLUMNS,
    "touches": TOUCH_COLUMNS,
    "feedback": FEEDBACK_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
}

# --- label rules from rejection tags ----------------------------------------------------

NEGATIVE_REASONS: frozenset[RejectionReason] = frozenset(
    {
        RejectionReason.NOT_ICP,
        RejectionReason.NO_BUDGET,
        RejectionReason.COMPETITOR_WON,
        RejectionReason.NO_RESPONSE,
        RejectionReason.OTHER,
    }
)
"""Rejections that say the lead was not going to buy: a plain negative."""

DATA_QUALITY_REASONS: frozenset[RejectionReason] = frozenset(
    {RejectionReason.DUPLICATE, RejectionReason.BAD_CONTACT_DATA}
)
"""Rejections that say nothing about the buyer: the row is excluded, not a negative."""

DEFERRED_REASONS: frozenset[RejectionReason] = frozenset({RejectionReason.TOO_EARLY})
"""Rejections that mean "not yet": labelled by what the lead did later, not as a 0."""


def as_utc(value: datetime) -> datetime:
    """The contract's rule for times: without a zone a time is UTC; aware times convert."""
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
