"""The serving side's durable tables: API keys, the decision log and sales feedback.

The roles an API key may have are :class:`serving.auth.Role` (imported here for the
key table's constraint, so ``serving.tables.Role`` still resolves).

These declarative classes are the *model* of the schema; the schema itself is created and
evolved only by the Alembic migrations in ``serving/migrations`` (``storage.upgrade``), so
that a server never starts against a half-made database. ``tests/integration/test_storage.py``
compares the migrated schema with this metadata, so the two cannot silently drift.

Timestamps are stored as UTC and always read back timezone-aware (UTC), on SQLite too,
where the column itself cannot hold an offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from scoring.contract import HandoffDecision, Outcome, RejectionReason, SalesDecision
from serving.roles import Role  # a key's row stores one


class FeedbackKind(StrEnum):
    """What a feedback event says: the SLA decision, the deal outcome, or a disagreement."""

    ACCEPTED = SalesDecision.ACCEPTED.value
    REJECTED = SalesDecision.REJECTED.value
    RETURNED_TO_NURTURE = SalesDecision.RETURNED_TO_NURTURE.value
    WON = Outcome.WON.value
    LOST = Outcome.LOST.value
    DISAGREE = "disagree"  # sales thinks the score was wrong, without a CRM decision yet
    CONTACTED = "contacted"  # a contact by sales: the first one stops the first-contact clock
    QUALIFIED = "qualified"  # the SQL confirmed (BANT/GPCT) after an acceptance


# Column sizes: PostgreSQL enforces them, SQLite does not, so ``storage`` checks them in
# Python and both backends refuse the same inputs.
ID_LEN = 32  # uuid4().hex
LEAD_ID_LEN = 255
REQUEST_ID_LEN = 128
NAME_LEN = 128
MODEL_VERSION_LEN = 64
CATEGORY_LEN = 128
IDEMPOTENCY_KEY_LEN = 255
HASH_LEN = 64  # sha256 hex

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations can drop or alter them by name."""


def sql_in(column: str, values: list[str]) -> str:
    """A ``column IN ('a', 'b')`` check expression (values are our own enum members)."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and returned timezone-aware on every backend.

    SQLite keeps ``DateTime`` as text without an offset, so an aware value written there
    would come back naive; converting to UTC on the way in and tagging UTC on the way out
    makes both backends return the same, comparable values. Naive inputs are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL (indexable, de-duplicated keys)."""


class Base(DeclarativeBase):
    """Declarative base with a naming convention (see :data:`NAMING_CONVENTION`)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class ApiKey(Base):
    """An API key. Only the sha256 of the raw key is stored, so a leaked database leaks no key.

    A name is unique among *active* keys (a partial unique index), so a revoked key's
    name can be reused when the key is rotated.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    role: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(HASH_LEN), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(sql_in("role", [r.value for r in Role]), name="role"),
        Index(
            "uq_api_keys_active_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


class PageSession(Base):
    """A signed-in browser on the pages (``/ui``); signing out deletes the row.

    The cookie carries a signed random id; the row holds only its sha256, so a copy of
    the database opens no session. ``key_hash`` names the API key signed in with, so
    revoking the key ends its sessions; ``last_seen_at`` drives the inactivity timeout.
    """

    __tablename__ = "ui_sessions"

    id_hash: Mapped[str] = mapped_column(String(HASH_LEN), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)


class Decision(Base):
    """One score the server returned: the decision log, the audit trail and a training source.

    ``features`` is the lead's non-PII input and computed features exactly as serving saw
    them, and ``feature_hash`` the sha256 of their canonical JSON, so a disputed score can
    be reproduced. Segment columns are copied out of ``features`` for reporting filters.
    """

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(REQUEST_ID_LEN))
    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN))
    scored_at: Mapped[datetime]
    as_of: Mapped[datetime]
    model_name: Mapped[str] = mapped_column(String(NAME_LEN))
    model_version: Mapped[str] = mapped_column(String(MODEL_VERSION_LEN))
    feature_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    features: Mapped[dict[str, Any]] = mapped_column(JSONType)
    p_sql: Mapped[float | None] = mapped_column(Double)
    p_won: Mapped[float] = mapped_column(Double)
    fit_score: Mapped[float] = mapped_column(Double)
    engagement_score: Mapped[float] = mapped_column(Double)
    decision: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[float] = mapped_column(Double)
    reasons: Mapped[list[Any]] = mapped_column(JSONType)
    likely_rejection_reason: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    industry: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    company_size: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    country: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    logged_at: Mapped[datetime | None]
    """When the row reached the log: stamped under the log's write lock, later than every
    row before it, so ``(logged_at, id)`` is a cursor incremental loads can page on
    (``GET /v1/decisions``). Nullable only so migration 0007 could add it; always set."""

    __table_args__ = (
        CheckConstraint(sql_in("decision", [d.value for d in HandoffDecision]), name="decision"),
        Index("ix_decisions_lead_id_scored_at", "lead_id", "scored_at"),
        Index("ix_decisions_scored_at", "scored_at"),
        # re-scoring's reads of a lead's score times and hand-overs (serving.store.open_leads)
        Index("ix_decisions_lead_id_as_of_decision", "lead_id", "as_of", "decision"),
        Index("ix_decisions_logged_at_id", "logged_at", "id"),
    )


