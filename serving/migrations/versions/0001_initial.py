"""Initial schema: api_keys, decisions, feedback.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

The vocabularies in the CHECK constraints are written out here, not imported from the
enums: a migration must keep creating the schema it created the day it was written.
Adding an enum member therefore needs a new revision that replaces the constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.CheckConstraint(
            "role IN ('scorer', 'sales', 'marketing', 'admin')", name="ck_api_keys_role"
        ),
    )
    op.create_index(
        "uq_api_keys_active_name",
        "api_keys",
        ["name"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )

    op.create_table(
        "decisions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("lead_id", sa.String(255), nullable=False),
        _ts("scored_at"),
        _ts("as_of"),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("feature_hash", sa.String(64), nullable=False),
        sa.Column("features", _JSON, nullable=False),
        sa.Column("p_sql", sa.Double(), nullable=True),
        sa.Column("p_won", sa.Double(), nullable=False),
        sa.Column("fit_score", sa.Double(), nullable=False),
        sa.Column("engagement_score", sa.Double(), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("likely_rejection_reason", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(128), nullable=True),
        sa.Column("industry", sa.String(128), nullable=True),
        sa.Column("company_size", sa.String(128), nullable=True),
        sa.Column("country", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.CheckConstraint(
            "decision IN ('hand_to_sales', 'nurture', 'disqualify')", name="ck_decisions_decision"
        ),
    )
    op.create_index("ix_decisions_lead_id_scored_at", "decisions", ["lead_id", "scored_at"])
    op.create_index("ix_decisions_scored_at", "decisions", ["scored_at"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        _ts("at"),
        _ts("received_at"),
        sa.Column("contact_attempts", sa.Integer(), nullable=True),
        sa.Column("first_response_hours", sa.Double(), nullable=True),
        sa.Column("amount", sa.Double(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decision_id", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name="fk_feedback_decision_id_decisions",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_feedback_idempotency_key"),
        sa.CheckConstraint(
            "kind IN ('accepted', 'rejected', 'returned_to_nurture', 'won', 'lost', 'disagree')",
            name="ck_feedback_kind",
        ),
        sa.CheckConstraint(
            "kind <> 'rejected' OR reason IS NOT NULL", name="ck_feedback_rejected_has_reason"
        ),
    )
    op.create_index("ix_feedback_lead_id_at", "feedback", ["lead_id", "at"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("decisions")
    op.drop_table("api_keys")
