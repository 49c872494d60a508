"""The sales queue's roll-ups: one row per lead, its trend's changes, counts per filter.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``serving.rollup_tables`` says what each table holds (``QueueLead``, ``QueueChange``,
``QueueCount``); ``serving.store.rollup_queue`` keeps them. Every scored lead is marked
dirty here, so the next refresh fills the new tables (the other parts recompute the
same sums: their day sums do not move).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "queue_leads",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        _ts("scored_at", nullable=False),
        _ts("as_of", nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("p_sql", sa.Double(), nullable=True),
        sa.Column("p_won", sa.Double(), nullable=False),
        sa.Column("fit_score", sa.Double(), nullable=False),
        sa.Column("engagement_score", sa.Double(), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("likely_rejection_reason", sa.String(32), nullable=True),
        *(
            sa.Column(name, sa.String(128), nullable=True)
            for name in ("channel", "industry", "company_size", "country")
        ),
        sa.Column("sales_kind", sa.String(32), nullable=True),
        sa.Column("sales_reason", sa.String(32), nullable=True),
        _ts("sales_at"),
        _ts("decided_at"),
        _ts("handoff_at"),
        sa.Column("decided", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("multi", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name="pk_queue_leads"),
    )
    op.create_index(
        "ix_queue_leads_scored_at_decision_id", "queue_leads", ["scored_at", "decision_id"]
    )
    op.create_index(
        "ix_queue_leads_status", "queue_leads", ["decided", "decision", "scored_at", "decision_id"]
    )
    op.create_index(
        "ix_queue_leads_handoff_at",
        "queue_leads",
        ["handoff_at", "decided", "decision", "channel", "band", "multi"],
    )
    op.create_table(
        "queue_changes",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _ts("since"),
        _ts("until", nullable=False),
        sa.Column("change", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "seq", name="pk_queue_changes"),
    )
    op.create_table(
        "queue_counts",
        sa.Column("decided", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("multi", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "decided", "decision", "channel", "band", "multi", name="pk_queue_counts"
        ),
    )
    # NOT EXISTS, an anti-join: NOT IN over a large dirty list is quadratic on PostgreSQL
    op.execute(
        "INSERT INTO report_dirty_leads (lead_id) SELECT DISTINCT d.lead_id FROM decisions d "
        "WHERE NOT EXISTS (SELECT 1 FROM report_dirty_leads r WHERE r.lead_id = d.lead_id)"
    )


def downgrade() -> None:
    for table in ("queue_counts", "queue_changes", "queue_leads"):
        op.drop_table(table)
