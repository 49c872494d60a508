"""Report roll-ups: dirty leads marked by triggers, per-lead summaries, per-day sums.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

``serving.rollup_tables`` says what each table holds. The triggers mark a lead dirty in
the same transaction as any insert, update or delete of its decisions or feedback:
row-level on SQLite, statement-level with transition tables on PostgreSQL (one
``INSERT ... SELECT DISTINCT`` per statement, not one per row of a batch), in lead order
so that two writers marking overlapping leads wait for each other instead of
deadlocking. Every lead already in the log is marked dirty here; the first refresh
builds its roll-ups.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUP_FIELDS = (
    "channel",
    "campaign",
    "industry",
    "company_size",
    "country",
    "region",
    "revenue_band",
    "seniority",
    "department",
)
WATCHED = ("decisions", "feedback")


def upgrade() -> None:
    op.create_table(
        "report_dirty_leads",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name="pk_report_dirty_leads"),
    )
    op.create_table(
        "lead_rollups",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("cohort_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handed", sa.Integer(), nullable=False),
        sa.Column("unscored_feedback", sa.Integer(), nullable=False),
        *(sa.Column(f"g_{name}", sa.Text(), nullable=True) for name in GROUP_FIELDS),
        sa.PrimaryKeyConstraint("lead_id", name="pk_lead_rollups"),
    )
    op.create_index("ix_lead_rollups_cohort_at", "lead_rollups", ["cohort_at"])
    op.create_table(
        "lead_rollup_metrics",
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "metric", name="pk_lead_rollup_metrics"),
    )
    op.create_table(
        "report_day_sums",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("day", "field", "value", "metric", name="pk_report_day_sums"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()
    # one statement (UNION removes the duplicates): a NOT IN over the growing dirty list
    # does not finish on PostgreSQL at a million leads
    op.execute(
        "INSERT INTO report_dirty_leads (lead_id) "
        + " UNION ".join(f"SELECT lead_id FROM {table}" for table in WATCHED)
    )


def _sqlite_triggers() -> None:
    mark = "INSERT OR IGNORE INTO report_dirty_leads (lead_id) VALUES"
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_dirty_insert AFTER INSERT ON {table} "
            f"BEGIN {mark} (NEW.lead_id); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_dirty_delete AFTER DELETE ON {table} "
            f"BEGIN {mark} (OLD.lead_id); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_dirty_update AFTER UPDATE ON {table} "
            f"BEGIN {mark} (OLD.lead_id); {mark} (NEW.lead_id); END"
        )


def _postgresql_triggers() -> None:
    for rows in ("new_rows", "old_rows"):
        op.execute(
            f"CREATE FUNCTION leadscore_mark_dirty_{rows}() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO report_dirty_leads (lead_id) "
            f"SELECT DISTINCT lead_id FROM {rows} ORDER BY lead_id ON CONFLICT DO NOTHING; "
            "RETURN NULL; END $$"
        )
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_dirty_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION leadscore_mark_dirty_new_rows()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_dirty_delete AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION leadscore_mark_dirty_old_rows()"
        )
        # an update may move a row between leads: both sides are dirty (two triggers,
        # one per transition table, since a function reads one of them)
        op.execute(
            f"CREATE TRIGGER {table}_dirty_update_old AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION leadscore_mark_dirty_old_rows()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_dirty_update_new AFTER UPDATE ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION leadscore_mark_dirty_new_rows()"
        )


def downgrade() -> None:
    names = ("insert", "delete", "update", "update_old", "update_new")
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for name in names:
            on = f" ON {table}" if postgresql else ""
            op.execute(f"DROP TRIGGER IF EXISTS {table}_dirty_{name}{on}")
    if postgresql:
        for rows in ("new_rows", "old_rows"):
            op.execute(f"DROP FUNCTION IF EXISTS leadscore_mark_dirty_{rows}()")
    for table in ("report_day_sums", "lead_rollup_metrics", "lead_rollups", "report_dirty_leads"):
        op.drop_table(table)
