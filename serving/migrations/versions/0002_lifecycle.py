"""Lead lifecycle: ``contacted`` and ``qualified`` feedback, implied steps, qualification.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Adds two feedback kinds (a first contact, the SQL confirmation), the ``implied`` flag
(a step the lifecycle made explicit, e.g. the acceptance a ``won`` implies) and the
``qualification`` an acceptance may carry (BANT or GPCT). Every stored row is kept:
the new columns are nullable or default to false, and the kind constraint only widens.
SQLite cannot alter a CHECK constraint, so the table is copied there (batch mode), from
the table as 0001 created it; the vocabularies are written out, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_OLD_KINDS = "'accepted', 'rejected', 'returned_to_nurture', 'won', 'lost', 'disagree'"
_NEW_KINDS = _OLD_KINDS + ", 'contacted', 'qualified'"


_OLD_NAME = "ck_feedback_ck_feedback_kind"  # what 0001 made of "ck_feedback_kind" (the
# naming convention prefixed it again); the new constraint gets the intended name
_NEW_NAME = "ck_feedback_kind"


def _feedback(kinds: str, kind_check: str, *extra: sa.Column) -> sa.Table:
    """The feedback table as 0001 made it, with ``kinds`` and ``extra`` columns.

    SQLite's batch mode copies the table from this definition: SQLite does not report
    CHECK constraints, so a reflected copy would lose them.
    """

    def ts(name: str) -> sa.Column:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=False)

    return sa.Table(
        "feedback",
        sa.MetaData(),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        ts("at"),
        ts("received_at"),
        sa.Column("contact_attempts", sa.Integer(), nullable=True),
        sa.Column("first_response_hours", sa.Double(), nullable=True),
        sa.Column("amount", sa.Double(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decision_id", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        *extra,
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name="fk_feedback_decision_id_decisions",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_feedback_idempotency_key"),
        sa.CheckConstraint(f"kind IN ({kinds})", name=kind_check),
        sa.CheckConstraint(
            "kind <> 'rejected' OR reason IS NOT NULL",
            name="ck_feedback_ck_feedback_rejected_has_reason",
        ),
        sa.Index("ix_feedback_lead_id_at", "lead_id", "at"),
        sa.Index("ix_feedback_received_at", "received_at"),
    )


def upgrade() -> None:
    with op.batch_alter_table("feedback", copy_from=_feedback(_OLD_KINDS, _OLD_NAME)) as batch:
        batch.drop_constraint(op.f(_OLD_NAME), type_="check")
        batch.create_check_constraint(op.f(_NEW_NAME), f"kind IN ({_NEW_KINDS})")
        for column in _new_columns():
            batch.add_column(column)


def _new_columns() -> list[sa.Column]:
    return [
        sa.Column("implied", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("qualification", _JSON, nullable=True),
    ]


def downgrade() -> None:
    op.execute("DELETE FROM feedback WHERE kind IN ('contacted', 'qualified')")
    with op.batch_alter_table(
        "feedback", copy_from=_feedback(_NEW_KINDS, _NEW_NAME, *_new_columns())
    ) as batch:
        batch.drop_column("qualification")
        batch.drop_column("implied")
        batch.drop_constraint(op.f(_NEW_NAME), type_="check")
        batch.create_check_constraint(op.f(_OLD_NAME), f"kind IN ({_OLD_KINDS})")
