"""The report as a static HTML page with PNG charts.

:func:`write_html` renders any :func:`serving.reports.build_report` result (so a JSON
report saved from the API renders too): one page with every section — funnel,
rejections, SLA, calibration, drift — as tables plus charts drawn with matplotlib's
object API on the Agg canvas (no pyplot, no global backend switch, safe in a server
thread). The page is self-contained apart from the PNGs next to it.

``leadscore report`` (``cli.report``) builds the report it renders: it loads or
generates a history, fits or downloads a model, reads the store — work that is not the
server's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, select_autoescape
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


# --- charts ---------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _empty(ax: Any, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color="#777", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _rows(section: Mapping[str, Any], dimension: str) -> list[dict[str, Any]]:
    return [r for r in section.get("rows", []) if r["dimension"] == dimension]


def _label(value: Any, width: int = 28) -> str:
    """A CRM value as a chart label: ``$`` escaped (no mathtext), long names cut."""
    text = str(value)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.replace("$", r"\$")


def _funnel_chart(funnel: Mapping[str, Any], path: Path) -> Path:
    fig = _figure(12, 4.5)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    total = funnel["total"]
    stages = ["leads", "mql", "sql", "won"]
    counts = [total.get(s) or 0 for s in stages]
    ax1.barh(["Lead", "MQL", "SQL", "Won"][::-1], counts[::-1], color="#4e79a7")
    for i, c in enumerate(counts[::-1]):
        ax1.text(c, i, f" {c:,}", va="center", fontsize=9)
    ax1.set_title("Funnel (all leads)")
    ax1.set_xlim(0, max([*counts, 1]) * 1.25)
    rows = _rows(funnel, "channel")
    if rows:
        names = [_label(r["group"]) for r in rows]
        x = np.arange(len(names))
        width = 0.4
        ax2.bar(x - width / 2, [r["mql_to_sql"] or 0 for r in rows], width, label="MQL→SQL")
        ax2.bar(x + width / 2, [r["sql_to_won"] or 0 for r in rows], width, label="SQL→won")
        ax2.set_xticks(x, names, rotation=30, ha="right")
        ax2.set_ylim(0, 1)
        ax2.legend()
        ax2.set_title("Conversion by channel")
    else:
        _empty(ax2)
    return _save(fig, path)


def _segment_chart(funnel: Mapping[str, Any], path: Path) -> Path:
    fig = _figure(12, 4.5)
    axes = fig.subplots(1, 2)
    for ax, dim in zip(axes, ("industry", "company_size"), strict=True):
        rows = _rows(funnel, dim)
        if not rows:
            _empty(ax, f"no {dim}")
            continue
        names = [_label(r["group"]) for r in rows]
        ax.bar(names, [r["mql_to_won"] or 0 for r in rows], color="#59a14f")
        ax.set_title(f"MQL→won by {dim.replace('_', ' ')}")
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    return _save(fig, path)


def _rejection_chart(rejections: Mapping[str, Any], path: Path) -> Path:
    fig = _figure(12, 5)
    ax = fig.subplots()
    rows = [
        {"group": "ALL", **rejections["total"]},
        *_rows(rejections, "channel"),
    ]
    rows = [r for r in rows if r.get("rejections")]
    if not rows:
        _empty(ax, "no rejections")
        return _save(fig, path)
    reasons = rejections["reasons"]
    left = np.zeros(len(rows))
    labels = [_label(r["group"]) for r in rows]
    for i, reason in enumerate(reasons):
        shares = np.array([r["reasons"][reason]["share"] or 0.0 for r in rows])
        if not shares.any():
            continue
        ax.barh(
            labels,
            shares,
            left=left,
            label=_label(reason),
            color=REASON_COLORS[i % len(REASON_COLORS)],
        )
        left += shares
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of rejections")
    ax.set_title("Rejection reasons by channel")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return _save(fig, path)


def _sla_chart(sla: Mapping[str, Any], path: Path) -> Path:
    fig = _figure(12, 4.5)
    ax1, ax2 = fig.subplots(1, 2)
    hist = sla.get("response_hours_histogram") or {}
    counts = hist.get("counts") or []
    edges = hist.get("edges") or []
    decide, contact = sla["targets"]["decision_hours"], sla["targets"]["first_contact_hours"]
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
        ax1.set_xlabel("hours from handoff to first sales response")
        ax1.set_title(f"Response time (green ≤ {decide:g} h, amber ≤ {contact:g} h)")
        ax1.tick_params(axis="x", labelrotation=30)
    else:
        _empty(ax1)
    rows = _rows(sla, "channel")
    if rows:
        names = [_label(r["group"]) for r in rows]
        x = np.arange(len(names))
        width = 0.4
        ax2.bar(
            x - width / 2,
            [r["within_8h_share"] or 0 for r in rows],
            width,
            label=f"≤ {decide:g} h",
        )
        ax2.bar(
            x + width / 2,
            [r["first_contact_within_24h_share"] or 0 for r in rows],
            width,
            label=f"≤ {contact:g} h",
        )
        ax2.set_xticks(x, names, rotation=30, ha="right")
        ax2.set_ylim(0, 1.05)
        ax2.legend(loc="lower right")
        ax2.set_title("SLA compliance by channel")
    else:
        _empty(ax2)
    return _save(fig, path)


def _g(value: float | None) -> str:
    return "∞" if value is None else f"{value:g}"


def _calibration_chart(calibration: Mapping[str, Any], path: Path) -> Path:
    fig = _figure(12, 4.8)
    axes = fig.subplots(1, 2)
    for ax, stage, title in zip(
        axes, ("sql", "won"), ("P(SQL) vs accepted", "P(won) vs won"), strict=True
    ):
        data = calibration.get("stages", {}).get(stage)
        if not data or not data.get("bands"):
            _empty(ax, "no predictions with known outcomes")
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
        ax.set_xlabel("predicted")
        ax.set_ylabel("observed")
        ece = data.get("ece")
        ax.set_title(f"{title} (n={data['n']:,}, ECE {ece:.3f})" if ece is not None else title)
    return _save(fig, path)


def _drift_chart(drift: Mapping[str, Any], path: Path) -> Path:
    entries = [*drift.get("features", [])]
    if drift.get("score"):
        entries.insert(0, drift["score"])
    entries = [e for e in entries if e.get("psi") is not None][:25]
    fig = _figure(12, max(3.0, 0.3 * len(entries) + 1.5))
    ax = fig.subplots()
    if not entries:
        _empty(ax, "no features to compare")
        return _save(fig, path)
    names = [_label(e["feature"], 40) for e in entries]
    values = [e["psi"] for e in entries]
    colors = [STATUS_COLORS.get(e["status"], "#777") for e in entries]
    ax.barh(names, values, color=colors)
    ax.axvline(PSI_WARN, color=STATUS_COLORS["warn"], linestyle="--", linewidth=1)
    ax.axvline(PSI_ALERT, color=STATUS_COLORS["alert"], linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel("PSI")
    ax.set_title(_label(f"Population stability vs {drift.get('reference', 'reference')}", 90))
    return _save(fig, path)


def write_charts(report: Mapping[str, Any], out: Path, prefix: str = "") -> dict[str, str]:
    """Draw every chart into ``out``; return ``{chart: file name}``."""
    out.mkdir(parents=True, exist_ok=True)
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
            path = draw(report[section], out / f"{prefix}{name}")
            drawn[name] = path.name
    return drawn


# --- HTML -----------------------------------------------------------------------------------


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * float(value):.{digits}f} %"


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def _romi(value: Any) -> str:
    return "–" if value is None else f"{float(value):,.0f} %"


def _money(value: Any) -> str:
    return "–" if value is None else f"${float(value):,.0f}"


_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_ENV.filters.update(pct=_pct, num=_num, money=_money, romi=_romi)

TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
 body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
        color: #222; padding: 0 1em; }
 h1 { margin-bottom: 0; } h2 { border-bottom: 2px solid #4e79a7; padding-top: 1em; }
 .meta { color: #666; }
 table { border-collapse: collapse; margin: .5em 0 1.2em; font-size: 13px; }
 th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
 th { background: #f3f5f8; } td.l, th.l { text-align: left; }
 .warn { background: #fff4d6; border-left: 4px solid #e0a526; padding: .5em 1em; }
 .ok { color: #4c9a6a; } .st-warn { color: #b7830f; font-weight: bold; }
 .st-alert { color: #c8453b; font-weight: bold; } .st-insufficient_data { color: #888; }
 .kpis { display: flex; flex-wrap: wrap; gap: 1em; }
 .kpi { background: #f3f5f8; padding: .6em 1em; border-radius: 6px; min-width: 9em; }
 .kpi b { display: block; font-size: 20px; }
 img { max-width: 100%; } .notes { color: #666; font-size: 12px; }
 details { margin: .3em 0 1em; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">Source: {{ r.source }} · generated {{ r.generated_at }} ·
 leads {{ r.period.leads|num }} ({{ r.period.first_lead or "–" }} → {{ r.period.last_lead or "–" }})
 {% if r.period.start or r.period.end %}· period {{ r.period.start or "…" }} →
 {{ r.period.end or "…" }}{% endif %}
 {% for link in links %}· <a href="{{ link[1] }}">{{ link[0] }}</a>{% endfor %}</p>
<p><a href="#funnel">Funnel</a> · <a href="#rejections">Rejection reasons</a> ·
 <a href="#sla">SLA</a> · <a href="#calibration">Calibration</a> · <a href="#drift">Drift</a></p>
{% if r.warnings %}<div class="warn"><b>Warnings</b><ul>
{% for w in r.warnings %}<li>{{ w }}</li>{% endfor %}</ul></div>{% endif %}
{% for n in r.notes %}<p class="notes">{{ n }}</p>{% endfor %}

{% set f = r.funnel %}
<h2 id="funnel">Funnel: Lead → MQL → SQL → won</h2>
<div class="kpis">
 <div class="kpi">MQL→SQL<b>{{ f.total.mql_to_sql|pct }}</b></div>
 <div class="kpi">SQL→won<b>{{ f.total.sql_to_won|pct }}</b></div>
 <div class="kpi">Win rate (closed)<b>{{ f.total.win_rate_closed|pct }}</b></div>
 <div class="kpi">Revenue<b>{{ f.total.revenue|money }}</b></div>
 <div class="kpi">LTV<b>{{ f.total.ltv|money }}</b></div>
 <div class="kpi">CAC<b>{{ f.total.cac|money }}</b></div>
 <div class="kpi">LTV:CAC<b>{{ f.total.ltv_cac|num(2) }}</b></div>
 <div class="kpi">ROMI<b>{{ f.total.romi_pct|romi }}</b></div>
</div>
<img src="{{ charts['funnel.png'] }}" alt="funnel by channel">
<img src="{{ charts['funnel_segments.png'] }}" alt="conversion by segment">
{% for dim in r.group_by %}
<details {% if loop.first %}open{% endif %}><summary>by {{ dim }}</summary>
<table><tr><th class="l">{{ dim }}</th><th>leads</th><th>MQL</th><th>SQL</th><th>won</th>
<th>lost</th><th>open</th><th>MQL→SQL</th><th>SQL→won</th><th>win rate</th><th>revenue</th>
<th>LTV</th><th>marketing</th><th>sales</th><th>CAC</th><th>LTV:CAC</th><th>ROMI</th></tr>
{% for row in f.rows if row.dimension == dim %}
<tr><td class="l">{{ row.group }}</td><td>{{ row.leads|num }}</td><td>{{ row.mql|num }}</td>
<td>{{ row.sql|num }}</td><td>{{ row.won|num }}</td><td>{{ row.lost|num }}</td>
<td>{{ row.open_deals|num }}</td><td>{{ row.mql_to_sql|pct }}</td>
<td>{{ row.sql_to_won|pct }}</td><td>{{ row.win_rate_closed|pct }}</td>
<td>{{ row.revenue|money }}</td><td>{{ row.ltv|money }}</td>
<td>{{ row.marketing_cost|money }}</td><td>{{ row.sales_cost|money }}</td>
<td>{{ row.cac|money }}</td><td>{{ row.ltv_cac|num(2) }}</td>
<td>{{ row.romi_pct|romi }}</td></tr>
{% endfor %}</table></details>
{% endfor %}
<p class="notes">LTV = {{ f.assumptions.ltv }} ({{ f.assumptions.retention_multiple }});
 CAC = {{ f.assumptions.cac }}; ROMI = {{ f.assumptions.romi_pct }}
 (gross margin {{ f.assumptions.gross_margin }}). Targets: LTV:CAC ≥ 3, ROMI &gt; 200 %.
 {% for n in f.notes %}{{ n }}. {% endfor %}</p>

{% set j = r.rejections %}
<h2 id="rejections">Rejection reasons: what marketing must fix</h2>
<p>{{ j.total.rejections|num }} rejections of {{ j.total.decisions|num }} sales decisions
 ({{ j.total.rejection_rate|pct }}); most common: <b>{{ j.total.top_reason or "–" }}</b>.</p>
<img src="{{ charts['rejections.png'] }}" alt="rejection reasons by channel">
{% for dim in r.group_by %}
<details {% if loop.first %}open{% endif %}><summary>by {{ dim }}</summary>
<table><tr><th class="l">{{ dim }}</th><th>decisions</th><th>rejections</th><th>rate</th>
<th class="l">over-represented</th>
{% for reason in j.reasons %}<th>{{ reason }}</th>{% endfor %}</tr>
<tr><td class="l"><i>all</i></td><td>{{ j.total.decisions|num }}</td>
<td>{{ j.total.rejections|num }}</td><td>{{ j.total.rejection_rate|pct }}</td><td></td>
{% for reason in j.reasons %}<td>{{ j.total.reasons[reason].share|pct }}</td>{% endfor %}</tr>
{% for row in j.rows if row.dimension == dim %}
<tr><td class="l">{{ row.group }}</td><td>{{ row.decisions|num }}</td>
<td>{{ row.rejections|num }}</td><td>{{ row.rejection_rate|pct }}</td>
<td class="l">{{ row.most_over_represented or "" }}</td>
{% for reason in j.reasons %}<td title="{{ row.reasons[reason].count }} rejections">
{{ row.reasons[reason].share|pct }}</td>{% endfor %}</tr>
{% endfor %}</table></details>
{% endfor %}
<p class="notes">{% for n in j.notes %}{{ n }}. {% endfor %}</p>

{% set s = r.sla %}
{% set decide_h = '%g'|format(s.targets.decision_hours) %}
{% set contact_h = '%g'|format(s.targets.first_contact_hours) %}
{% set attempts = s.targets.min_attempts %}
<h2 id="sla">Handoff SLA</h2>
<div class="kpis">
 <div class="kpi">Accept/reject ≤ {{ decide_h }} h<b>{{ s.total.within_8h_share|pct }}</b></div>
 <div class="kpi">First contact ≤ {{ contact_h }} h
  <b>{{ s.total.first_contact_within_24h_share|pct }}</b></div>
 <div class="kpi">Median response<b>{{ s.total.response_hours_median|num(1) }} h</b></div>
 <div class="kpi">no_response with ≥ {{ attempts }} attempts
  <b>{{ s.total.no_response_3plus_attempts_share|pct }}</b></div>
 <div class="kpi">Rejections with ≥ {{ attempts }} attempts
  <b>{{ s.total.rejections_3plus_attempts_share|pct }}</b></div>
 <div class="kpi">Returned to nurture<b>{{ s.total.returned_to_nurture_share|pct }}</b></div>
 <div class="kpi">Nurtured after rejection
  <b>{{ s.total.nurtured_after_rejection_share|pct }}</b></div>
 <div class="kpi">Undecided handoffs<b>{{ s.total.undecided|num }}</b></div>
{% if s.total.breaches_decision_late is defined %}
 <div class="kpi">SLA breaches: decision / first contact / SQL confirmation / attempts
  <b>{{ s.total.breaches_decision_late|num }} / {{ s.total.breaches_first_contact_late|num }}
  / {{ s.total.breaches_sql_confirm_late|num }}
  / {{ s.total.breaches_no_response_few_attempts|num }}</b></div>
{% endif %}
</div>
<img src="{{ charts['sla.png'] }}" alt="SLA">
{% for dim in r.group_by %}
<details {% if loop.first %}open{% endif %}><summary>by {{ dim }}</summary>
<table><tr><th class="l">{{ dim }}</th><th>handed over</th><th>decided</th><th>median h</th>
<th>p90 h</th><th>≤ {{ decide_h }} h</th><th>≤ {{ contact_h }} h</th><th>no_response</th>
<th>of which ≥ {{ attempts }} attempts</th><th>rejections ≥ {{ attempts }} attempts</th>
<th>returned to nurture</th><th>nurtured after</th></tr>
{% for row in s.rows if row.dimension == dim %}
<tr><td class="l">{{ row.group }}</td><td>{{ row.handed_over|num }}</td>
<td>{{ row.decided|num }}</td><td>{{ row.response_hours_median|num(1) }}</td>
<td>{{ row.response_hours_p90|num(1) }}</td><td>{{ row.within_8h_share|pct }}</td>
<td>{{ row.first_contact_within_24h_share|pct }}</td><td>{{ row.no_response_rejections|num }}</td>
<td>{{ row.no_response_3plus_attempts_share|pct }}</td>
<td>{{ row.rejections_3plus_attempts_share|pct }}</td>
<td>{{ row.returned_to_nurture_share|pct }}</td>
<td>{{ row.nurtured_after_rejection_share|pct }}</td></tr>
{% endfor %}</table></details>
{% endfor %}
<p class="notes">{% for n in s.notes %}{{ n }}. {% endfor %}</p>

{% set c = r.calibration %}
<h2 id="calibration">Calibration in production</h2>
<img src="{{ charts['calibration.png'] }}" alt="calibration">
{% if c.available %}
{% for stage, data in c.stages.items() %}
<table><tr><th class="l">{{ stage }}: band</th><th>n</th><th>predicted</th><th>observed</th></tr>
{% for b in data.bands %}<tr><td class="l">{{ b.band }}</td><td>{{ b.n|num }}</td>
<td>{{ b.predicted|pct }}</td><td>{{ b.observed|pct }}</td></tr>{% endfor %}
<tr><td class="l"><i>all</i></td><td>{{ data.n|num }}</td><td>{{ data.mean_predicted|pct }}</td>
<td>{{ data.observed_rate|pct }}</td></tr></table>
<p class="notes">{{ stage }}: ECE {{ data.ece|num(3) }}, Brier {{ data.brier|num(3) }}</p>
{% endfor %}
{% if c.by_decision %}
<table><tr><th class="l">service decision</th><th>n</th><th>mean P(SQL)</th>
<th>accepted</th><th>mean P(won)</th><th>won</th></tr>
{% for d in c.by_decision %}<tr><td class="l">{{ d.decision }}</td><td>{{ d.n|num }}</td>
<td>{{ d.mean_p_sql|pct }}</td><td>{{ d.observed_sql_rate|pct }}</td>
<td>{{ d.mean_p_won|pct }}</td><td>{{ d.observed_won_rate|pct }}</td></tr>{% endfor %}
</table>{% endif %}
{% endif %}
<p class="notes">{% for n in c.notes %}{{ n }}. {% endfor %}</p>

{% set d = r.drift %}
<h2 id="drift">Drift (population stability index)</h2>
<p>Reference: {{ d.reference }} ({{ d.n_reference|num }} rows) · current:
 {{ d.n_current|num }} rows · overall status
 <span class="st-{{ d.status }}">{{ d.status }}</span> · warn ≥ {{ d.thresholds.warn }},
 alert ≥ {{ d.thresholds.alert }}</p>
<img src="{{ charts['drift.png'] }}" alt="drift">
<table><tr><th class="l">feature</th><th class="l">kind</th><th>PSI</th><th>noise</th>
<th class="l">status</th><th class="l">largest shift</th><th class="l">new values</th></tr>
{% for e in ([d.score] if d.score else []) + d.features %}
<tr><td class="l">{{ e.feature }}</td><td class="l">{{ e.kind }}</td><td>{{ e.psi|num(3) }}</td>
<td>{{ e.noise|num(3) }}</td><td class="l st-{{ e.status }}">{{ e.status }}</td>
<td class="l">{% if e.top_shift %}{{ e.top_shift.bin }}: {{ e.top_shift.reference_share|pct }}
 → {{ e.top_shift.current_share|pct }}{% endif %}</td>
<td class="l">{% for k, v in (e.new_values or {}).items() %}{{ k }} ({{ v|pct }})
 {% endfor %}</td></tr>
{% endfor %}</table>
<p class="notes">noise = the PSI expected from sampling alone; with fewer than
 {{ d.thresholds.min_rows }} rows on a side, or noise above {{ d.thresholds.max_noise }},
 a PSI is not judged (insufficient_data).
 {% for n in d.notes or [] %}{{ n }}. {% endfor %}</p>
</body></html>
"""
)


def write_html(
    report: Mapping[str, Any],
    out: Path,
    *,
    page: str = "index.html",
    title: str = "leadscore: closing the loop",
    links: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``page`` and its PNG charts into ``out``; return the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    prefix = "" if page == "index.html" else f"{Path(page).stem}_"
    charts = write_charts(report, out, prefix)
    html = TEMPLATE.render(r=report, charts=charts, title=title, links=list(links))
    path = out / page
    path.write_text(html, encoding="utf-8")
    (out / f"{Path(page).stem}.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1, allow_nan=False, default=str),
        encoding="utf-8",
    )
    return path
