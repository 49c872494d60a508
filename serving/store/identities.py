"""The ``lead_identities`` table: a lead's display name, company and CRM link (personal data).

Written by the decision log's thread from score requests that carry them
(:func:`serving.identity.identity_rows`), read by the sales pages for the leads they
show, deleted by an erasure (:mod:`serving.store.erasure`). Messages name fields, never
values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from serving.store.base import StoreBase
from serving.store.values import _optional_text, _text
from serving.tables import (
    COMPANY_NAME_LEN,
    CRM_URL_LEN,
    DISPLAY_NAME_LEN,
    LEAD_ID_LEN,
    LeadIdentity,
)

_LENGTHS: dict[str, int] = {
    "display_name": DISPLAY_NAME_LEN,
    "company_name": COMPANY_NAME_LEN,
    "crm_url": CRM_URL_LEN,
}

_CHUNK = 1000


class IdentityStore(StoreBase):
    """Lead identities: :meth:`record_identities` (upsert) and :meth:`identities` (read)."""

    def record_identities(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert or update each lead's identity; a field sent as ``None`` keeps its value.

        One statement (``INSERT … ON CONFLICT DO UPDATE``, SQLite and PostgreSQL), so two
        writers cannot both insert a lead. Several rows for one lead in ``rows``: the
        later ones win field by field. A bad row rejects the whole call (``ValueError``).
        """
        merged: dict[str, dict[str, Any]] = {}
        for row in rows:
            lead_id = _text(row.get("lead_id"), "lead_id", LEAD_ID_LEN)
            into = merged.setdefault(lead_id, dict.fromkeys(_LENGTHS))
            for name, length in _LENGTHS.items():
                value = _optional_text(row.get(name), name, length)
                if value is not None:
                    into[name] = value
        if not merged:
            return
        now = self._now()
        values = [{"lead_id": k, **v, "updated_at": now} for k, v in merged.items()]
        table = LeadIdentity.__table__
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        with self._write.begin() as conn:
            # chunks keep SQLite under its limit of bound parameters per statement
            for start in range(0, len(values), _CHUNK):
                statement = dialect.insert(table).values(values[start : start + _CHUNK])
                excluded = statement.excluded
                statement = statement.on_conflict_do_update(
                    index_elements=[table.c.lead_id],
                    set_={
                        **{n: func.coalesce(excluded[n], table.c[n]) for n in _LENGTHS},
                        "updated_at": excluded.updated_at,
                    },
                )
                conn.execute(statement)

    def identities(self, lead_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored identity of each of ``lead_ids`` that has one (by primary key)."""
        ids = sorted(set(lead_ids))
        if not ids:
            return {}
        table = LeadIdentity.__table__
        query = select(table).where(table.c.lead_id.in_(ids))
        with self._engine.connect() as conn:
            return {str(r["lead_id"]): dict(r) for r in conn.execute(query).mappings()}
