"""Stored rows and tables as lifecycle events: the decision log and the feedback table.

Retraining and the reports read feedback through :func:`consistent_feedback`, so rows
stored before the rules existed cannot tell a story the lifecycle refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import pandas as pd

from scoring.contract import as_utc
from scoring.lifecycle.states import Event, EventKind
from scoring.lifecycle.transitions import Replay, replay
from scoring.timestamps import iso_utc


def _utc(value: Any) -> datetime | None:
    """A stored time (datetime, pandas timestamp or ISO text) as an aware UTC datetime.

    The two forms the decision log holds take a short cut that gives the same datetime
    (same instant, ``UTC`` as its zone) as ``pd.Timestamp``, at a tenth of its cost:
    finding the open leads parses one ``created_at`` per closed lead (20,000 of them).
    """
    moment = iso_utc(value)
    if moment is not None:
        return moment
    if type(value) is datetime:
        return as_utc(value)
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    return as_utc(stamp.to_pydatetime())  # the contract's rule: no zone means UTC


def _present(value: Any) -> Any:
    if value is None or (not isinstance(value, Mapping | list) and pd.isna(value)):
        return None
    return value


def scored_event(as_of: Any, decision: str, features: Mapping[str, Any] | None) -> Event:
    """A served score (a decision-log row's fields) as a ``scored`` event."""
    moment = _utc(as_of)
    if moment is None:
        raise ValueError("a served score needs its as_of")
    return Event(
        EventKind.SCORED,
        moment,
        decision=decision,
        created_at=_utc((features or {}).get("created_at")),
    )


def feedback_row_event(row: Mapping[str, Any], ref: Any = None) -> Event:
    """A stored feedback row (the table's columns, or a feedback frame's) as an event."""
    moment = _utc(row["at"])
    if moment is None:
        raise ValueError("a feedback event needs its time")
    attempts = _present(row.get("contact_attempts"))
    return Event(
        str(row["kind"]),
        moment,
        reason=_present(row.get("reason")),
        amount=_present(row.get("amount")),
        contact_attempts=None if attempts is None else int(attempts),
        qualification=_present(row.get("qualification")),
        implied=bool(_present(row.get("implied")) or False),
        ref=ref,
    )


def replay_tables(decisions: pd.DataFrame, feedback: pd.DataFrame) -> dict[str, Replay]:
    """Every scored lead's history replayed: the decision log plus the feedback table.

    Feedback events carry their row label in ``ref``; leads never scored are absent
    (their feedback cannot be placed in a lifecycle).
    """
    events: dict[str, list[Event]] = {}
    for lead_id, as_of, decision, features in zip(
        decisions["lead_id"],
        decisions["as_of"],
        decisions["decision"],
        decisions["features"] if "features" in decisions else [None] * len(decisions),
        strict=True,
    ):
        events.setdefault(lead_id, []).append(scored_event(as_of, decision, features))
    records = cast(list[dict[str, Any]], feedback.to_dict(orient="records"))
    for label, row in zip(feedback.index, records, strict=True):
        if row["lead_id"] in events:
            events[row["lead_id"]].append(feedback_row_event(row, ref=label))
    return {lead_id: replay(history) for lead_id, history in events.items()}


def consistent_feedback(
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    replays: Mapping[str, Replay] | None = None,
) -> pd.DataFrame:
    """The feedback rows the lifecycle holds, plus the implied steps, in the same columns.

    For retraining and the reports: rows stored before the rules (a ``won`` after a
    ``lost``, a deal without an amount, feedback on a lead never scored) are left out,
    and a deal without a recorded acceptance gets its acceptance (``implied``), so
    SQL→won can never exceed 100 %. ``replays``: :func:`replay_tables` of the same two
    tables, when the caller has it already (the reports need it too; the replay is most
    of the cost).
    """
    if feedback.empty or decisions.empty:
        return feedback.iloc[0:0].assign(implied=False)
    keep: list[Any] = []
    implied: list[dict[str, Any]] = []
    if replays is None:
        replays = replay_tables(decisions, feedback)
    for lead_id, result in replays.items():
        for event in result.events:
            if event.ref is not None:
                keep.append(event.ref)
            elif event.kind != EventKind.SCORED and event.implied:
                implied.append(
                    {"lead_id": lead_id, "kind": event.kind, "at": event.at, "implied": True}
                )
    kept = feedback.loc[keep].copy()
    if "implied" not in kept.columns:
        kept["implied"] = False
    if not implied:
        return kept
    made = pd.DataFrame(implied).reindex(columns=kept.columns)
    made["at"] = pd.to_datetime(made["at"], utc=True)
    if "received_at" in made:
        made["received_at"] = made["at"]
    return pd.concat([kept, made], ignore_index=True).sort_values(["at"], kind="stable")
