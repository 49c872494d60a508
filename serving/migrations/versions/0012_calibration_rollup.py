"""The calibration section's part of the report roll-ups: one row per scored lead.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

``serving.rollup_tables.LeadCalibration`` says what a row holds;
``serving.store.rollup_calibration`` keeps it and its day sums current; an index on the
day sums' ``(field, day)`` lets a section read its own fields. Every scored lead
is marked dirty here, so the first refresh after the upgrade builds the new rows (and
recomputes the lead's other parts, which then move the day sums by nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_calibration",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("cohort_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        *(sa.Column(name, sa.Double(), nullable=True) for name in ("y_sql", "y_won")),
        sa.Column("sql_band", sa.Integer(), nullable=True),
        sa.Column("won_band", sa.Integer(), nullable=True),
        *(
            sa.Column(name, sa.Double(), nullable=True)
            for name in ("p_sql", "p_won", "p_sql_clip", "p_won_clip", "sql_sq", "won_sq")
        ),
        sa.PrimaryKeyConstraint("lead_id", name="pk_lead_calibration"),
    )
    op.create_index("ix_lead_calibration_cohort_at", "lead_calibration", ["cohort_at"])
    op.create_index("ix_lead_calibration_last_event_at", "lead_calibration", ["last_event_at"])
    # the report reads its own fields of the day sums over a range of days
    op.create_index("ix_report_day_sums_field_day", "report_day_sums", ["field", "day"])
    # NOT EXISTS, an anti-join: a NOT IN over a large dirty list is a scan per lead
    op.execute(
        "INSERT INTO report_dirty_leads (lead_id) SELECT DISTINCT d.lead_id FROM decisions d "
        "WHERE NOT EXISTS (SELECT 1 FROM report_dirty_leads r WHERE r.lead_id = d.lead_id)"
    )


def downgrade() -> None:
    op.drop_index("ix_report_day_sums_field_day", table_name="report_day_sums")
    op.drop_table("lead_calibration")
