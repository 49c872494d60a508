"""SLA roll-ups: per-lead SLA times, sums and open clocks; the clocks they were made with.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

``serving.rollup_tables`` says what each table holds (``LeadSla``, ``LeadSlaMetric``,
``LeadSlaDue``, ``SlaRollupClocks``). Every lead the roll-ups already hold is marked
dirty here, so the next refresh adds its SLA rows and sums.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_sla",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("response_hours", sa.Double(), nullable=True),
        sa.Column("decision_hours", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("lead_id", name="pk_lead_sla"),
    )
    op.create_table(
        "lead_sla_metrics",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "metric", name="pk_lead_sla_metrics"),
    )
    op.create_table(
        "lead_sla_due",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "rule", "due_at", name="pk_lead_sla_due"),
    )
    op.create_index("ix_lead_sla_due_due_at", "lead_sla_due", ["due_at"])
    op.create_table(
        "sla_rollup_clocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_hours", sa.Double(), nullable=False),
        sa.Column("sql_confirm_hours", sa.Double(), nullable=False),
        sa.Column("first_contact_hours", sa.Double(), nullable=False),
        sa.Column("min_contact_attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sla_rollup_clocks"),
    )
    op.execute(
        "INSERT INTO report_dirty_leads (lead_id) SELECT l.lead_id FROM lead_rollups l "
        "WHERE NOT EXISTS (SELECT 1 FROM report_dirty_leads r WHERE r.lead_id = l.lead_id)"
    )


def downgrade() -> None:
    for table in ("sla_rollup_clocks", "lead_sla_due", "lead_sla_metrics", "lead_sla"):
        op.drop_table(table)
