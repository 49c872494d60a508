"""Yandex Metrika Logs API exports (TSV) → analytics touches.

The Logs API returns one TSV per source, the header naming the requested fields:
``visits`` rows (``ym:s:*``, one per session) and ``hits`` rows (``ym:pv:*``, one per
page view or event). Field names and types are those of the documentation pages cited in
``docs/web-analytics.md``; arrays come as ``[1,2]`` and ``['2025-03-01 10:00:00']``.

A visit gives one touch for its landing page (``ym:s:startURL``), unless a hits file is
given: then every page view (``ym:pv:isPageView`` = 1) is a touch and the visit gives none,
so a page is never counted twice. Each goal reached in the visit (``ym:s:goalsID`` with
``ym:s:goalsDateTime``) that the mapping lists is a touch of its own. UTM tags are the
visit's (``ym:s:UTMSource`` ...); a hit without its own takes those of its visit (found
through ``ym:pv:visitID`` or the visit's ``ym:s:watchIDs``).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from training.webtouches.frame import JOIN_KEYS, WebTouchesError, empty_frame, finish
from training.webtouches.mapping import TouchMapping

VISIT_REQUIRED = ("dateTime", "startURL")
HIT_REQUIRED = ("dateTime", "URL")
UTM_FIELDS = {"utm_source": "UTMSource", "utm_medium": "UTMMedium", "utm_campaign": "UTMCampaign"}

TRAFFIC_SOURCE_MEDIUM = {
    "ad": "cpc",
    "organic": "organic",
    "direct": "(none)",
    "internal": "internal",
    "referral": "referral",
    "social": "social",
    "email": "email",
    "messenger": "messenger",
    "recommend": "recommend",
    "saved": "saved",
}
"""``ym:s:lastTrafficSource`` values as a UTM-style medium, for visits without UTM tags."""


def read_tsv(path: Path, prefix: str) -> pd.DataFrame:
    """A Logs API TSV as text cells; the header must use the ``prefix`` (``ym:s:``...)."""
    if not Path(path).is_file():
        raise WebTouchesError(f"{path}: no such file")
    frame = pd.read_csv(
        path,
        sep="\t",
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
        encoding="utf-8-sig",
    )
    if not any(str(c).startswith(prefix) for c in frame.columns):
        raise WebTouchesError(
            f"{Path(path).name}: no {prefix}* column; a Metrika Logs API export of "
            f"{'visits' if prefix == 'ym:s:' else 'hits'} has a header such as {prefix}dateTime"
        )
    return frame


def _need(frame: pd.DataFrame, path: Path, prefix: str, fields: tuple[str, ...]) -> None:
    missing = [prefix + f for f in fields if prefix + f not in frame.columns]
    if missing:
        have = ", ".join(c for c in frame.columns if c.startswith(prefix))
        raise WebTouchesError(f"{Path(path).name}: missing {', '.join(missing)} (has: {have})")


def parse_array(text: str) -> list[str]:
    """``[1,2]`` / ``['a','b']`` (the Logs API's arrays) → ``["1", "2"]`` / ``["a", "b"]``."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    return [item.strip().strip("'\"") for item in body.split(",") if item.strip()]


def _times(values: pd.Series | list[str], timezone: str) -> pd.Series:
    """Naive ``YYYY-MM-DD hh:mm:ss`` in ``timezone`` → UTC; unreadable → NaT."""
    stamps = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="ISO8601")
    return stamps.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")


def _blank_to_none(values: pd.Series, also: str | None = None) -> pd.Series:
    """Stripped text; empty cells (and ``also``, e.g. a ClientID of 0) become None."""
    text = values.astype(str).str.strip()
    empty = (text == "") | (text == also) if also is not None else text == ""
    return text.astype(object).where(~empty, None)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series("", index=frame.index)


def _keys(frame: pd.DataFrame, prefix: str, mapping: TouchMapping) -> dict[str, pd.Series]:
    fields = mapping.metrika.keys.model_dump()
    out = {}
    for key in JOIN_KEYS:
        field = fields[key]
        values = _column(frame, prefix + field) if field else pd.Series("", index=frame.index)
        out[f"key_{key}"] = values.pipe(_blank_to_none, also="0")
    return out


