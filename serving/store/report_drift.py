"""The drift section's counts computed in the database: per feature, per label or bin.

The pandas path (``serving.reports.store_inputs`` then ``drift_report``) reads every
decision's feature snapshot into a frame and bins it in numpy. Against a stored
reference profile (a trained model carries one) PSI needs only how many served rows fall
in each of the profile's bins or categories, so here one SELECT (SQLAlchemy Core, the
same on SQLite and PostgreSQL) counts them: the period's decisions are read once into a
common table expression of the watched values, and each feature is a GROUP BY over it.
``serving.reports.drift.drift_from_counts`` turns the counts into the section.

The served value of a feature, as ``store_inputs._served_rows`` makes it: the feature
snapshot's value (JSON), the ``p_won`` column, the fit and engagement scores with ``-1``
("not available") as missing, and for the segment fields the snapshot's value else the
column. Labels as :func:`scoring.drift._categories` writes them (missing →
``__missing__``, booleans ``true``/``false``); a numeric feature counts JSON numbers
and booleans (1/0), anything else as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Float,
    String,
    case,
    cast,
    func,
    literal,
    select,
    union_all,
)

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


def present_fields(engine: Engine, names: Sequence[str]) -> set[str]:
    """The ``names`` the served rows have: log columns, and snapshot keys some decision
    carries (the pandas frame has a column for every key any snapshot has)."""
    found = {n for n in names if n in COLUMN_VALUES or n in SEGMENT_COLUMNS}
    dialect = engine.dialect.name
    with engine.connect() as conn:
        for name in names:
            if name in found:
                continue
            js = _Json(dialect, name)
            query = select(literal(1)).where(js.present).limit(1)
            if conn.execute(query).first() is not None:
                found.add(name)
    return found


def drift_counts(
    engine: Engine,
    profile: Mapping[str, Any],
    percentile_edges: Sequence[float],
    start: datetime | None,
    end: datetime | None,
) -> tuple[int, dict[str, Any], dict[str, list[int]]]:
    """The served rows of ``[start, end)`` (by ``as_of``) counted per profile column
    (labels most frequent first, or the profile's bins then the missing count) and per
    served percentile (its bins, missing left out), and how many rows there are."""
    d = Decision.__table__
    dialect = engine.dialect.name
    columns: Mapping[str, Mapping[str, Any]] = profile["columns"]
    wanted = [n for n in columns if n not in DRIFT_EXCLUDED]
    present = present_fields(engine, wanted)
    watched = [n for n in wanted if n in present]
    values: list[ColumnElement[Any]] = []
    for i, name in enumerate(watched):
        spec = columns[name]
        expr = (
            _label(dialect, name)
            if spec["kind"] == "categorical"
            else _bin(_number(dialect, name), list(spec["edges"]))
        )
        values.append(expr.label(f"v{i}"))
    scores = list(PERCENTILE_ORDER)
    for j, name in enumerate(scores):
        values.append(_bin(_number(dialect, name), percentile_edges).label(f"p{j}"))
    conditions = []
    if start is not None:
        conditions.append(d.c.as_of >= start)
    if end is not None:
        conditions.append(d.c.as_of < end)
    rows = select(*values).where(*conditions).cte("served_values")
    parts = [
        select(
            literal(key).label("field"), rows.c[key].label("value"), func.count().label("n")
        ).group_by(rows.c[key])
        for key in [f"v{i}" for i in range(len(watched))] + [f"p{j}" for j in range(len(scores))]
    ]
    with engine.connect() as conn:
        found = conn.execute(union_all(*parts)).all()
    by_key: dict[str, list[tuple[str, int]]] = {}
    for field, value, n in found:
        by_key.setdefault(str(field), []).append((str(value), int(n)))
    n_current = sum(n for _, n in by_key.get("p0", []))  # every row has a bin or "missing"
    counts: dict[str, Any] = {}
    for i, name in enumerate(watched):
        got = by_key.get(f"v{i}", [])
        if columns[name]["kind"] == "categorical":
            counts[name] = dict(sorted(got, key=lambda item: (-item[1], item[0])))
        else:
            counts[name] = _bin_list(got, len(columns[name]["edges"]))
    percentiles = {
        name: _bin_list(by_key.get(f"p{j}", []), len(percentile_edges))[:-1]
        for j, name in enumerate(scores)
    }
    return n_current, counts, percentiles


def _bin_list(found: Sequence[tuple[str, int]], edges: int) -> list[int]:
    """Counts per bin ``0 .. edges`` then the missing count."""
    out = [0] * (edges + 2)
    for value, n in found:
        out[edges + 1 if value == "missing" else int(value)] += n
    return out
