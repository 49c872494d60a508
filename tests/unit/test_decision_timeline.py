"""The snapshot's touch timeline is the same whichever way a touch's time is read.

:func:`serving.decision_log._timeline` reads a time that comes as the text it writes
itself (a re-scored lead's snapshot) with ``datetime.fromisoformat`` and keeps the text;
everything else through ``pd.Timestamp``. Here it is compared with the definition it
replaces — every time through ``pd.Timestamp``, written with ``as_utc(...).isoformat()``
— on random timelines mixing both forms, other zones, ``Z``, nanoseconds, whole seconds
written with ``.000000``, ties and more touches than are kept (naive times: refused
either way).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.contract import as_utc
from serving.decision_log import TIMELINE_TOUCHES, _timeline
from serving.store.jsonclean import _clean

AS_OF = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


def reference(touches: list[dict[str, Any]], as_of: datetime) -> list[dict[str, str]]:
    """The timeline as it was written before the fast path (commit 07bb986)."""
    stamped = [
        (
            at if isinstance(at, datetime) else pd.Timestamp(at),
            str(t["type"]),
            str(t.get("channel") or ""),
            str(t.get("campaign") or ""),
        )
        for t in touches
        for at in (t["at"],)
    ]
    before = sorted(t for t in stamped if t[0] < as_of)[-TIMELINE_TOUCHES:]
    return [
        {
            "at": as_utc(at).isoformat(),
            "type": _clean(kind),
            **({"channel": _clean(channel)} if channel else {}),
            **({"campaign": _clean(campaign)} if campaign else {}),
        }
        for at, kind, channel, campaign in before
    ]


@st.composite
def times(draw: st.DrawFn) -> Any:
    """A touch time around ``AS_OF``, in one of the forms a request or snapshot holds."""
    moment = AS_OF + timedelta(
        seconds=draw(st.integers(-400 * 86_400, 86_400)),
        microseconds=draw(st.sampled_from([0, 1, 500_000, 999_999])),
    )
    form = draw(st.integers(0, 5))
    if form == 0:
        return moment.isoformat()  # what the snapshot writes
    if form == 1:
        return moment
    if form == 2:
        return moment.astimezone(timezone(timedelta(hours=-5))).isoformat()
    if form == 3:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00")  # zero microseconds
    if form == 4:
        return moment.isoformat().replace("+00:00", "Z")
    return pd.Timestamp(moment) + pd.Timedelta(nanoseconds=draw(st.integers(0, 999)))


touches = st.lists(
    st.fixed_dictionaries(
        {
            "at": times(),
            "type": st.sampled_from(["email_open", "demo_request", "web\x00visit"]),
        },
        optional={
            "channel": st.sampled_from(["", "email", "paid"]),
            "campaign": st.one_of(st.none(), st.sampled_from(["spring", "q\x002"])),
        },
    ),
    max_size=TIMELINE_TOUCHES + 20,
)


@settings(max_examples=300, deadline=None)
@given(touches=touches, ties=st.integers(0, 5))
def test_the_timeline_is_the_reference(touches: list[dict[str, Any]], ties: int) -> None:
    touches = touches + touches[:ties]  # the same touch twice
    assert _timeline(touches, AS_OF) == reference(touches, AS_OF)


def test_an_impossible_date_is_refused_as_before() -> None:
    touches = [{"at": "2026-13-01T10:00:00+00:00", "type": "email_open"}]
    with pytest.raises(ValueError) as before:
        reference(touches, AS_OF)
    with pytest.raises(ValueError) as now:
        _timeline(touches, AS_OF)
    assert type(now.value) is type(before.value)


@pytest.mark.parametrize("naive", ["2026-03-01T10:00:00", "2026-03-01"])
def test_a_naive_time_is_refused_as_before(naive: str) -> None:
    """A time without a zone cannot be compared with ``as_of``, either way (the API
    gives every touch a zone before it gets here)."""
    touches = [
        {"at": "2026-03-01T10:00:00+00:00", "type": "email_open"},
        {"at": naive, "type": "x"},
    ]
    with pytest.raises(TypeError):
        reference(touches, AS_OF)
    with pytest.raises(TypeError):
        _timeline(touches, AS_OF)


def test_a_snapshot_time_is_kept_as_written() -> None:
    text = "2026-03-01T10:00:00.250000+00:00"
    assert _timeline([{"at": text, "type": "email_open"}], AS_OF) == [
        {"at": text, "type": "email_open"}
    ]
    zero = "2026-03-01T10:00:00.000000+00:00"  # not what isoformat writes: rewritten
    assert _timeline([{"at": zero, "type": "email_open"}], AS_OF)[0]["at"] == (
        "2026-03-01T10:00:00+00:00"
    )
