"""Score push: webhook subscriptions, the outbox, its deliveries and their attempts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

New tables only; no stored row changes (issue 16 item 1, ``docs/webhooks.md``). The
vocabularies in the CHECK constraints are written out, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", _JSON, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("options", _JSON, nullable=False),
        sa.Column("description", sa.String(128), nullable=True),
        _ts("created_at"),
        sa.Column("created_by", sa.String(128), nullable=False),
        _ts("deleted_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
        sa.CheckConstraint(
            "kind IN ('webhook', 'amocrm', 'bitrix24')", name="ck_webhook_subscriptions_kind"
        ),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        _ts("occurred_at"),
        sa.Column("lead_id", sa.String(255), nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_events"),
    )
    op.create_index("ix_outbox_events_lead_id", "outbox_events", ["lead_id"])
    op.create_index("ix_outbox_events_type_occurred_at", "outbox_events", ["type", "occurred_at"])
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _ts("next_attempt_at"),
        _ts("claimed_until", nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(255), nullable=True),
        _ts("created_at"),
        _ts("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_deliveries"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name="fk_outbox_deliveries_event_id_outbox_events",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name="fk_outbox_deliveries_subscription_id_webhook_subscriptions",
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'dead', 'cancelled')",
            name="ck_outbox_deliveries_state",
        ),
    )
    op.create_index(
        "ix_outbox_deliveries_state_next_attempt_at",
        "outbox_deliveries",
        ["state", "next_attempt_at"],
    )
    op.create_index(
        "uq_outbox_deliveries_event_id_subscription_id",
        "outbox_deliveries",
        ["event_id", "subscription_id"],
        unique=True,
    )
    op.create_index(
        "ix_outbox_deliveries_subscription_id", "outbox_deliveries", ["subscription_id"]
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(255), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["outbox_deliveries.id"],
            name="fk_delivery_attempts_delivery_id_outbox_deliveries",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox_events")
    op.drop_table("webhook_subscriptions")
