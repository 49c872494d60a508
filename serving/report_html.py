"""The report as a static HTML page with PNG charts.

:func:`write_html` renders any :func:`serving.reports.build_report` result (so a JSON
report saved from the API renders too): one page with every section — funnel,
rejections, SLA, calibration, drift, attribution — as tables plus the charts of
:mod:`serving.report_charts`. The page is self-contained apart from the PNGs next to
it; its template is ``templates/report.html``, its words in the chosen language
(:mod:`serving.i18n.report_labels`).

``leadscore report`` (``cli.report``) builds the report it renders: it loads or
generates a history, fits or downloads a model, reads the store — work that is not the
server's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from serving.i18n import Translator
from serving.report_charts import CHARTS, write_charts
from serving.reports.attribution import by_group

__all__ = ["CHARTS", "TEMPLATE", "write_charts", "write_html"]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@pass_context
def _pct(context: Context, value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "–"
    return _t(context).number(100 * float(value), digits) + " %"


@pass_context
def _num(context: Context, value: Any, digits: int = 0) -> str:
    if _missing(value):
        return "–"
    return _t(context).number(float(value), digits)


@pass_context
def _romi(context: Context, value: Any) -> str:
    return "–" if value is None else _t(context).number(float(value), 0) + " %"


@pass_context
def _money(context: Context, value: Any) -> str:
    if value is None:
        return "–"
    t = _t(context)
    amount = t.number(float(value), 0)
    return f"{amount} $" if t.lang == "ru" else f"${amount}"


def _source(t: Translator, source: Any) -> str:
    """Where the report's data came from, in words (``cli.report`` sets ``source``)."""
    text = str(source or "")
    if text.startswith("CRM history: "):
        return t("rep.source.history", source=text.removeprefix("CRM history: "))
    if text == "history":
        return t("rep.source.history", source="").rstrip(": ")
    if text == "store" or text.startswith("serving store"):
        return t("rep.source.store")
    return text


def _t(context: Context) -> Translator:
    t = context.get("t")
    return t if isinstance(t, Translator) else Translator("en")


_ENV = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_ENV.filters.update(pct=_pct, num=_num, money=_money, romi=_romi)
_ENV.globals["attribution_groups"] = by_group

TEMPLATE = "report.html"


def write_html(
    report: Mapping[str, Any],
    out: Path,
    *,
    page: str = "index.html",
    title: str | None = None,
    links: Sequence[tuple[str, str]] = (),
    lang: str = "en",
    tz: tzinfo = UTC,
) -> Path:
    """Write ``page`` and its PNG charts into ``out``, in ``lang`` with times in ``tz``;
    return the page's path. The JSON next to it is the report as computed (English)."""
    out.mkdir(parents=True, exist_ok=True)
    prefix = "" if page == "index.html" else f"{Path(page).stem}_"
    t = Translator(lang, tz)
    charts = write_charts(report, out, prefix, lang=lang)
    html = _ENV.get_template(TEMPLATE).render(
        r=report,
        t=t,
        charts=charts,
        title=title or t("rep.title"),
        source=_source(t, report.get("source")),
        links=list(links),
    )
    path = out / page
    path.write_text(html, encoding="utf-8")
    (out / f"{Path(page).stem}.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1, allow_nan=False, default=str),
        encoding="utf-8",
    )
    return path
