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
* :class:`QueueLead`, :class:`QueueChange`, :class:`QueueCount` — the sales queue's row per
  lead, its trend's changes over time, and how many leads each filter matches
  (``serving.store.rollup_queue``).

The SLA section's part (``serving.store.rollup_sla``, migration 0011) keeps its own
per-lead rows: :class:`LeadSla` (response and decision times),
:class:`LeadSlaMetric` (its ``sla:`` contributions), :class:`SlaHistogram` (the times
per day and month as bucket counts), :class:`LeadSlaDue` (clocks still open, by when they
run out) and :class:`SlaRollupClocks` (the windows they were made with).

``serving.store.rollups.refresh_rollups`` recomputes the dirty leads and moves the day
sums by the difference; migration 0009 marks every existing lead dirty, so the first
refresh after an upgrade builds the roll-ups from the log.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Double, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from serving.tables import CATEGORY_LEN, ID_LEN, LEAD_ID_LEN, MODEL_VERSION_LEN, NAME_LEN, Base

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

    # a section reads its own fields over a range of days: without this index that is a
    # scan of every section's sums (migration 0012)
    __table_args__ = (Index("ix_report_day_sums_field_day", "field", "day"),)


class LeadSla(Base):
    """One MQL's response and decision times, in hours: what its buckets in
    :class:`SlaHistogram` came from, and what a report bins itself for the leads of its
    partial first and last day."""

    __tablename__ = "lead_sla"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    response_hours: Mapped[float | None] = mapped_column(Double)
    decision_hours: Mapped[float | None] = mapped_column(Double)


class SlaHistogram(Base):
    """The SLA section's response or decision times of one cohort day (``span`` ``day``)
    or month (``month``, ``day`` its first day) with one value of one group field, as
    counts per bucket of :mod:`serving.store.sla_hist`'s grid: a period's medians and
    p90s come from the summed counts, not from every lead's time (migration 0015)."""

    __tablename__ = "sla_histograms"

    span: Mapped[str] = mapped_column(String(8), primary_key=True)
    field: Mapped[str] = mapped_column(String(FIELD_LEN), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    time: Mapped[str] = mapped_column(String(METRIC_LEN), primary_key=True)
    counts: Mapped[bytes] = mapped_column(LargeBinary)
    """Little-endian int32 pairs ``(bucket, count)``, buckets ascending, no zero counts."""

    # a refresh reads and rewrites the rows of the days its leads touch
    __table_args__ = (Index("ix_sla_histograms_day", "day"),)


class LeadSlaMetric(Base):
    """One of a lead's non-zero contributions to the SLA section's sums (``sla:`` metrics)."""

    __tablename__ = "lead_sla_metrics"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    metric: Mapped[str] = mapped_column(String(METRIC_LEN), primary_key=True)
    amount: Mapped[float] = mapped_column(Double)


class LeadSlaDue(Base):
    """An SLA clock of a lead still waiting for its event, and when it runs out.

    The day sums count it as breached already; a report as of a moment before ``due_at``
    takes it back out, reading only the clocks due after that moment (the index)."""

    __tablename__ = "lead_sla_due"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    rule: Mapped[str] = mapped_column(String(METRIC_LEN), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_lead_sla_due_due_at", "due_at"),)


class SlaRollupClocks(Base):
    """The SLA clocks the SLA roll-ups were computed with (one row; none: the defaults)."""

    __tablename__ = "sla_rollup_clocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_hours: Mapped[float] = mapped_column(Double)
    sql_confirm_hours: Mapped[float] = mapped_column(Double)
    first_contact_hours: Mapped[float] = mapped_column(Double)
    min_contact_attempts: Mapped[int] = mapped_column(Integer)


class DriftRollupProfile(Base):
    """The watched values the drift roll-up bins decisions by (at most one row): the served
    model's reference profile reduced to names, kinds and edges, and its sha256 ``key``.
    A model with other edges replaces it, and the drift roll-up is rebuilt from the log
    (``serving.store.rollup_drift.use_profile``)."""

    __tablename__ = "drift_rollup_profile"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[str] = mapped_column(Text)


class DriftRollupDecision(Base):
    """One decision's watched values as :class:`DriftRollupProfile` bins them (a JSON list
    of texts): what it adds to the day sums, and what a period's partial days count."""

    __tablename__ = "drift_rollup_decisions"

    decision_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN))
    as_of: Mapped[datetime]
    bins: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_drift_rollup_decisions_lead_id", "lead_id"),
        Index("ix_drift_rollup_decisions_as_of", "as_of"),
    )


