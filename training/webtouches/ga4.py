"""Google Analytics 4 BigQuery export (``events_YYYYMMDD``) → analytics touches.

Read as newline-delimited JSON (``bq extract --destination_format NEWLINE_DELIMITED_JSON``;
BigQuery writes INT64 values as JSON strings, so ``event_timestamp`` may be ``"17..."``)
or as Parquet. Each row is one event with the documented fields: ``event_timestamp``
(microseconds, UTC), ``event_name``, ``event_params`` (a repeated record of ``key`` and a
``value`` with ``string_value`` / ``int_value`` / ``float_value`` / ``double_value``),
``user_pseudo_id``, ``user_id``, ``user_properties``, ``collected_traffic_source``.

The ``page_view`` event is classified by its ``page_location``; the events the mapping
lists (``generate_lead``, ``form_submit`` ...) are touches of their type; every other event
(``session_start``, ``first_visit``, ``user_engagement``, ``scroll``) makes none.
An event's UTM tags are the first found of: ``collected_traffic_source``
(``manual_source``, ``manual_medium``, ``manual_campaign_name``); the ``source``,
``medium``, ``campaign`` event parameters; the tags of an earlier event of the same
session (``user_pseudo_id`` + ``ga_session_id``: GA4 records them on the session's first
events only); the ``utm_*`` query of ``page_location``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from training.webtouches.frame import (
    ANALYTICS_COLUMNS,
    JOIN_KEYS,
    WebTouchesError,
    empty_frame,
    finish,
)
from training.webtouches.mapping import TouchMapping

_VALUE_FIELDS = ("string_value", "int_value", "double_value", "float_value")
_UTM_PARAMS = {"utm_source": "source", "utm_medium": "medium", "utm_campaign": "campaign"}
_COLLECTED = {
    "utm_source": "manual_source",
    "utm_medium": "manual_medium",
    "utm_campaign": "manual_campaign_name",
}


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """The export's rows as dicts: ``.parquet`` through pyarrow, anything else as NDJSON."""
    path = Path(path)
    if not path.is_file():
        raise WebTouchesError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several kinds for a file it cannot read
            raise WebTouchesError(f"{path.name}: not a readable Parquet file ({exc})") from None
        yield from table.to_pylist()
        return
    with path.open(encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise WebTouchesError(
                    f"{path.name}, line {number}: not JSON (expected one event per line, "
                    "as BigQuery's NEWLINE_DELIMITED_JSON export writes)"
                ) from None
            if not isinstance(event, dict):
                raise WebTouchesError(f"{path.name}, line {number}: not a JSON object")
            yield event


def param_values(params: Any) -> dict[str, Any]:
    """``event_params`` / ``user_properties`` as ``{key: value}`` (the first value set)."""
    out: dict[str, Any] = {}
    for item in params or ():
        value = item.get("value") or {}
        for field in _VALUE_FIELDS:
            if value.get(field) is not None:
                out[str(item.get("key"))] = value[field]
                break
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _key(event: dict[str, Any], path: str | None, props: dict[str, Any]) -> str | None:
    if not path:
        return None
    if path.startswith("user_properties."):
        return _text(props.get(path.split(".", 1)[1]))
    return _text(event.get(path))


def read_ga4(path: Path, mapping: TouchMapping, stats: Counter[str] | None = None) -> pd.DataFrame:
    """Touches from a GA4 BigQuery export file (NDJSON or Parquet).

    ``stats`` (if given) counts ``ga4 events`` read, ``ga4 events that are not touches``
    and ``ga4 events without a time``.
    """
    stats = stats if stats is not None else Counter()
    cfg = mapping.ga4
    keys = cfg.keys.model_dump()
    session_utm: dict[tuple[str, str], dict[str, str | None]] = {}
    records: list[dict[str, Any]] = []
    for row, event in enumerate(iter_events(path), start=1):
        stats["ga4 events"] += 1
        name = str(event.get("event_name") or "")
        params = param_values(event.get("event_params"))
        utm = _event_utm(event, params)
        session = (str(event.get("user_pseudo_id")), str(params.get("ga_session_id")))
        if any(utm.values()):
            session_utm.setdefault(session, utm)
        if name == cfg.page_view_event:
            touch = mapping.page_type(str(params.get("page_location") or ""))
        elif name in cfg.events:
            touch = cfg.events[name].value
        else:
            stats["ga4 events that are not touches"] += 1
            continue
        at = _timestamp(event.get("event_timestamp"))
        if at is None:
            stats["ga4 events without a time"] += 1
            continue
        if not any(utm.values()):
            utm = session_utm.get(session) or _url_utm(params.get("page_location"))
        props = param_values(event.get("user_properties"))
        records.append(
            {
                "source": "ga4",
                "row": row,
                **{f"key_{k}": _key(event, keys[k], props) for k in JOIN_KEYS},
                "at": at,
                "type": touch,
                "channel": mapping.channel(utm["utm_source"], utm["utm_medium"]),
                **utm,
            }
        )
    if not records:
        return empty_frame()
    frame = pd.DataFrame.from_records(records, columns=list(ANALYTICS_COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"], unit="us", utc=True)
    return finish(frame)


def _timestamp(value: Any) -> int | None:
    """``event_timestamp`` (µs since the epoch, UTC; a JSON string in BigQuery's NDJSON)."""
    try:
        micros = int(value)
    except (TypeError, ValueError):
        return None
    return micros if 0 < micros < 10**17 else None


def _event_utm(event: dict[str, Any], params: dict[str, Any]) -> dict[str, str | None]:
    collected = event.get("collected_traffic_source") or {}
    utm = {col: _text(collected.get(field)) for col, field in _COLLECTED.items()}
    if not any(utm.values()):
        utm = {col: _text(params.get(name)) for col, name in _UTM_PARAMS.items()}
    return utm


def _url_utm(url: Any) -> dict[str, str | None]:
    query = parse_qs(urlsplit(str(url or "")).query)
    return {col: _text(query[col][0]) if query.get(col) else None for col in _UTM_PARAMS}
