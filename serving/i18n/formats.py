"""Numbers, percentages, dates and durations as a language writes them.

:class:`Formats` is the formatting half of :class:`serving.i18n.translator.Translator`:
it needs only the language and the label lookup (for the "none" dash and the duration
patterns), so it lives apart from the catalogues and the lookup.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from datetime import datetime, timedelta


class Formats(ABC):
    """Number and date formats of one language (``lang``); a subclass supplies the labels."""

    lang: str

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
        if value is None:
            return self("none")
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
        if self.lang == "ru":
            return value.strftime("%d.%m.%Y %H:%M UTC")
        return value.strftime("%Y-%m-%d %H:%M UTC")

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
