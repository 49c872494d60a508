"""The decision log's table: append scored leads, read them back (the API, reports, training)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from scoring.contract import HandoffDecision, RejectionReason, as_utc
from serving.store.base import StoreBase
from serving.store.decision_insert import driver_value, insert_decisions, last_logged_at
from serving.store.jsonclean import (
    _canonical_dumps,
    _clean,
    _Cleaned,
    _decision_id,
    _JSONText,
    _sha256,
)
from serving.store.outbox_writes import decision_events
from serving.store.values import (
    _frame,
    _number,
    _optional_text,
    _text,
    _timestamp,
    _unknown_keys,
    _vocabulary,
)
from serving.tables import (
    CATEGORY_LEN,
    LEAD_ID_LEN,
    MODEL_VERSION_LEN,
    NAME_LEN,
    REQUEST_ID_LEN,
    Decision,
)

_DECISION_COLUMNS: tuple[str, ...] = tuple(c.name for c in Decision.__table__.columns)
_DECISION_COLUMN_SET = frozenset(_DECISION_COLUMNS)
_DECISION_REQUIRED = frozenset(
    {
        "lead_id",
        "model_name",
        "model_version",
        "features",
        "p_won",
        "fit_score",
        "engagement_score",
        "decision",
        "threshold",
    }
)
_SEGMENT_COLUMNS: tuple[str, ...] = ("channel", "industry", "company_size", "country")
_TICK = timedelta(microseconds=1)  # what both backends keep of a timestamp


class DecisionStore(StoreBase):
    """Decisions: :meth:`record_decisions` (the decision log's writer) and the reads."""

    def record_decisions(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append scored leads to the decision log: one transaction, one driver call
        (:func:`serving.store.decision_insert.insert_decisions`).

        Each row needs ``lead_id, model_name, model_version, features, p_won, fit_score,
        engagement_score, decision, threshold``; ``id``, ``request_id`` (one per call),
        ``scored_at`` (now), ``as_of`` (= scored_at), ``feature_hash``, ``reasons`` ([])
        and the segment columns (copied from ``features``) are filled in when absent.
        PII keys are dropped from ``features``. A bad row rejects the whole batch
        (``ValueError``) before anything is written. The lead events the rows cause
        (``serving.store.outbox.decision_events``) are written in the same transaction;
        returns how many.
        """
        if not rows:
            return 0
        now = self._now()
        request_id = uuid.uuid4().hex
        # One random draw per batch, not one per row: the ids are the batch's random
        # 128 bits plus the row's position, formatted as version-4 UUIDs. Still distinct
        # (only the top bits that the version and variant overwrite are lost).
        id_base = uuid.uuid4().int
        prepared = [
            self._prepare_decision(row, request_id, now, _decision_id(id_base, i))
            for i, row in enumerate(rows)
        ]
        with self._write.begin() as conn:
            logged_at = self._log_moment(conn)
            for row in prepared:
                row["logged_at"] = logged_at
            # the events these decisions cause, in the same transaction (before the
            # insert: each row is compared with the lead's decision before it)
            events = decision_events(conn, prepared, now)
            insert_decisions(conn, prepared)
        return events

    def _log_moment(self, conn: Connection) -> datetime:
        """The batch's ``logged_at``: now, but always later than every row logged before.

        Taken under the log's write lock — SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL a
        transaction-scoped advisory lock every decision writer takes — and held until the
        batch commits, so batches commit in ``logged_at`` order and a reader paging on
        ``(logged_at, id)`` never sees a row appear behind its cursor (``decisions_since``).
        """
        if conn.dialect.name == "postgresql":
            driver_value(conn, "SELECT pg_advisory_xact_lock(hashtext('leadscore-decision-log'))")
        last = last_logged_at(conn)
        now = self._now()
        return max(now, last + _TICK) if last is not None else now

    @staticmethod
    def _prepare_decision(
        row: Mapping[str, Any], request_id: str, now: datetime, default_id: str | None = None
    ) -> dict[str, Any]:
        _unknown_keys(row, _DECISION_COLUMN_SET, "decision")
        missing = sorted(k for k in _DECISION_REQUIRED if row.get(k) is None)
        if missing:
            raise ValueError(f"decision row misses required field(s): {', '.join(missing)}")
        raw_features = row["features"]
        if not isinstance(raw_features, Mapping):
            raise ValueError("features must be a mapping")
        # rows from ``build_rows`` come clean already (see ``_Cleaned``)
        features = raw_features if type(raw_features) is _Cleaned else _clean(raw_features)
        features_text = _canonical_dumps(features)
        reasons = row.get("reasons")
        if reasons is None:
            reasons = []
        if not isinstance(reasons, list | tuple):
            raise ValueError("reasons must be a list")
        scored_at = _timestamp(row.get("scored_at") or now, "scored_at")
        out: dict[str, Any] = {
            "id": _text(row.get("id") or default_id or uuid.uuid4().hex, "id", 32),
            "request_id": _text(row.get("request_id") or request_id, "request_id", REQUEST_ID_LEN),
            "lead_id": _text(row["lead_id"], "lead_id", LEAD_ID_LEN),
            "scored_at": scored_at,
            "as_of": _timestamp(row.get("as_of") or scored_at, "as_of"),
            "model_name": _text(row["model_name"], "model_name", NAME_LEN),
            "model_version": _text(str(row["model_version"]), "model_version", MODEL_VERSION_LEN),
            # ``features`` is already plain JSON data: canonical JSON without a second pass
            "feature_hash": row.get("feature_hash") or _sha256(features_text),
            "features": _JSONText(features_text),
            "p_sql": _number(row.get("p_sql"), "p_sql", required=False, lo=0.0, hi=1.0),
            "p_won": _number(row["p_won"], "p_won", lo=0.0, hi=1.0),
            "fit_score": _number(row["fit_score"], "fit_score"),
            "engagement_score": _number(row["engagement_score"], "engagement_score"),
            "decision": _vocabulary(row["decision"], "decision", HandoffDecision, required=True),
            "threshold": _number(row["threshold"], "threshold"),
            "reasons": _clean(list(reasons)),
            "likely_rejection_reason": _vocabulary(
                row.get("likely_rejection_reason"),
                "likely_rejection_reason",
                RejectionReason,
                required=False,
            ),
        }
        _text(out["feature_hash"], "feature_hash", 64)
        for name in _SEGMENT_COLUMNS:
            # Copies for reporting filters: an over-long CRM value is cut here rather than
            # failing the score (the full value stays in ``features``).
            value = row.get(name)
            if value is None:
                value = features.get(name)
            text = None if value is None else _clean(str(value))[:CATEGORY_LEN]
            out[name] = _optional_text(text, name, CATEGORY_LEN)
        return out

    def last_decision(self, lead_id: str) -> dict[str, Any] | None:
        """The newest decision for ``lead_id`` (by ``scored_at``), or ``None``."""
        table = Decision.__table__
        query = (
            select(table)
            .where(table.c.lead_id == lead_id)
            .order_by(table.c.scored_at.desc(), table.c.id.desc())
            .limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def recent_decisions(
        self,
        limit: int = 100,
        offset: int = 0,
        *,
        decision: HandoffDecision | str | None = None,
        channel: str | None = None,
        min_p_won: float | None = None,
        max_p_won: float | None = None,
        since: datetime | None = None,
        lead_id: str | None = None,
        industry: str | None = None,
        company_size: str | None = None,
        country: str | None = None,
    ) -> list[dict[str, Any]]:
        """A page of the decision log, newest first, optionally filtered (all filters AND)."""
        if not 1 <= limit <= 10_000:
            raise ValueError("limit must be within [1, 10000]")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        table = Decision.__table__
        query = select(table)
        if decision is not None:
            decision = _vocabulary(decision, "decision", HandoffDecision, required=True)
            query = query.where(table.c.decision == decision)
        for name, value in (
            ("channel", channel),
            ("lead_id", lead_id),
            ("industry", industry),
            ("company_size", company_size),
            ("country", country),
        ):
            if value is not None:
                query = query.where(table.c[name] == value)
        if min_p_won is not None:
            query = query.where(table.c.p_won >= min_p_won)
        if max_p_won is not None:
            query = query.where(table.c.p_won <= max_p_won)
        if since is not None:
            query = query.where(table.c.scored_at >= as_utc(since))
        query = (
            query.order_by(table.c.scored_at.desc(), table.c.id.desc()).limit(limit).offset(offset)
        )
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def decisions_since(
        self, after: tuple[datetime, str] | None, limit: int, *, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` decision-log rows in ``(logged_at, id)`` order, after the
        cursor ``after`` (a row's ``(logged_at, id)``) or from ``since`` (a moment), without
        the feature snapshot. Pages in this order never miss or repeat a row while new
        decisions arrive: see :meth:`_log_moment`."""
        if not 1 <= limit <= 10_000:
            raise ValueError("limit must be within [1, 10000]")
        table = Decision.__table__
        columns = [c for c in table.c if c.name not in ("features", "feature_hash")]
        query = select(*columns)
        if after is not None:
            moment, last_id = as_utc(after[0]), after[1]
            query = query.where(
                or_(
                    table.c.logged_at > moment,
                    and_(table.c.logged_at == moment, table.c.id > last_id),
                )
            )
        elif since is not None:
            query = query.where(table.c.logged_at >= as_utc(since))
        query = query.order_by(table.c.logged_at, table.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def decisions_for_training(self, since: datetime | None = None) -> pd.DataFrame:
        """The decision log as a frame, oldest first (``features`` and ``reasons`` as objects).

        Timestamps are UTC-aware; ``since`` filters on ``scored_at``.
        """
        with self._engine.connect() as conn:
            return decision_frame(conn, since=since)


def decision_frame(
    conn: Connection, *, since: datetime | None = None, lead_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """The decision log (of ``lead_ids``, else every lead) as
    :meth:`DecisionStore.decisions_for_training` gives it, read on ``conn``: the report
    roll-ups read a chunk of leads inside their own transaction."""
    table = Decision.__table__
    query = select(table).order_by(table.c.scored_at, table.c.id)
    if since is not None:
        query = query.where(table.c.scored_at >= as_utc(since))
    if lead_ids is not None:
        query = query.where(table.c.lead_id.in_(lead_ids))
    rows = conn.execute(query).mappings().all()
    return _frame(rows, _DECISION_COLUMNS, table)