class Feedback(Base):
    """One feedback event from sales (or the CRM on its behalf): the model's training signal.

    ``idempotency_key`` is unique, so a retried request cannot create a second row; the
    ``body_hash`` tells a genuine retry from a different request that reused a key.
    ``comment`` is free text that may contain anything, personal data included: it is
    stored, never logged and never a feature.
    """

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN))
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime]
    received_at: Mapped[datetime]
    contact_attempts: Mapped[int | None] = mapped_column(Integer)
    first_response_hours: Mapped[float | None] = mapped_column(Double)
    amount: Mapped[float | None] = mapped_column(Double)
    comment: Mapped[str | None] = mapped_column(Text)
    decision_id: Mapped[str | None] = mapped_column(
        String(ID_LEN), ForeignKey("decisions.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(NAME_LEN))
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LEN), unique=True)
    body_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    implied: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """Made explicit by the lifecycle (``scoring.lifecycle``): e.g. the acceptance a ``won``
    without one implies. Stored under the implying event's key plus ``#implied``."""
    qualification: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """What sales confirmed on acceptance: ``{"framework": "bant", "budget": true, ...}``."""

    __table_args__ = (
        CheckConstraint(sql_in("kind", [k.value for k in FeedbackKind]), name="kind"),
        CheckConstraint("kind <> 'rejected' OR reason IS NOT NULL", name="rejected_has_reason"),
        Index("ix_feedback_lead_id_at", "lead_id", "at"),
        Index("ix_feedback_received_at", "received_at"),
    )


REJECTION_REASONS: frozenset[str] = frozenset(r.value for r in RejectionReason)
"""Accepted values of ``feedback.reason`` and ``decisions.likely_rejection_reason``."""


class ErasureReason(StrEnum):
    """Why a lead was erased: a data subject's request, or the retention period ran out."""

    REQUEST = "request"
    RETENTION = "retention"


