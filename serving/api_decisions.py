"""``GET /v1/decisions``: the whole decision log, page by page, for incremental BI loads.

A nightly (or hourly) load asks for the rows logged since its last run: ``since`` is a
moment (ISO 8601, the first load) or the ``next`` cursor the previous page returned.
Pages follow the key ``(logged_at, id)``: ``logged_at`` is stamped when a row reaches the
log, under the log's write lock and later than every earlier row
(``serving.store.decisions``), so a loader that keeps the last ``next`` and asks again
sees every row exactly once, however many decisions arrive between its requests —
an offset would skip or repeat rows as the log grows, and ``scored_at`` cannot order
rows the background log writes later than it scores them.

Each row is one score and its handoff decision: the scores, threshold, decision, reasons
(codes and parameters), the likely rejection reason and the segment columns — no feature
snapshot, no personal data (the log never holds any). ``?format=csv`` gives the same rows
as a flat table (reasons as ``;``-joined codes). Readable by ``marketing`` and ``admin``,
like the reports.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from scoring.contract import as_utc
from serving.auth import Principal, Role, require_roles
from serving.report_api import CSV_RESPONSE, Format, _flush, _unprocessable
from serving.report_csv import CSV_MEDIA_TYPE, to_csv
from serving.schemas import EARLIEST_YEAR, LATEST_YEAR
from serving.storage import Store

router = APIRouter(tags=["reports"])

Marketing = Annotated[Principal, Depends(require_roles(Role.MARKETING))]
MAX_LIMIT = 10_000
CURSOR_PREFIX = "c1."
"""Marks a ``since`` value as a cursor (a version, should its content ever change)."""

COLUMNS: tuple[str, ...] = (
    "id",
    "logged_at",
    "scored_at",
    "as_of",
    "lead_id",
    "request_id",
    "model_name",
    "model_version",
    "p_sql",
    "p_won",
    "fit_score",
    "engagement_score",
    "decision",
    "threshold",
    "likely_rejection_reason",
    "channel",
    "industry",
    "company_size",
    "country",
    "reasons",
)
"""The answer's columns, in order (the CSV header)."""


def encode_cursor(logged_at: datetime, row_id: str) -> str:
    """The opaque ``next`` of a page: the last row's ``(logged_at, id)``."""
    raw = f"{as_utc(logged_at).isoformat()}|{row_id}".encode()
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    """``(logged_at, id)`` of a cursor; ``ValueError`` if it is not one of ours."""
    body = text.removeprefix(CURSOR_PREFIX)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        moment, sep, row_id = raw.partition("|")
        if not sep or not row_id or len(row_id) > 32:
            raise ValueError("no id")
        return as_utc(datetime.fromisoformat(moment)), row_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise ValueError("not a cursor this server returned") from None


def _since(text: str | None) -> tuple[tuple[datetime, str] | None, datetime | None]:
    """``(cursor, moment)`` from ``since``: a ``next`` cursor, or an ISO 8601 moment."""
    if text is None:
        return None, None
    if text.startswith(CURSOR_PREFIX):
        try:
            return decode_cursor(text), None
        except ValueError as exc:
            raise _unprocessable("since", str(exc)) from None
    try:
        given = datetime.fromisoformat(text)
    except ValueError:
        raise _unprocessable(
            "since", "since must be an ISO 8601 time or the `next` cursor of a page"
        ) from None
    # the year as written: converting 9999-12-31T23:59-05:00 to UTC would overflow
    if not EARLIEST_YEAR <= given.year <= LATEST_YEAR:
        raise _unprocessable("since", f"since must be in the years {EARLIEST_YEAR}-{LATEST_YEAR}")
    return None, as_utc(given)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out = {c: row.get(c) for c in COLUMNS}
    for name in ("logged_at", "scored_at", "as_of"):
        moment = out[name]
        if isinstance(moment, datetime):
            out[name] = as_utc(moment).isoformat()
    return out


@router.get("/v1/decisions", responses=CSV_RESPONSE)
def decisions(
    request: Request,
    _: Marketing,
    since: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Rows logged at or after this moment (ISO 8601; naive = UTC), or — "
            "to continue — the `next` cursor of the previous page. Default: from the start.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")] = 1000,
    fmt: Format = "json",
) -> Response:
    """Scores and handoff decisions in the order they were logged, for incremental loads.

    Keep the answer's `next` and pass it as `since` on the next run: no row is missed or
    repeated while new decisions arrive. In CSV the cursor is the `X-Next-Cursor` header.
    """
    after, moment = _since(since)
    _flush(request)  # rows still pending in the background log count
    store: Store = request.app.state.store
    rows = store.decisions_since(after, limit, since=moment)
    if rows:
        cursor: str | None = encode_cursor(rows[-1]["logged_at"], rows[-1]["id"])
    elif after is not None:
        cursor = since  # nothing new yet: ask again from the same place
    else:
        cursor = None  # nothing logged at or after ``since`` yet: ask with ``since`` again
    page = [_row(r) for r in rows]
    more = len(rows) == limit
    headers = {"X-Next-Cursor": cursor} if cursor else {}
    if fmt == "csv":
        flat = [{**r, "reasons": ";".join(_codes(r["reasons"]))} for r in page]
        return Response(
            to_csv(flat) if flat else ",".join(COLUMNS) + "\r\n",
            media_type=CSV_MEDIA_TYPE,
            headers={
                **headers,
                "X-Has-More": "true" if more else "false",
                "Content-Disposition": 'attachment; filename="decisions.csv"',
            },
        )
    return JSONResponse(
        {"decisions": page, "count": len(page), "next": cursor, "has_more": more},
        headers=headers,
    )


def _codes(reasons: Any) -> list[str]:
    """The reason codes of a decision (its parameters stay in the JSON answer)."""
    if not isinstance(reasons, list):
        return []
    return [
        str(r.get("code")) if isinstance(r, dict) else str(r)
        for r in reasons
        if (r.get("code") if isinstance(r, dict) else r)
    ]
