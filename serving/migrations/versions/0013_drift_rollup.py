"""The drift section's part of the report roll-ups: the watched profile, per-decision bins.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

``serving.rollup_tables`` says what each table holds; the day sums gain an index by field
(the drift section reads its fields over every day). Nothing is built here: the drift
roll-up bins decisions by the served model's reference profile, which the database does
not know; the first drift report against a profile builds it from the log
(``serving.store.rollup_drift.use_profile``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_rollup_profile",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_drift_rollup_profile"),
    )
    op.create_table(
        "drift_rollup_decisions",
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bins", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_drift_rollup_decisions"),
    )
    op.create_index("ix_drift_rollup_decisions_lead_id", "drift_rollup_decisions", ["lead_id"])
    op.create_index("ix_drift_rollup_decisions_as_of", "drift_rollup_decisions", ["as_of"])


def downgrade() -> None:
    op.drop_table("drift_rollup_decisions")
    op.drop_table("drift_rollup_profile")
