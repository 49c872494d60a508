"""Erasure of leads (deletion, not anonymisation) and the retention queries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, union_all
from sqlalchemy.engine import Connection

from scoring.contract import as_utc
from serving.store.base import StoreBase, lock_lead
from serving.store.outbox_writes import delete_lead_events
from serving.store.rollups import refresh_leads
from serving.store.values import _text, _vocabulary
from serving.tables import (
    LEAD_ID_LEN,
    NAME_LEN,
    Decision,
    Erasure,
    ErasureReason,
    Feedback,
    LeadIdentity,
)

log = logging.getLogger("leadscore.storage")

_ERASE_CHUNK = 200
"""Leads erased per transaction (see :meth:`Store.erase_leads`)."""


def _delete_rows(conn: Connection, lead_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Delete the leads' feedback, decisions and identity; row counts per lead and table.

    It first takes each lead's lock (:func:`~serving.store.base.lock_lead`), the one the
    feedback writer takes: an event being checked against a lead's history finishes
    before its rows go, or starts after.
    """
    for lead_id in sorted(lead_ids):
        lock_lead(conn, lead_id)
    counts = {i: {"decisions": 0, "feedback": 0} for i in lead_ids}
    for table, name in ((Feedback.__table__, "feedback"), (Decision.__table__, "decisions")):
        gone = conn.execute(
            delete(table).where(table.c.lead_id.in_(lead_ids)).returning(table.c.lead_id)
        ).scalars()
        for lead_id in gone:
            counts[lead_id][name] += 1
    identities = LeadIdentity.__table__  # name, company, CRM link: no count is recorded
    conn.execute(delete(identities).where(identities.c.lead_id.in_(lead_ids)))
    delete_lead_events(conn, lead_ids)  # pushes not yet delivered about them go too
    return counts


class ErasureStore(StoreBase):
    """Erasure: every row of a lead goes, one record of who, when and how many stays."""

    def erase_leads(
        self,
        lead_ids: Sequence[str],
        *,
        lead_key: Callable[[str], str],
        actor: str,
        reason: ErasureReason | str = ErasureReason.REQUEST,
        history_rows: Mapping[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        """Delete every decision, feedback and identity row of ``lead_ids``; record each.

        Deletion, not anonymisation: a decision's feature snapshot (touches included) and
        a feedback comment can tie a row back to the person, and the lead id itself is
        what ties the rest. Implied steps, qualifications and idempotency records are
        feedback rows and go with it. Each lead gets an :class:`~serving.tables.Erasure`
        row (who, when, why, row counts, ``lead_key(lead_id)``; never the id) in the
        transaction that deletes its rows (one per ``_ERASE_CHUNK`` leads).
        ``history_rows`` are the rows the caller removed from files.

        On SQLite the WAL is checkpointed and truncated afterwards, so the deleted rows'
        old page images do not stay in ``-wal``; ``secure_delete`` (see
        :func:`make_engine`) zeroes them in the database file. PostgreSQL keeps dead
        tuples until its next (auto)vacuum (``docs/privacy.md``).
        """
        ids = list(dict.fromkeys(_text(i, "lead_id", LEAD_ID_LEN) for i in lead_ids))
        actor_name = _text(actor, "actor", NAME_LEN)
        why = _vocabulary(reason, "reason", ErasureReason, required=True)
        if not ids:
            return []
        now = self._now()
        records: list[dict[str, Any]] = []
        # one transaction per chunk: a retention run may erase thousands of leads, and
        # PostgreSQL's lock table has room for a few thousand advisory locks in all
        for start in range(0, len(ids), _ERASE_CHUNK):
            chunk = ids[start : start + _ERASE_CHUNK]
            with self._write.begin() as conn:
                counts = _delete_rows(conn, chunk)
                refresh_leads(conn, chunk)  # nothing of theirs left in the report roll-ups
                done = [
                    {
                        "lead_key": lead_key(lead_id),
                        "erased_at": now,
                        "actor": actor_name,
                        "reason": why,
                        **counts[lead_id],
                        "history_rows": int((history_rows or {}).get(lead_id, 0)),
                    }
                    for lead_id in chunk
                ]
                conn.execute(insert(Erasure.__table__), done)
            records += done
        self._truncate_wal()
        return [{k: v for k, v in r.items() if k != "lead_key"} for r in records]

    def _truncate_wal(self) -> None:
        """SQLite: copy the WAL into the database and empty it (best effort)."""
        if self._engine.dialect.name != "sqlite":
            return
        with self._engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy is not None and busy[0]:
            log.warning(
                "WAL checkpoint after an erasure was blocked by a reader; it will "
                "complete at the next checkpoint"
            )

    def leads_inactive_since(self, cutoff: datetime) -> list[str]:
        """Leads whose last score and last feedback were both received before ``cutoff``.

        What the retention period erases: a lead that is still being worked (a recent
        score or event) keeps its whole history, older rows included.
        """
        decisions, feedback = Decision.__table__, Feedback.__table__
        last = union_all(
            select(decisions.c.lead_id, func.max(decisions.c.scored_at).label("last")).group_by(
                decisions.c.lead_id
            ),
            select(feedback.c.lead_id, func.max(feedback.c.received_at).label("last")).group_by(
                feedback.c.lead_id
            ),
        ).subquery()
        query = (
            select(last.c.lead_id)
            .group_by(last.c.lead_id)
            .having(func.max(last.c.last) < as_utc(cutoff))
            .order_by(last.c.lead_id)
        )
        with self._engine.connect() as conn:
            return [str(lead_id) for lead_id in conn.execute(query).scalars()]

    def erased_lead_keys(self) -> set[str]:
        """The keys (HMACs) of every lead ever erased: what retraining leaves out."""
        table = Erasure.__table__
        with self._engine.connect() as conn:
            return {str(k) for k in conn.execute(select(table.c.lead_key).distinct()).scalars()}

    def erasures(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest erasure records (without their keys), for audits."""
        table = Erasure.__table__
        columns = [c for c in table.c if c.name != "lead_key"]
        query = select(*columns).order_by(table.c.erased_at.desc(), table.c.id.desc())
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.limit(limit)).mappings()]
