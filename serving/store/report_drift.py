"""What the drift section counts per decision, in SQL: labels and bins of served values.

The pandas path (``serving.reports.store_inputs`` then ``drift_report``) reads every
decision's feature snapshot into a frame and bins it in numpy. Against a stored
reference profile (a trained model carries one) PSI needs only how many served rows fall
in each of the profile's bins or categories. :func:`served_values` makes, per decision,
the label or bin of each :class:`Watched` value (SQLAlchemy Core, the same on SQLite and
PostgreSQL); the drift roll-up (:mod:`serving.store.rollup_drift`) stores them per
decision and sums them per day, and :func:`counts_from` turns the sums into what
``serving.reports.drift.drift_from_counts`` takes.

The served value of a feature, as ``store_inputs._served_rows`` makes it: the feature
snapshot's value (JSON), the ``p_won`` column, the fit and engagement scores with ``-1``
("not available") as missing, and for the segment fields the snapshot's value else the
column. Labels as :func:`scoring.drift._categories` writes them (missing →
``__missing__``, booleans ``true``/``false``); a numeric feature counts JSON numbers
and booleans (1/0), anything else as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, String, case, cast, func

from scoring.drift import DRIFT_EXCLUDED, MISSING
from serving.store.report_leads import SEGMENT_COLUMNS
from serving.tables import Decision

SCORE_COLUMNS: frozenset[str] = frozenset({"fit_score", "engagement_score"})
"""Served percentiles: ``-1`` means not available."""
PERCENTILE_ORDER: tuple[str, ...] = ("fit_score", "engagement_score")
"""The percentile checks in the order the pandas path makes them (ties keep it)."""
COLUMN_VALUES: frozenset[str] = frozenset({"p_won", *SCORE_COLUMNS})
"""Served values the decision log keeps as columns, not in the snapshot."""


class _Json:
    """A snapshot field's JSON type, text and number, on the engine's dialect."""

    def __init__(self, dialect: str, name: str) -> None:
        d = Decision.__table__
        if dialect == "postgresql":
            kind = func.jsonb_typeof(d.c.features[name])
            self.present = kind.is_not(None)
            self.null = kind == "null"
            self.boolean = kind == "boolean"
            self.number = kind == "number"
            self.text: ColumnElement[Any] = d.c.features[name].as_string()
            self.true = self.text == "true"
            self.value: ColumnElement[Any] = cast(self.text, Float)
        else:
            path = '$."' + name.replace('"', '""') + '"'
            kind = func.json_type(d.c.features, path)
            self.present = kind.is_not(None)
            self.null = kind == "null"
            self.boolean = kind.in_(("true", "false"))
            self.number = kind.in_(("integer", "real"))
            self.text = cast(func.json_extract(d.c.features, path), String)
            self.true = kind == "true"
            self.value = func.json_extract(d.c.features, path)


def _label(dialect: str, name: str) -> ColumnElement[Any]:
    """A categorical feature's label per served row."""
    js = _Json(dialect, name)
    label: ColumnElement[Any] = case(
        (~js.present, None),
        (js.null, None),
        (js.boolean, case((js.true, "true"), else_="false")),
        (js.text.in_(("True", "False")), func.lower(js.text)),
        else_=js.text,
    )
    if name in SEGMENT_COLUMNS:
        label = func.coalesce(label, Decision.__table__.c[name])
    return func.coalesce(label, MISSING)


def _number(dialect: str, name: str) -> ColumnElement[Any]:
    """A numeric feature's value per served row (NULL: missing)."""
    d = Decision.__table__
    if name == "p_won":
        return d.c.p_won
    if name in SCORE_COLUMNS:
        return case((d.c[name] >= 0, d.c[name]), else_=None)
    js = _Json(dialect, name)
    return case(
        (js.number, js.value),
        (js.boolean, case((js.true, 1.0), else_=0.0)),
        else_=None,
    )


def _bin(value: ColumnElement[Any], edges: Sequence[float]) -> ColumnElement[Any]:
    """``searchsorted(edges, value, "right")`` as text, ``missing`` for NULL."""
    return case(
        (value.is_(None), "missing"),
        *((value < float(edge), str(i)) for i, edge in enumerate(edges)),
        else_=str(len(edges)),
    )


@dataclass(frozen=True)
class Watched:
    """One value the drift section counts per decision: a profile column (``categorical``
    or ``numeric`` with the profile's edges) or a served ``percentile`` (uniform edges)."""

    name: str
    kind: str
    edges: tuple[float, ...] = ()

    @property
    def snapshot_only(self) -> bool:
        """Whether only the feature snapshot holds it (a column may be in none of them:
        the pandas frame then has no such column, and the section leaves it out)."""
        return self.kind != "percentile" and self.name not in COLUMN_VALUES | SEGMENT_COLUMNS


def watched(profile: Mapping[str, Any], percentile_edges: Sequence[float]) -> tuple[Watched, ...]:
    """What a reference profile makes the drift section count: its columns (those not
    excluded from drift, in the profile's order), then the served percentiles."""
    columns: Mapping[str, Mapping[str, Any]] = profile["columns"]
    return (
        *(
            Watched(name, str(spec["kind"]), tuple(float(e) for e in spec.get("edges", ())))
            for name, spec in columns.items()
            if name not in DRIFT_EXCLUDED
        ),
        *(
            Watched(name, "percentile", tuple(map(float, percentile_edges)))
            for name in PERCENTILE_ORDER
        ),
    )


def served_values(dialect: str, spec: Sequence[Watched]) -> list[ColumnElement[Any]]:
    """Per decision, one text per watched value (its label, or its bin ``0 .. len(edges)``
    or ``missing``), then for each :attr:`Watched.snapshot_only` one ``1``/``0``: whether
    the snapshot carries it."""
    values: list[ColumnElement[Any]] = [
        _label(dialect, w.name)
        if w.kind == "categorical"
        else _bin(_number(dialect, w.name), w.edges)
        for w in spec
    ]
    values += [
        case((_Json(dialect, w.name).present, "1"), else_="0") for w in spec if w.snapshot_only
    ]
    return values


def counts_from(
    spec: Sequence[Watched], found: Mapping[int, Mapping[str, int]], present: set[int]
) -> tuple[int, dict[str, Any], dict[str, list[int]]]:
    """``found`` (per position in ``spec``, the decisions per label or bin) as
    ``drift_from_counts`` takes it: how many decisions, per profile column the served rows
    have (position in ``present``, or a log column) its labels most frequent first or its
    bins then the missing count, and per served percentile its bins (missing left out)."""
    counts: dict[str, Any] = {}
    percentiles: dict[str, list[int]] = {}
    n_current = 0
    for i, w in enumerate(spec):
        got = [(label, n) for label, n in found.get(i, {}).items() if n]
        if w.kind == "percentile":
            percentiles[w.name] = _bin_list(got, len(w.edges))[:-1]
            n_current = n_current or sum(n for _, n in got)  # every row has a bin or missing
        elif w.snapshot_only and i not in present:
            continue
        elif w.kind == "categorical":
            counts[w.name] = dict(sorted(got, key=lambda item: (-item[1], item[0])))
        else:
            counts[w.name] = _bin_list(got, len(w.edges))
    return n_current, counts, percentiles


def _bin_list(found: Sequence[tuple[str, int]], edges: int) -> list[int]:
    """Counts per bin ``0 .. edges`` then the missing count."""
    out = [0] * (edges + 2)
    for value, n in found:
        out[edges + 1 if value == "missing" else int(value)] += n
    return out
