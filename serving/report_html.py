"""The report as a static HTML page with PNG charts.

:func:`write_html` renders any :func:`serving.reports.build_report` result (so a JSON
report saved from the API renders too): one page with every section — funnel,
rejections, SLA, calibration, drift — as tables plus the charts of
:mod:`serving.report_charts`. The page is self-contained apart from the PNGs next to it.

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

from jinja2 import Environment, select_autoescape

from serving.chart_text import ChartText
from serving.report_charts import CHARTS, write_charts

__all__ = ["CHARTS", "TEMPLATE", "write_charts", "write_html"]


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


def _words(value: Any, vocabulary: str | None = None) -> str:
    """A code in words: ``hand_to_sales`` → "hand to sales", ``no_budget`` → "no budget"."""
    return ChartText("en").value(value, vocabulary, width=60).replace(r"\$", "$")


_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_ENV.filters.update(pct=_pct, num=_num, money=_money, romi=_romi, words=_words)

TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
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
<tr><td class="l">{{ row.group|words(dim) }}</td><td>{{ row.leads|num }}</td>
<td>{{ row.mql|num }}</td>
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
 ({{ j.total.rejection_rate|pct }}); most common:
 <b>{{ j.total.top_reason|words("reason") if j.total.top_reason else "–" }}</b>.</p>
<img src="{{ charts['rejections.png'] }}" alt="rejection reasons by channel">
{% for dim in r.group_by %}
<details {% if loop.first %}open{% endif %}><summary>by {{ dim }}</summary>
<table><tr><th class="l">{{ dim }}</th><th>decisions</th><th>rejections</th><th>rate</th>
<th class="l">over-represented</th>
{% for reason in j.reasons %}<th>{{ reason|words("reason") }}</th>{% endfor %}</tr>
<tr><td class="l"><i>all</i></td><td>{{ j.total.decisions|num }}</td>
<td>{{ j.total.rejections|num }}</td><td>{{ j.total.rejection_rate|pct }}</td><td></td>
{% for reason in j.reasons %}<td>{{ j.total.reasons[reason].share|pct }}</td>{% endfor %}</tr>
{% for row in j.rows if row.dimension == dim %}
<tr><td class="l">{{ row.group|words(dim) }}</td><td>{{ row.decisions|num }}</td>
<td>{{ row.rejections|num }}</td><td>{{ row.rejection_rate|pct }}</td>
<td class="l">{{ row.most_over_represented|words("reason") if row.most_over_represented }}</td>
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
<tr><td class="l">{{ row.group|words(dim) }}</td><td>{{ row.handed_over|num }}</td>
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
{% for d in c.by_decision %}<tr><td class="l">{{ d.decision|words("decision") }}</td>
<td>{{ d.n|num }}</td>
<td>{{ d.mean_p_sql|pct }}</td><td>{{ d.observed_sql_rate|pct }}</td>
<td>{{ d.mean_p_won|pct }}</td><td>{{ d.observed_won_rate|pct }}</td></tr>{% endfor %}
</table>{% endif %}
{% endif %}
<p class="notes">{% for n in c.notes %}{{ n }}. {% endfor %}</p>

{% set d = r.drift %}
<h2 id="drift">Drift (population stability index)</h2>
<p>Reference: {{ d.reference }} ({{ d.n_reference|num }} rows) · current:
 {{ d.n_current|num }} rows · overall status
 <span class="st-{{ d.status }}">{{ d.status|words("status") }}</span>
 · warn ≥ {{ d.thresholds.warn }},
 alert ≥ {{ d.thresholds.alert }}</p>
<img src="{{ charts['drift.png'] }}" alt="drift">
<table><tr><th class="l">feature</th><th class="l">kind</th><th>PSI</th><th>noise</th>
<th class="l">status</th><th class="l">largest shift</th><th class="l">new values</th></tr>
{% for e in ([d.score] if d.score else []) + d.features %}
<tr><td class="l">{{ e.feature }}</td><td class="l">{{ e.kind }}</td><td>{{ e.psi|num(3) }}</td>
<td>{{ e.noise|num(3) }}</td><td class="l st-{{ e.status }}">{{ e.status|words("status") }}</td>
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
    lang: str = "en",
) -> Path:
    """Write ``page`` and its PNG charts into ``out``; return the page's path.

    ``lang`` is the charts' language (their titles, axes and values in words); the
    page's tables are in English for now.
    """
    out.mkdir(parents=True, exist_ok=True)
    prefix = "" if page == "index.html" else f"{Path(page).stem}_"
    charts = write_charts(report, out, prefix, lang=lang)
    html = TEMPLATE.render(r=report, charts=charts, title=title, links=list(links), lang=lang)
    path = out / page
    path.write_text(html, encoding="utf-8")
    (out / f"{Path(page).stem}.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1, allow_nan=False, default=str),
        encoding="utf-8",
    )
    return path
