"""Erasures: a record of every lead erased (who, when, why, how many rows), no lead id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

A new table only; no stored row changes. ``lead_key`` is an HMAC of the lead id
(``serving.erasure``), never the id. The reason vocabulary is written out, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lead_key", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Integer(), nullable=False),
        sa.Column("history_rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        sa.CheckConstraint("reason IN ('request', 'retention')", name=op.f("ck_erasures_reason")),
    )
    op.create_index("ix_erasures_lead_key", "erasures", ["lead_key"])
    op.create_index("ix_erasures_erased_at", "erasures", ["erased_at"])


def downgrade() -> None:
    op.drop_index("ix_erasures_erased_at", table_name="erasures")
    op.drop_index("ix_erasures_lead_key", table_name="erasures")
    op.drop_table("erasures")
