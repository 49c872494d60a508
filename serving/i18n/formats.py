"""Numbers, percentages, dates and durations as a language writes them.

:class:`Formats` is the formatting half of :class:`serving.i18n.translator.Translator`:
it needs only the language and the label lookup (for the "none" dash and the duration
patterns), so it lives apart from the catalogues and the lookup.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def time_zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``name`` (``Europe/Moscow``), or ``None`` if there is none.

    Names come from a setting, a query parameter or a cookie the browser's script set, so
    anything that is not a zone the system knows is refused rather than guessed.
    """
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_label(moment: datetime) -> str:
    """``UTC`` or its offset from UTC (``UTC+3``, ``UTC−4:30``): no zone abbreviations,
    which are English words and ambiguous."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "\u2212"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")


class Formats(ABC):
    """Number and date formats of one language (``lang``); a subclass supplies the labels."""

    lang: str
    tz: tzinfo = UTC

    @abstractmethod
    def __call__(self, key: str, **values: object) -> str:
        """The label ``key`` in this language, filled with ``values``."""

    # -- numbers ------------------------------------------------------------------------

    def number(self, value: float | None, digits: int = 1) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return self("none")
        text = f"{value:,.{digits}f}"
        if self.lang == "ru":
            text = text.replace(",", "\u202f").replace(".", ",")
        return text

    def integer(self, value: float | None) -> str:
        return self.number(value, 0)

    def pct(self, value: float | None, digits: int = 1) -> str:
        """A probability or share (0..1) as a percentage."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return self("none")
        return self.number(100.0 * value, digits) + "%"

    def pp(self, value: float) -> str:
        """A difference of probabilities in percentage points, without a sign."""
        return self.number(abs(100.0 * value), 1)

    # -- time ---------------------------------------------------------------------------

    def when(self, value: datetime | str | None) -> str:
        """A moment in the reader's time zone (``tz``), with its offset from UTC."""
        if value is None:
            return self("none")
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
        local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(self.tz)
        pattern = "%d.%m.%Y %H:%M" if self.lang == "ru" else "%Y-%m-%d %H:%M"
        return f"{local.strftime(pattern)} {zone_label(local)}"

    def day(self, value: datetime | str | None) -> str:
        text = self.when(value)
        return text[:10] if text != self("none") else text

    def duration(self, delta: timedelta) -> str:
        minutes = max(int(abs(delta.total_seconds()) // 60), 0)
        hours, mins = divmod(minutes, 60)
        if hours >= 48:
            days, hours = divmod(hours, 24)
            return self("dur.dh", d=days, h=hours)
        if hours:
            return self("dur.hm", h=hours, m=mins)
        return self("dur.m", m=mins)
