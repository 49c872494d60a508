"""The words on the report's charts: titles, values in words, shares as percentages.

A chart is read by marketing and sales, not by whoever wrote the code: ``hand_to_sales``
is drawn as "hand to sales" (or «передать в продажи»), a share of 0.4 as "40%", size
bands smallest first (1-10, 11-50, …), never in the alphabet's order (1-10, 1001-5000,
11-50, …). :class:`ChartText` holds one language's words for
:mod:`serving.report_charts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.ticker import FuncFormatter

from serving.i18n import Translator
from serving.i18n.catalogue_charts import CHARTS
from serving.reports.facts import natural_order

VOCABULARIES: tuple[str, ...] = ("decision", "reason", "touch", "field", "channel", "status")
"""Our own vocabularies (codes such as ``hand_to_sales``): drawn with the pages' catalogue
word where there is one (``reason.no_budget``: "no budget"), else with underscores as
spaces. Values of other dimensions (industry, campaign, ...) are the CRM's own names and
are drawn as they are."""


class ChartText:
    """One language's words for the charts (``lang`` ``"en"`` or ``"ru"``)."""

    def __init__(self, lang: str = "en") -> None:
        self.t = Translator(lang)
        self.lang = self.t.lang
        self.words = CHARTS[self.lang]

    def __call__(self, key: str, **values: object) -> str:
        text = self.words.get(key) or CHARTS["en"][key]
        return _escape(text.format(**values) if values else text)

    def value(self, value: Any, vocabulary: str | None = None, width: int = 28) -> str:
        """A value in words: for one of :data:`VOCABULARIES` a catalogue's word where there
        is one, else the code with underscores as spaces (``paid_search`` → "paid
        search"); any other value as it is. Long values are cut."""
        if value is None:
            return self.t("none")
        text = str(value)
        if vocabulary is not None:  # the language's name for it, where it has one
            text = self.t.value(vocabulary, value)
        if vocabulary in VOCABULARIES and text == str(value):
            key = f"{vocabulary}.{value}"
            text = self.t(key) if self.t.has(key) else text.replace("_", " ")
        text = text if len(text) <= width else text[: width - 1] + "…"
        return _escape(text)

    def field(self, name: str) -> str:
        """A field's (or a feature's) name in words: "company size", «размер компании»,
        "pricing page view (count)" for ``n_pricing_page_view``."""
        if f"feature.{name}" in self.words:
            return self(f"feature.{name}")
        touch = name.removeprefix("n_")
        if touch != name and self.t.has(f"touch.{touch}"):
            return self("feature.count", what=self.t(f"touch.{touch}"))
        return self.value(name, "field", 40)

    def pct(self, share: float, digits: int = 0) -> str:
        return self.t.pct(share, digits)

    def percent_axis(self, axis: Any) -> None:
        """Ticks of a 0..1 axis as percentages in this language (0.4 → "40%")."""

        def tick(value: float, _pos: object) -> str:  # 2.5 % steps keep their half
            whole = abs(100 * value - round(100 * value)) < 1e-6
            return self.pct(value, 0 if whole else 1)

        axis.set_major_formatter(FuncFormatter(tick))

    def hours(self, value: float) -> str:
        return self("within", hours=self.t.number(value, 0 if float(value).is_integer() else 1))


def ordered_rows(rows: Sequence[Mapping[str, Any]], dimension: str) -> list[Mapping[str, Any]]:
    """``rows`` of one dimension in its natural order (:func:`natural_order`)."""
    return [rows[i] for i in natural_order([r["group"] for r in rows], dimension)]


def _escape(text: str) -> str:
    """No mathtext: a ``$`` in a CRM value is drawn as a dollar sign."""
    return text.replace("$", r"\$")