class QueueLead(Base):
    """One scored lead as the sales queue lists it: its latest decision, its last sales
    decision and the start of its open handoff (the queue's own SQL,
    ``serving.store.queue``), plus what the filters and sorts need at hand.

    ``decided`` is the queue's status (sales decided and no handoff since), ``band`` the
    P(won) band of ``serving.store.queue.SCORE_BANDS`` and ``multi`` whether the lead has
    more than one decision (a change of P(won) at all). The indexes follow the queue's
    orders: newest first overall, within a status and decision, and open handoffs by the
    start of their SLA clock (covering what its counts filter on).
    """

    __tablename__ = "queue_leads"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(ID_LEN))
    scored_at: Mapped[datetime]
    as_of: Mapped[datetime]
    model_name: Mapped[str] = mapped_column(String(NAME_LEN))
    model_version: Mapped[str] = mapped_column(String(MODEL_VERSION_LEN))
    p_sql: Mapped[float | None] = mapped_column(Double)
    p_won: Mapped[float] = mapped_column(Double)
    fit_score: Mapped[float] = mapped_column(Double)
    engagement_score: Mapped[float] = mapped_column(Double)
    decision: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[float] = mapped_column(Double)
    likely_rejection_reason: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    industry: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    company_size: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    country: Mapped[str | None] = mapped_column(String(CATEGORY_LEN))
    sales_kind: Mapped[str | None] = mapped_column(String(32))
    sales_reason: Mapped[str | None] = mapped_column(String(32))
    sales_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    handoff_at: Mapped[datetime | None]
    decided: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(16))
    multi: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_queue_leads_scored_at_decision_id", "scored_at", "decision_id"),
        Index("ix_queue_leads_status", "decided", "decision", "scored_at", "decision_id"),
        Index(
            "ix_queue_leads_handoff_at",
            "handoff_at",
            "decided",
            "decision",
            "channel",
            "band",
            "multi",
        ),
    )


class QueueChange(Base):
    """One stretch of a lead's change of P(won) (``serving.trend``) while its newest
    decision is younger than the trend window: the change holds while the moment a week
    before "now" is in ``[since, until)`` (``since`` ``None``: from the beginning). Once
    that moment reaches the newest decision the change is 0 and needs no row."""

    __tablename__ = "queue_changes"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[datetime | None]
    until: Mapped[datetime]
    change: Mapped[float] = mapped_column(Double)


class QueueCount(Base):
    """How many queue rows have one combination of the filters that do not move with
    time (status, decision, channel — :data:`MISSING` for none —, band, ``multi``)."""

    __tablename__ = "queue_counts"

    decided: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(CATEGORY_LEN), primary_key=True)
    band: Mapped[str] = mapped_column(String(16), primary_key=True)
    multi: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class LeadCalibration(Base):
    """One scored lead as the calibration section compares it (see
    ``serving.store.report_calibration.lead_calibration``): its combination of decision,
    labels and bands, and what it adds to the combination's sums.

    ``cohort_at`` and ``last_event_at`` (the newest of its cohort time, sales decisions and
    closes) are indexed: whether a cohort is mature depends on the newest event of the
    report's leads, so a report reads these rows for the one cohort day the maturity cut
    falls in (and for partial days), and finds that newest event among one day's leads.
    """

    __tablename__ = "lead_calibration"

    lead_id: Mapped[str] = mapped_column(String(LEAD_ID_LEN), primary_key=True)
    cohort_at: Mapped[datetime]
    last_event_at: Mapped[datetime]
    decision: Mapped[str | None] = mapped_column(Text)
    y_sql: Mapped[float | None] = mapped_column(Double)
    y_won: Mapped[float | None] = mapped_column(Double)
    sql_band: Mapped[int | None] = mapped_column(Integer)
    won_band: Mapped[int | None] = mapped_column(Integer)
    p_sql: Mapped[float | None] = mapped_column(Double)
    p_won: Mapped[float | None] = mapped_column(Double)
    p_sql_clip: Mapped[float | None] = mapped_column(Double)
    p_won_clip: Mapped[float | None] = mapped_column(Double)
    sql_sq: Mapped[float | None] = mapped_column(Double)
    won_sq: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        Index("ix_lead_calibration_cohort_at", "cohort_at"),
        Index("ix_lead_calibration_last_event_at", "last_event_at"),
    )


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