def read_metrika(
    visits: Path, hits: Path | None, mapping: TouchMapping, stats: Counter[str] | None = None
) -> pd.DataFrame:
    """Touches from a visits export and, optionally, the hits export of the same counter.

    ``stats`` (if given) counts what was read and what made no touch: ``metrika visits``,
    ``metrika hits``, ``metrika goals not in the mapping``, ``metrika rows without a time``.
    """
    stats = stats if stats is not None else Counter()
    v = read_tsv(visits, "ym:s:")
    _need(v, visits, "ym:s:", VISIT_REQUIRED)
    stats["metrika visits"] += len(v)
    mp = mapping.metrika
    at = _times(v["ym:s:dateTime"], mp.timezone)
    utm = {
        col: _column(v, "ym:s:" + field).pipe(_blank_to_none) for col, field in UTM_FIELDS.items()
    }
    fallback = _column(v, "ym:s:lastTrafficSource").map(TRAFFIC_SOURCE_MEDIUM)
    medium_for_channel = utm["utm_medium"].fillna(fallback)
    channel = [
        mapping.channel(s, m) for s, m in zip(utm["utm_source"], medium_for_channel, strict=True)
    ]
    base = pd.DataFrame(
        {"source": "metrika", "row": range(1, len(v) + 1), **_keys(v, "ym:s:", mapping)}
        | utm
        | {"channel": channel},
        index=v.index,
    )
    parts: list[pd.DataFrame] = []
    if hits is None:
        landing = base.assign(at=at, type=[mapping.page_type(u) for u in v["ym:s:startURL"]])
        parts.append(landing)
    else:
        parts.append(_hit_touches(hits, v, base, mapping, stats))
    parts.append(_goal_touches(v, base, mapping, stats))
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True) if parts else empty_frame()
    if frame.empty:
        return empty_frame()
    untimed = frame["at"].isna()
    stats["metrika rows without a time"] += int(untimed.sum())
    return finish(frame.loc[~untimed])


def _goal_touches(
    v: pd.DataFrame, base: pd.DataFrame, mapping: TouchMapping, stats: Counter[str]
) -> pd.DataFrame:
    if "ym:s:goalsID" not in v.columns:
        return empty_frame()
    rows: list[int] = []
    types: list[str] = []
    times: list[str] = []
    goal_times = _column(v, "ym:s:goalsDateTime")
    for i, (ids, stamps) in enumerate(zip(v["ym:s:goalsID"], goal_times, strict=True)):
        goal_ids, goal_at = parse_array(ids), parse_array(stamps)
        for j, goal in enumerate(goal_ids):
            touch = mapping.metrika.goals.get(goal)
            if touch is None:
                stats["metrika goals not in the mapping"] += 1
                continue
            rows.append(i)
            types.append(touch.value)
            times.append(goal_at[j] if j < len(goal_at) else "")
    if not rows:
        return empty_frame()
    at = _times(times, mapping.metrika.goals_timezone)
    # a goal without its own time happened during the visit: the visit's time
    visit_at = _times(v["ym:s:dateTime"].iloc[rows].tolist(), mapping.metrika.timezone)
    at = at.fillna(visit_at)
    return base.iloc[rows].reset_index(drop=True).assign(at=at.to_numpy(), type=types)


def _hit_touches(
    hits: Path, v: pd.DataFrame, visits: pd.DataFrame, mapping: TouchMapping, stats: Counter[str]
) -> pd.DataFrame:
    h = read_tsv(hits, "ym:pv:")
    _need(h, hits, "ym:pv:", HIT_REQUIRED)
    stats["metrika hits"] += len(h)
    if "ym:pv:isPageView" in h.columns:
        page = h["ym:pv:isPageView"].str.strip() == "1"
        stats["metrika hits that are not page views"] += int((~page).sum())
        h = h[page]
    visit_of_hit = _visit_positions(h, v)
    utm = {
        col: _column(h, "ym:pv:" + field).pipe(_blank_to_none) for col, field in UTM_FIELDS.items()
    }
    has_own = pd.concat(utm.values(), axis=1).notna().any(axis=1)
    known = visit_of_hit >= 0
    inherit = ~has_own & known
    for col in utm:
        inherited = pd.Series(
            visits[col].to_numpy()[visit_of_hit.clip(lower=0)], index=h.index, dtype=object
        )
        utm[col] = utm[col].where(~inherit, inherited)
    channel = [
        mapping.channel(s, m) if own or not k else visits["channel"].iloc[p]
        for s, m, own, k, p in zip(
            utm["utm_source"], utm["utm_medium"], has_own, known, visit_of_hit, strict=True
        )
    ]
    out = pd.DataFrame(
        {
            "source": "metrika",
            "row": [int(i) + 1 for i in h.index],
            **_keys(h, "ym:pv:", mapping),
            "at": _times(h["ym:pv:dateTime"], mapping.metrika.timezone).to_numpy(),
            "type": [mapping.page_type(u) for u in h["ym:pv:URL"]],
            "channel": channel,
        }
        | {c: s.to_numpy() for c, s in utm.items()},
    )
    return out


def _visit_positions(h: pd.DataFrame, v: pd.DataFrame) -> pd.Series:
    """For each hit, the position of its visit in ``v`` (-1 when not found)."""
    by_watch: dict[str, int] = {}
    for pos, ids in enumerate(_column(v, "ym:s:watchIDs")):
        for watch in parse_array(ids):
            by_watch[watch] = pos
    by_visit = {vid: pos for pos, vid in enumerate(_column(v, "ym:s:visitID")) if vid}
    out: list[int] = []
    for vid, watch in zip(_column(h, "ym:pv:visitID"), _column(h, "ym:pv:watchID"), strict=True):
        found: Any = by_visit.get(vid) if vid else None
        out.append(int(found) if found is not None else by_watch.get(watch, -1))
    return pd.Series(out, index=h.index, dtype="int64")
