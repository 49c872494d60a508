"""decisions.logged_at: when a row reached the decision log, the key incremental loads page on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

``GET /v1/decisions?since=...`` pages through the decision log for BI loads with a
keyset cursor on ``(logged_at, id)``. ``scored_at`` cannot be that key: the background
decision log writes a row some time after its score, so a row with an older
``scored_at`` can appear after a reader has paged past it. ``logged_at`` is stamped by
the writer inside its transaction, under the log's write lock, and always later than
every row already logged (``serving.store.decisions``), so rows appear in its order.

Stored rows get their ``scored_at`` (the best moment known for them). The column is
nullable only so that SQLite can add it without copying the table; every row has one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("logged_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE decisions SET logged_at = scored_at")
    op.create_index("ix_decisions_logged_at_id", "decisions", ["logged_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_decisions_logged_at_id", table_name="decisions")
    # a plain DROP COLUMN (SQLite >= 3.35): a batch copy would lose the CHECK constraint
    op.drop_column("decisions", "logged_at")
