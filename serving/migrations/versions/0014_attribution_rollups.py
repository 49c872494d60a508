"""Attribution roll-ups: per-lead credits and the time-decay half-lives kept summed.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

``serving.rollup_tables.LeadAttribution`` and ``AttributionHalfLife`` say what the tables
hold. The default half-life (7 days) is kept from the start; every lead already in the
log is marked dirty, so the next refresh computes its credits (the other parts find
their own rows unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_HALF_LIFE_DAYS = 7.0


def upgrade() -> None:
    op.create_table(
        "lead_attribution",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("credits", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name="pk_lead_attribution"),
    )
    op.create_table(
        "attribution_half_lives",
        sa.Column("half_life_days", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("half_life_days", name="pk_attribution_half_lives"),
    )
    op.execute(
        f"INSERT INTO attribution_half_lives (half_life_days) VALUES ({DEFAULT_HALF_LIFE_DAYS})"
    )
    # NOT EXISTS, not NOT IN: PostgreSQL plans it as a hashed anti-join, where NOT IN
    # over a dirty list of a million leads that outgrows work_mem is rescanned per row
    op.execute(
        "INSERT INTO report_dirty_leads (lead_id) SELECT DISTINCT d.lead_id FROM decisions d "
        "WHERE NOT EXISTS (SELECT 1 FROM report_dirty_leads r WHERE r.lead_id = d.lead_id)"
    )


def downgrade() -> None:
    op.drop_table("attribution_half_lives")
    op.drop_table("lead_attribution")
