"""Page sessions: one row per signed-in browser, so that signing out ends the session.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

A table of its own (nothing else changes), so it can sit after any other revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_ui_sessions")),
    )
    op.create_index(op.f("ix_ui_sessions_last_seen_at"), "ui_sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ui_sessions_last_seen_at"), table_name="ui_sessions")
    op.drop_table("ui_sessions")
