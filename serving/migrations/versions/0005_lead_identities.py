"""Lead identities: a display name, company name and CRM link per lead (personal data).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

A new table only; no stored row changes. Kept out of ``decisions`` so that the decision
log never holds it (``serving.tables.LeadIdentity``); an erasure deletes its row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_identities",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("company_name", sa.String(200), nullable=True),
        sa.Column("crm_url", sa.String(2048), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_lead_identities")),
    )


def downgrade() -> None:
    op.drop_table("lead_identities")