class Erasure(Base):
    """One lead erased: who, when, why and how many rows went; never the lead id itself.

    ``lead_key`` is an HMAC of the lead id under the server's erasure secret
    (``serving.erasure``), so retraining can still recognise and leave out an erased lead
    that an old CRM export holds, while a copy of this table alone cannot tell which ids
    were erased. A lead may be erased more than once (scored again later: a new consent).
    """

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_key: Mapped[str] = mapped_column(String(HASH_LEN))
    erased_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(NAME_LEN))
    reason: Mapped[str] = mapped_column(String(16))
    decisions: Mapped[int] = mapped_column(Integer)
    feedback: Mapped[int] = mapped_column(Integer)
    history_rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Rows removed from the CRM history files under the home folder."""

    __table_args__ = (
        CheckConstraint(sql_in("reason", [r.value for r in ErasureReason]), name="reason"),
        Index("ix_erasures_lead_key", "lead_key"),
        Index("ix_erasures_erased_at", "erased_at"),
    )


# --- the lead's identity (issue 13 item 5) -------------------------------------------------

DISPLAY_NAME_LEN = 200
COMPANY_NAME_LEN = 200
CRM_URL_LEN = 2048


class LeadIdentity(Base):
    """Who a lead is, for the sales pages: a display name, a company, a CRM link.

    Personal data, kept apart from everything else on purpose: never in the decision
    log (``decisions.features``), never a feature, never logged; shown only to sales
    and admin; deleted with the lead's other rows by an erasure. One row per lead,
    the newest score request's values winning field by field.
    """

    __tablename__ = "lead_identities"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_LEN))
    company_name: Mapped[str | None] = mapped_column(String(COMPANY_NAME_LEN))
    crm_url: Mapped[str | None] = mapped_column(String(CRM_URL_LEN))
    updated_at: Mapped[datetime]


# --- score push: subscriptions, the outbox and its delivery log (issue 16 item 1) ---------

URL_LEN = 2048
EVENT_ID_LEN = 64
EVENT_TYPE_LEN = 64
SUBSCRIPTION_KINDS: tuple[str, ...] = ("webhook", "amocrm", "bitrix24")
DELIVERY_STATES: tuple[str, ...] = ("pending", "delivered", "dead", "cancelled")


class WebhookSubscription(Base):
    """Who wants which events, where: a URL, the event types, the signing secret.

    ``kind`` picks the deliverer (``serving.outbox.deliver.DELIVERERS``): a plain signed
    webhook, or a CRM adapter whose field ids live in ``options``. Deleting a subscription
    only stamps ``deleted_at``: its delivery log stays readable. The secret is stored as
    given (it signs, so it cannot be a hash); it is shown once, when created.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(URL_LEN))
    events: Mapped[list[Any]] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(NAME_LEN))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(NAME_LEN))
    deleted_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint(sql_in("kind", list(SUBSCRIPTION_KINDS)), name="kind"),)


class OutboxEvent(Base):
    """One event to push, written in the transaction of the change that causes it.

    ``id`` is the ``webhook-id`` receivers deduplicate by; ``payload`` never holds
    personal data (ids, scores, decisions, reason codes and texts). ``lead_id`` is
    copied out so that an erasure can delete the lead's events too.
    """

    __tablename__ = "outbox_events"

    id: Mapped[str] = mapped_column(String(EVENT_ID_LEN), primary_key=True)
    type: Mapped[str] = mapped_column(String(EVENT_TYPE_LEN))
    occurred_at: Mapped[datetime]
    lead_id: Mapped[str | None] = mapped_column(String(LEAD_ID_LEN))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_outbox_events_lead_id", "lead_id"),
        Index("ix_outbox_events_type_occurred_at", "type", "occurred_at"),
    )


class OutboxDelivery(Base):
    """One event owed to one subscription: its state, attempts and next try.

    A worker claims a ``pending`` row by setting ``claimed_until`` (a lease): a worker
    killed mid-delivery leaves the lease to run out, and the row is tried again, so an
    event is delivered at least once. ``dead`` is the dead letter (attempts used up, or
    a permanent refusal); a replay puts it back to ``pending``.
    """

    __tablename__ = "outbox_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(
        String(EVENT_ID_LEN), ForeignKey("outbox_events.id", ondelete="CASCADE")
    )
    subscription_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("webhook_subscriptions.id")
    )
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(sql_in("state", list(DELIVERY_STATES)), name="state"),
        Index("ix_outbox_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index(
            "uq_outbox_deliveries_event_id_subscription_id",
            "event_id",
            "subscription_id",
            unique=True,
        ),
        Index("ix_outbox_deliveries_subscription_id", "subscription_id"),
    )


class DeliveryAttempt(Base):
    """The delivery log: one row per attempt (when, the answer, how long), never a body."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("outbox_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255))
    duration_ms: Mapped[float] = mapped_column(Double)

    __table_args__ = (Index("ix_delivery_attempts_delivery_id", "delivery_id"),)


# The report roll-ups live in their own module; importing it here puts them on
# ``Base.metadata`` wherever the schema model is read (migrations, the schema test).
from serving import rollup_tables as _rollup_tables  # noqa: E402, F401
