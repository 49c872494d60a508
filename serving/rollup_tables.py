"""The report roll-ups: per-lead summaries and per-day sums kept up to date from the log.

A report over a million decisions cannot rank every decision per lead on each request.
These tables hold what the reports group instead, kept current incrementally:

* :class:`DirtyLead` — leads whose decisions or feedback changed since the roll-ups were
  last refreshed. Database triggers (migration 0009) add a lead here whenever a row of
  ``decisions`` or ``feedback`` is inserted, updated or deleted, in the writer's own
  transaction: no writer can forget to, and the scoring path pays no Python for it.
* :class:`LeadRollup` — one row per lead: its cohort time and group fields (from its first
  decision), whether it was handed to sales, and how many feedback rows it has without
  having been scored.
* :class:`LeadRollupMetric` — the lead's contributions to the report sums (``mql``,
  ``sql``, ``won``, ``revenue``, ``n_<reason>``, ...), one row per non-zero metric.
* :class:`ReportDaySum` — those contributions added up per cohort day (UTC), group field,
  value and metric, plus the pseudo-field :data:`TOTAL`: what a report for a period reads.

``serving.store.rollups.refresh_rollups`` recomputes the dirty leads and moves the day
sums by the difference; migration 0009 marks every existing lead dirty, so the first
refresh after an upgrade builds the roll-ups from the log.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Double, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from serving.tables import LEAD_ID_LEN, Base

TOTAL = "*"
"""The pseudo-field whose single value :data:`TOTAL` holds every lead's sums."""
MISSING = "\x1f"
"""A missing group value in :class:`ReportDaySum` (part of its primary key, so not NULL)."""
FIELD_LEN = 64
METRIC_LEN = 64


class DirtyLead(Base):
    """A lead whose roll-ups are stale: written by triggers, emptied by the refresh."""

    __tablename__ = "report_dirty_leads"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)


class LeadRollup(Base):
    """One lead as the reports see it; ``cohort_at`` is ``None`` for a lead never scored."""

    __tablename__ = "lead_rollups"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    cohort_at: Mapped[datetime | None]
    handed: Mapped[int] = mapped_column(Integer)
    unscored_feedback: Mapped[int] = mapped_column(Integer)
    g_channel: Mapped[str | None] = mapped_column(Text)
    g_campaign: Mapped[str | None] = mapped_column(Text)
    g_industry: Mapped[str | None] = mapped_column(Text)
    g_company_size: Mapped[str | None] = mapped_column(Text)
    g_country: Mapped[str | None] = mapped_column(Text)
    g_region: Mapped[str | None] = mapped_column(Text)
    g_revenue_band: Mapped[str | None] = mapped_column(Text)
    g_seniority: Mapped[str | None] = mapped_column(Text)
    g_department: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_lead_rollups_cohort_at", "cohort_at"),)


class LeadRollupMetric(Base):
    """One of a lead's non-zero contributions to the report sums."""

    __tablename__ = "lead_rollup_metrics"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    metric: Mapped[str] = mapped_column(String(METRIC_LEN), primary_key=True)
    amount: Mapped[float] = mapped_column(Double)


class ReportDaySum(Base):
    """A metric's sum over the leads of one cohort day with one value of one field."""

    __tablename__ = "report_day_sums"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    field: Mapped[str] = mapped_column(String(FIELD_LEN), primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    metric: Mapped[str] = mapped_column(String(METRIC_LEN), primary_key=True)
    amount: Mapped[float] = mapped_column(Double)


class LeadAttribution(Base):
    """A converted lead's attribution credits, as it adds them to the day sums.

    ``credits`` is JSON: ``[[field, value, metric, amount], ...]`` (fields ``attr:channel``
    / ``attr:campaign`` and :data:`TOTAL`, metrics ``attr:...``), its cohort day left to
    its :class:`LeadRollup`. One row per lead, not one per credit: a converted lead has
    dozens (touches × models × stages), and a million of those rows would be the refresh's
    main cost. ``serving.store.rollup_attribution`` writes and reads it.
    """

    __tablename__ = "lead_attribution"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    credits: Mapped[str] = mapped_column(Text)


class AttributionHalfLife(Base):
    """A time-decay half-life (days) the roll-ups keep sums for.

    The time-decay credit is not linear in the half-life, so its sums are kept per value
    (metric ``attr:time_decay@<days>:<stage>``); a report for a half-life not listed here
    adds it and recomputes the converted leads first (``rollup_attribution.ensure_half_life``).
    """

    __tablename__ = "attribution_half_lives"

    half_life_days: Mapped[float] = mapped_column(Double, primary_key=True)
