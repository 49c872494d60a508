"""SLA histograms: the response and decision times per cohort day and month as counts.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

``serving.rollup_tables.SlaHistogram`` says what the table holds
(``serving.store.sla_hist``: the grid and its error bound). Every lead already in the log
is marked dirty, so the next refresh rebuilds the SLA part with its bucket metrics and
fills the histograms (the other parts find their own rows unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_histograms",
        sa.Column("span", sa.String(8), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("time", sa.String(64), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("span", "field", "day", "value", "time", name="pk_sla_histograms"),
    )
    # a refresh reads and rewrites the rows of the days its leads touch
    op.create_index("ix_sla_histograms_day", "sla_histograms", ["day"])
    # NOT EXISTS, not NOT IN: a hashed anti-join (as in 0014)
    op.execute(
        "INSERT INTO report_dirty_leads (lead_id) SELECT DISTINCT d.lead_id FROM decisions d "
        "WHERE NOT EXISTS (SELECT 1 FROM report_dirty_leads r WHERE r.lead_id = d.lead_id)"
    )


def downgrade() -> None:
    op.drop_index("ix_sla_histograms_day", table_name="sla_histograms")
    op.drop_table("sla_histograms")
