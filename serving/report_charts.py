"""The report's PNG charts: one per section, drawn with matplotlib's object API.

:func:`write_charts` draws the charts of any :func:`serving.reports.build_report` result
— funnel, conversion by segment, rejection reasons, SLA, calibration, drift — on the Agg
canvas (no pyplot, no global backend switch, safe in a server thread).
:mod:`serving.report_html` puts them on the report's page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from serving.i18n import Translator
from serving.reports import (
    PSI_ALERT,
    PSI_WARN,
)

CHARTS: tuple[str, ...] = (
    "funnel.png",
    "funnel_segments.png",
    "rejections.png",
    "sla.png",
    "calibration.png",
    "drift.png",
)
STATUS_COLORS = {
    "ok": "#4c9a6a",
    "warn": "#e0a526",
    "alert": "#c8453b",
    "insufficient_data": "#9a9a9a",
}
REASON_COLORS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#9c755f",
    "#bab0ac",
    "#ff9da7",
)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """PNG, or SVG with its text kept as text (searchable, and checkable by the tests)."""
    fig.tight_layout()
    image_format = path.suffix.lstrip(".")
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "leadscore"}):
        fig.savefig(path, format=image_format)
    return path


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color="#777", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _shares(axis: Any, t: Translator, digits: int = 0) -> None:
    """Label a 0..1 axis as percentages, as the chart's language writes them."""
    axis.set_major_formatter(FuncFormatter(lambda x, _: t.pct(x, digits)))


def _rows(section: Mapping[str, Any], dimension: str) -> list[dict[str, Any]]:
    return [r for r in section.get("rows", []) if r["dimension"] == dimension]


def _label(value: Any, width: int = 28) -> str:
    """A CRM value as a chart label: ``$`` escaped (no mathtext), long names cut."""
    text = str(value)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.replace("$", r"\$")


def _funnel_chart(funnel: Mapping[str, Any], path: Path, t: Translator) -> Path:
    fig = _figure(12, 4.5)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    total = funnel["total"]
    stages = ["leads", "mql", "sql", "won"]
    counts = [total.get(s) or 0 for s in stages]
    stage_names = [t("chart.stage.leads"), "MQL", "SQL", t("chart.stage.won")]
    ax1.barh(stage_names[::-1], counts[::-1], color="#4e79a7")
    for i, c in enumerate(counts[::-1]):
        ax1.text(c, i, f" {t.integer(c)}", va="center", fontsize=9)
    ax1.set_title(t("chart.funnel"))
    ax1.set_xlim(0, max([*counts, 1]) * 1.25)
    rows = _rows(funnel, "channel")
    if rows:
        names = [_label(t.value("channel", r["group"])) for r in rows]
        x = np.arange(len(names))
        width = 0.4
        ax2.bar(x - width / 2, [r["mql_to_sql"] or 0 for r in rows], width, label="MQL→SQL")
        ax2.bar(
            x + width / 2, [r["sql_to_won"] or 0 for r in rows], width, label=t("rep.sql_to_won")
        )
        ax2.set_xticks(x, names, rotation=30, ha="right")
        ax2.set_ylim(0, 1)
        _shares(ax2.yaxis, t)
        ax2.legend()
        ax2.set_title(t("chart.by_channel"))
    else:
        _empty(ax2, t("chart.no_data"))
    return _save(fig, path)


def _segment_chart(funnel: Mapping[str, Any], path: Path, t: Translator) -> Path:
    fig = _figure(12, 4.5)
    axes = fig.subplots(1, 2)
    for ax, dim in zip(axes, ("industry", "company_size"), strict=True):
        rows = _rows(funnel, dim)
        if not rows:
            _empty(ax, t("chart.no_segment", dim=t(f"dim.{dim}")))
            continue
        names = [_label(t.value(dim, r["group"])) for r in rows]
        ax.bar(names, [r["mql_to_won"] or 0 for r in rows], color="#59a14f")
        _shares(ax.yaxis, t)
        ax.set_title(t("chart.mql_to_won_by", dim=t(f"dim.{dim}")))
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    return _save(fig, path)


def _rejection_chart(rejections: Mapping[str, Any], path: Path, t: Translator) -> Path:
    fig = _figure(12, 5)
    ax = fig.subplots()
    rows = [
        {"group": None, **rejections["total"]},
        *_rows(rejections, "channel"),
    ]
    rows = [r for r in rows if r.get("rejections")]
    if not rows:
        _empty(ax, t("chart.no_rejections"))
        return _save(fig, path)
    reasons = rejections["reasons"]
    left = np.zeros(len(rows))
    labels = [
        _label(t("chart.all") if i == 0 else t.value("channel", r["group"]))
        for i, r in enumerate(rows)
    ]
    for i, reason in enumerate(reasons):
        shares = np.array([r["reasons"][reason]["share"] or 0.0 for r in rows])
        if not shares.any():
            continue
        ax.barh(
            labels,
            shares,
            left=left,
            label=_label(t.label("reason", reason)),
            color=REASON_COLORS[i % len(REASON_COLORS)],
        )
        left += shares
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    _shares(ax.xaxis, t)
    ax.set_xlabel(t("chart.share_of_rejections"))
    ax.set_title(t("chart.rejections_by_channel"))
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return _save(fig, path)


