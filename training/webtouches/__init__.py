"""Touches from web analytics: Yandex Metrika Logs API and GA4 BigQuery exports.

A CRM knows what sales and e-mail did with a lead; the web analytics know what the lead
did on the site before it filled in a form. This package turns the two exports a
marketing team can actually get — Yandex Metrika's Logs API (TSV with ``ym:s:*`` visit
and ``ym:pv:*`` hit fields) and Google Analytics 4's BigQuery export (the ``events_*``
tables as newline-delimited JSON or Parquet) — into rows of the contract's *touches*
table, each with the UTM source, medium and campaign of its visit, and joins them to a
history's leads by a configurable key (client id, user id or a SHA-256 of the e-mail).

Where things are: ``mapping`` the YAML touch mapping (which URL is a pricing page, which
goal or event is a demo request, which UTM medium is which channel) and the join-key
names; ``metrika`` and ``ga4`` the two readers, each giving one frame of analytics touches
(:data:`ANALYTICS_COLUMNS`); ``join`` the join onto a :class:`~training.history.CRMHistory`
and its report. ``docs/web-analytics.md`` says where each field comes from.
"""

from __future__ import annotations

from training.webtouches.frame import ANALYTICS_COLUMNS, JOIN_KEYS, WebTouchesError
from training.webtouches.ga4 import read_ga4
from training.webtouches.join import JoinReport, join_touches, read_history
from training.webtouches.mapping import TouchMapping, load_touch_mapping
from training.webtouches.metrika import read_metrika

__all__ = [
    "ANALYTICS_COLUMNS",
    "JOIN_KEYS",
    "JoinReport",
    "TouchMapping",
    "WebTouchesError",
    "join_touches",
    "load_touch_mapping",
    "read_ga4",
    "read_history",
    "read_metrika",
]
