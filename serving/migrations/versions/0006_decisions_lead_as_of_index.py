"""An index on decisions (lead_id, as_of, decision): re-scoring reads the open leads by it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

``leadscore rescore`` replays the lifecycle of leads with feedback from their scores'
times and hand-overs (``serving.store.open_leads``); this index answers those reads
without touching the rows, whose ``features`` snapshot makes them large. No stored row
changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_decisions_lead_id_as_of_decision", "decisions", ["lead_id", "as_of", "decision"]
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_lead_id_as_of_decision", table_name="decisions")
