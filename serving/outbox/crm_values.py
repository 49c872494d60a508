"""What a CRM write-back writes: the lead's CRM id and the values of the mapped fields.

Shared by :mod:`serving.outbox.amocrm` and :mod:`serving.outbox.bitrix24`, which differ
only in how they wrap these values for their API. A subscription maps some of
:data:`FIELD_NAMES` to the CRM's own field ids (``options["fields"]``); a name outside
them, or a mapping that is not a dict, is a configuration error (:class:`CrmConfigError`)
that the deliverers turn into a permanent failure naming the option, so a typo is seen in
the delivery log at the first event instead of being retried for days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scoring.reason_text import render_reason
from serving.i18n.translator import Translator

LEAD_EVENTS: frozenset[str] = frozenset({"lead.threshold_crossed", "lead.decision_changed"})
"""The events that carry a lead's score; CRM deliverers acknowledge every other one."""

FIELD_NAMES: tuple[str, ...] = (
    "p_won",
    "p_sql",
    "decision",
    "band",
    "reasons",
    "threshold",
    "model_version",
)
"""What can be written: ``options["fields"]`` maps some of these to CRM field ids."""

NUMERIC_NAMES: frozenset[str] = frozenset({"p_won", "p_sql", "threshold"})
"""Written as numbers (a CRM "number" field); the others are text."""

DEFAULT_TOP_REASONS = 3
DEFAULT_MAX_TEXT = 250
"""Longest text written (``options["max_text"]``); a longer reasons line is cut with "…",
so that it fits a one-line text field (map reasons to a text-area field and raise it for
more)."""


class CrmConfigError(ValueError):
    """A subscription's options cannot work; the message names the option, never a secret."""


def crm_lead_id(payload: Mapping[str, Any]) -> int:
    """The lead's id in the CRM: ``payload["crm_id"]`` if present, else ``payload["lead_id"]``.

    Both CRMs number their leads with positive integers, so leadscore's own ``lead_id``
    serves only when the leads were imported under their CRM ids. ``ValueError`` (naming
    the key, not quoting the value) otherwise.
    """
    key = "crm_id" if payload.get("crm_id") not in (None, "") else "lead_id"
    value = payload.get(key)
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"the event's {key} is not a positive integer, so it names no CRM lead "
            "(send crm_id with the lead, or import leads under their CRM ids)"
        )
    return value


def field_map(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options["fields"]`` checked for names: a non-empty dict of :data:`FIELD_NAMES`."""
    fields = options.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise CrmConfigError(
            f"options.fields must map some of {', '.join(FIELD_NAMES)} to the CRM's field ids"
        )
    unknown = sorted(str(k) for k in fields if k not in FIELD_NAMES)
    if unknown:
        raise CrmConfigError(
            f"options.fields has unknown names: {', '.join(unknown)} "
            f"(known: {', '.join(FIELD_NAMES)})"
        )
    return dict(fields)


def _int_option(options: Mapping[str, Any], name: str, default: int, low: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise CrmConfigError(f"options.{name} must be an integer ≥ {low}")
    return value


def _lang(options: Mapping[str, Any]) -> str:
    lang = options.get("lang", "en")
    if lang not in ("en", "ru"):
        raise CrmConfigError('options.lang must be "en" or "ru"')
    return str(lang)


def _probability(value: Any, percent: bool, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"the event's {name} is not a number")
    return round(float(value) * 100, 2) if percent else round(float(value), 4)


def reasons_line(reasons: Any, lang: str, top: int, max_len: int) -> str:
    """The first ``top`` reasons in one line, each marked + (raises) or − (lowers).

    A reason with a code and parameters is worded anew in ``lang`` (the catalog of
    :mod:`scoring.reason_text`); one with only a text keeps its text.
    """
    if not isinstance(reasons, Sequence) or isinstance(reasons, str):
        return ""
    words = Translator(lang)
    parts = []
    for reason in [r for r in reasons if isinstance(r, Mapping)][:top]:
        text = render_reason(reason, lang, words.value).strip()
        if not text:
            continue
        lowers = reason.get("direction") in ("lowers", "negative", "-") or str(
            reason.get("code", "")
        ).endswith(".lowers")
        parts.append(f"{'−' if lowers else '+'} {text}")
    line = "; ".join(parts)
    return line if len(line) <= max_len else line[: max_len - 1].rstrip() + "…"


def field_values(payload: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: value}`` for every mapped name the payload has: numbers for
    :data:`NUMERIC_NAMES` (``options["percent"]``: 0–100 instead of 0–1), words in
    ``options["lang"]`` for decision and band, the reasons line for reasons.

    ``CrmConfigError`` for bad options, ``ValueError`` for a payload that cannot be written.
    """
    fields = field_map(options)
    lang = _lang(options)
    top = _int_option(options, "top_reasons", DEFAULT_TOP_REASONS, 1)
    max_len = _int_option(options, "max_text", DEFAULT_MAX_TEXT, 16)
    percent = bool(options.get("percent", False))
    words = Translator(lang)
    values: dict[str, Any] = {}
    for name in fields:
        raw = payload.get(name)
        if raw is None:
            continue
        if name in NUMERIC_NAMES:
            values[name] = _probability(raw, percent, name)
        elif name == "reasons":
            values[name] = reasons_line(raw, lang, top, max_len)
        elif name in ("decision", "band"):
            values[name] = words.label(name, raw)
        else:
            values[name] = str(raw)[:max_len]
    return values


__all__ = [
    "FIELD_NAMES",
    "LEAD_EVENTS",
    "NUMERIC_NAMES",
    "CrmConfigError",
    "crm_lead_id",
    "field_map",
    "field_values",
    "reasons_line",
]