def _sla_chart(sla: Mapping[str, Any], path: Path, t: Translator) -> Path:
    fig = _figure(12, 4.5)
    ax1, ax2 = fig.subplots(1, 2)
    decide, contact = sla["targets"]["decision_hours"], sla["targets"]["first_contact_hours"]
    hist = sla.get("response_hours_histogram") or {}
    counts = hist.get("counts") or []
    edges = hist.get("edges") or []
    if sum(counts):
        labels = [
            f"{_g(edges[i])}–{_g(edges[i + 1]) if edges[i + 1] is not None else '∞'}"
            for i in range(len(counts))
        ]
        colors = [
            "#4c9a6a"
            if edges[i + 1] is not None and edges[i + 1] <= decide
            else "#e0a526"
            if edges[i + 1] is not None and edges[i + 1] <= contact
            else "#c8453b"
            for i in range(len(counts))
        ]
        ax1.bar(labels, counts, color=colors)
        ax1.set_xlabel(t("chart.response_hours"))
        ax1.set_title(t("chart.response_time", decide=f"{decide:g}", contact=f"{contact:g}"))
        ax1.tick_params(axis="x", labelrotation=30)
    else:
        _empty(ax1, t("chart.no_data"))
    rows = _rows(sla, "channel")
    if rows:
        names = [_label(t.value("channel", r["group"])) for r in rows]
        x = np.arange(len(names))
        width = 0.4
        ax2.bar(
            x - width / 2,
            [r["within_8h_share"] or 0 for r in rows],
            width,
            label=t("chart.within", hours=f"{decide:g}"),
        )
        ax2.bar(
            x + width / 2,
            [r["first_contact_within_24h_share"] or 0 for r in rows],
            width,
            label=t("chart.within", hours=f"{contact:g}"),
        )
        ax2.set_xticks(x, names, rotation=30, ha="right")
        ax2.set_ylim(0, 1.05)
        _shares(ax2.yaxis, t)
        ax2.legend(loc="lower right")
        ax2.set_title(t("chart.sla_by_channel"))
    else:
        _empty(ax2, t("chart.no_data"))
    return _save(fig, path)


def _g(value: float | None) -> str:
    return "∞" if value is None else f"{value:g}"


def _calibration_chart(calibration: Mapping[str, Any], path: Path, t: Translator) -> Path:
    fig = _figure(12, 4.8)
    axes = fig.subplots(1, 2)
    for ax, stage in zip(axes, ("sql", "won"), strict=True):
        title = t(f"rep.stage.{stage}")
        data = calibration.get("stages", {}).get(stage)
        if not data or not data.get("bands"):
            _empty(ax, t("chart.no_predictions"))
            ax.set_title(title)
            continue
        bands = data["bands"]
        p = [b["predicted"] for b in bands]
        y = [b["observed"] for b in bands]
        n = np.array([b["n"] for b in bands], dtype=float)
        top = max([*p, *y, 0.05]) * 1.1
        ax.plot([0, top], [0, top], color="#999", linestyle="--", linewidth=1)
        ax.plot(p, y, color="#4e79a7", marker="o", linewidth=1)
        ax.scatter(p, y, s=20 + 200 * n / n.max(), color="#4e79a7", alpha=0.4)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        digits = 0 if top >= 0.2 else 1  # whole percents unless the scale is small
        _shares(ax.xaxis, t, digits)
        _shares(ax.yaxis, t, digits)
        ax.set_xlabel(t("chart.predicted"))
        ax.set_ylabel(t("chart.observed"))
        ece = data.get("ece")
        ax.set_title(
            t("chart.calibration_title", title=title, n=t.integer(data["n"]), ece=t.number(ece, 3))
            if ece is not None
            else title
        )
    return _save(fig, path)


def _drift_chart(drift: Mapping[str, Any], path: Path, t: Translator) -> Path:
    entries = [*drift.get("features", [])]
    if drift.get("score"):
        entries.insert(0, drift["score"])
    entries = [e for e in entries if e.get("psi") is not None][:25]
    fig = _figure(12, max(3.0, 0.3 * len(entries) + 1.5))
    ax = fig.subplots()
    if not entries:
        _empty(ax, t("chart.no_features"))
        return _save(fig, path)
    names = [_label(t.feature(e["feature"]), 40) for e in entries]
    values = [e["psi"] for e in entries]
    colors = [STATUS_COLORS.get(e["status"], "#777") for e in entries]
    ax.barh(names, values, color=colors)
    ax.axvline(PSI_WARN, color=STATUS_COLORS["warn"], linestyle="--", linewidth=1)
    ax.axvline(PSI_ALERT, color=STATUS_COLORS["alert"], linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel("PSI")
    reference = t.reference(drift.get("reference", "training"))
    ax.set_title(_label(t("chart.stability", reference=reference), 90))
    return _save(fig, path)


def write_charts(
    report: Mapping[str, Any],
    out: Path,
    prefix: str = "",
    *,
    lang: str = "en",
    image_format: str = "png",
) -> dict[str, str]:
    """Draw every chart into ``out`` in ``lang``; return ``{chart: file name}``.

    ``image_format`` ``"svg"`` writes SVG files with their text as text (the chart names
    of :data:`CHARTS` stay the keys).
    """
    out.mkdir(parents=True, exist_ok=True)
    t = Translator(lang)
    drawn: dict[str, str] = {}
    jobs = (
        ("funnel.png", "funnel", _funnel_chart),
        ("funnel_segments.png", "funnel", _segment_chart),
        ("rejections.png", "rejections", _rejection_chart),
        ("sla.png", "sla", _sla_chart),
        ("calibration.png", "calibration", _calibration_chart),
        ("drift.png", "drift", _drift_chart),
    )
    for name, section, draw in jobs:
        if section in report:
            file = f"{prefix}{Path(name).stem}.{image_format}"
            path = draw(report[section], out / file, t)
            drawn[name] = path.name
    return drawn
