"""Reports that close the loop between marketing and sales: pure computation, no I/O.

Six sections, each a plain JSON-able dict (numbers, strings, lists; ``None`` for "not
computable"), so the same result feeds the HTML report (``serving.report_html``), the
JSON endpoints for Power BI / Tableau (``serving.report_api``) and tests. One module a
section:

``funnel``
    Lead → MQL → SQL → won by channel, campaign and segment, with revenue, LTV and —
    when cost inputs are given (``costs``) — CAC, LTV:CAC and ROMI (DOMAIN.md's
    definitions).
``rejections``
    Counts and shares of the mandatory rejection tags per group: what marketing must fix.
``sla``
    The handoff SLA in data: accept/reject and first-contact windows, contact attempts
    before ``no_response``, rejected leads returned to nurturing. The windows are
    :class:`~scoring.lifecycle.SlaClocks` (settings ``LEADSCORE_SLA_*``).
``calibration``
    Predicted vs observed conversion by score band (P(SQL) vs accepted, P(won) vs won).
``drift``
    Population stability index (PSI) per feature and for the score, against a training
    reference (a frame, or a stored :func:`reference_profile`).
``attribution``
    First touch, last touch, linear, U-shaped and time-decay credit of MQLs, SQLs, won
    deals and revenue per channel and campaign, side by side (``docs/attribution.md``).

Inputs are normalised into a :class:`ReportData` (``report_data``) by :func:`from_history`
(``history_inputs``: a CRM history in the data contract's four tables) or
:func:`from_store` (``store_inputs``: the serving decision log plus API feedback, turned
into the contract's tables by ``scoring.feedback_tables``). ``facts`` makes the one
per-lead table the grouped sections sum over; ``build`` puts the sections together.
Personal data (``name``, ``email``, ``phone``) is dropped on the way in and free-text
comments are never read, so no report can contain them.

Cohorts: a date range selects *leads* by when they entered (``created_at`` of a CRM
lead; the first scoring moment, ``as_of``, of a served lead); everything that happened
to those leads later — decisions, deals — counts, whenever it happened.
"""

from scoring.drift import population_stability, psi, reference_profile
from serving.reports.attribution import MODELS as ATTRIBUTION_MODELS
from serving.reports.attribution import attribution_report
from serving.reports.build import SECTIONS, build_report, section_json
from serving.reports.calibration import calibration_report
from serving.reports.costs import CostInputs, load_costs
from serving.reports.drift import PSI_ALERT, PSI_WARN, drift_report
from serving.reports.funnel import funnel_report
from serving.reports.history_inputs import from_history
from serving.reports.rejections import rejection_report
from serving.reports.report_data import DIMENSIONS, GROUPABLE, HALF_LIFE_DAYS, ReportData
from serving.reports.sla import sla_report
from serving.reports.store_inputs import from_store

__all__ = [
    "ATTRIBUTION_MODELS",
    "DIMENSIONS",
    "GROUPABLE",
    "HALF_LIFE_DAYS",
    "PSI_ALERT",
    "PSI_WARN",
    "SECTIONS",
    "CostInputs",
    "ReportData",
    "attribution_report",
    "build_report",
    "calibration_report",
    "drift_report",
    "from_history",
    "from_store",
    "funnel_report",
    "load_costs",
    "population_stability",
    "psi",
    "reference_profile",
    "rejection_report",
    "section_json",
    "sla_report",
]
