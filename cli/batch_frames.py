"""Leads files in, score files out: the frames ``leadscore score`` moves through the model.

A leads file (Parquet or CSV) holds one lead per row in the API's lead shape
(``docs/data-contract.md``): ``lead_id``, the contract's fields, ``created_at``,
``mql_at``, ``as_of`` and ``touches`` — a JSON array (as in the API) or a Parquet list of
``{at, type}`` structs. :func:`model_input` turns a chunk of it into the registered
pyfunc's input, typed as the model's signature says; :func:`api_answers` turns the
pyfunc's output into the scores file, rounded as the API rounds its answers, so a row of
the file equals the API's answer for the same lead.

Pure pandas, on purpose, and no import of ``scoring``: on Spark these functions run in
the executors' Python workers, where loading the registered model puts the model's own
copy of ``scoring`` first on ``sys.path`` (models from code) — a module of this project
that the model's copy lacks must not be needed there.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

TIME_COLUMNS: tuple[str, ...] = ("created_at", "mql_at", "as_of")
KEY = "lead_id"
SCORE_DIGITS = 6
"""The API answers p_sql, p_won and the threshold to 6 digits (``serving/score_answer.py``)."""
PERCENTILE_DIGITS = 1
"""... and fit_score and engagement_score to 1."""
OUTPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("lead_id", "string"),
    ("as_of", "string"),
    ("p_sql", "double"),
    ("p_won", "double"),
    ("fit_score", "double"),
    ("engagement_score", "double"),
    ("decision", "string"),
    ("threshold", "double"),
    ("model", "string"),
    ("model_version", "string"),
)
"""The scores file's columns and Spark types; ``reasons`` (JSON text) follows when asked."""


NUMBER_KINDS = frozenset({"double", "float", "long", "integer"})


class LeadsFileError(ValueError):
    """A leads file the model cannot score; the message names the column, never a value."""


def output_columns(reasons: bool) -> list[tuple[str, str]]:
    return [*OUTPUT_COLUMNS, *([("reasons", "string")] if reasons else [])]


def model_input(
    frame: pd.DataFrame, kinds: dict[str, str], default_as_of: str | None = None
) -> pd.DataFrame:
    """``lead_id`` plus the pyfunc's input columns (``kinds``: name → signature type).

    Times become ISO 8601 text (naive ones are UTC, as in the API), touches a JSON array,
    numbers float64, yes/no fields True/False/None, categories text (whole numbers
    without a fraction, as the model's vocabulary spells them). A column the file lacks
    is missing for every lead, as an absent field is in the API. ``default_as_of`` scores
    the rows that have neither ``as_of`` nor ``mql_at``; a row left without a moment is
    refused (time is an argument: it is never "now").
    """
    if KEY not in frame.columns:
        raise LeadsFileError(f"the leads file has no {KEY} column")
    out = pd.DataFrame(index=frame.index)
    ids = frame[KEY]
    if ids.isna().any():
        raise LeadsFileError(f"{KEY} is empty on {int(ids.isna().sum())} row(s)")
    out[KEY] = [_text(v) for v in ids.tolist()]
    for name, kind in kinds.items():
        if name not in frame.columns:
            out[name] = np.nan if kind in NUMBER_KINDS else None
            continue
        column = frame[name]
        if name == "touches":
            out[name] = [_touches_json(v) for v in column.tolist()]
        elif name in TIME_COLUMNS:
            out[name] = _iso_column(column)
        elif kind in NUMBER_KINDS:
            out[name] = pd.to_numeric(column, errors="coerce").astype(float)
        elif kind == "boolean":
            values = [_yes_no(v) for v in column.tolist()]
            out[name] = pd.Series(values, index=frame.index, dtype=object)
        else:
            text = column.astype(object).where(column.notna(), None).tolist()
            out[name] = [v if v is None or isinstance(v, str) else _text(v) for v in text]
    if "as_of" in out.columns:
        moment = out["as_of"].where(out["as_of"].notna(), out.get("mql_at"))
        if default_as_of is not None:
            moment = moment.where(moment.notna(), iso_time(default_as_of))
        out["as_of"] = moment
        if moment.isna().any():
            raise LeadsFileError(
                f"{int(moment.isna().sum())} row(s) have neither as_of nor mql_at: "
                "give every lead a scoring moment, or pass --as-of"
            )
    return out


def api_answers(
    leads: pd.DataFrame, scores: pd.DataFrame, model: str, version: str, reasons: bool
) -> pd.DataFrame:
    """The scores file's rows: the pyfunc's output rounded as the API rounds it."""
    out = pd.DataFrame(
        {
            "lead_id": leads[KEY].to_numpy(),
            "as_of": leads["as_of"].to_numpy() if "as_of" in leads else None,
            "p_sql": _rounded(scores["p_sql"], SCORE_DIGITS),
            "p_won": _rounded(scores["p_won"], SCORE_DIGITS),
            "fit_score": _rounded(scores["fit_score"], PERCENTILE_DIGITS),
            "engagement_score": _rounded(scores["engagement_score"], PERCENTILE_DIGITS),
            "decision": scores["decision"].to_numpy(),
            "threshold": _rounded(scores["threshold"], SCORE_DIGITS),
            "model": model,
            "model_version": version,
        }
    )
    if reasons:
        out["reasons"] = scores["reasons"].to_numpy()
    return out


def _rounded(values: pd.Series, digits: int) -> np.ndarray:
    """Python's ``round`` per value, as the API's answers (never numpy's; NaN stays NaN)."""
    return np.array(
        [math.nan if v != v else round(v, digits) for v in values.astype(float).tolist()],
        dtype=float,
    )


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: not a missing scalar
        return False


def _text(value: Any) -> str:
    """Spelled as ``scoring.features.category_key`` spells it: ``3.0`` is ``"3"``."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _yes_no(value: Any) -> bool | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        low = value.strip().lower()
        if low in {"true", "yes", "y", "1"}:
            return True
        if low in {"false", "no", "n", "0"}:
            return False
        return None
    return bool(value)


def _iso_column(column: pd.Series) -> list[str | None]:
    """:func:`iso_time` of a whole column, parsed at once (a million times in a second or two)."""
    if column.isna().all():
        return [None] * len(column)
    try:
        if pd.api.types.is_datetime64_any_dtype(column):
            moments = column if column.dt.tz is not None else column.dt.tz_localize(UTC)
        else:
            text = column.astype(object).where(column.notna(), None)
            text = text.where(text.map(lambda v: not isinstance(v, str) or bool(v.strip())))
            moments = pd.to_datetime(text, utc=True, format="ISO8601")
    except (TypeError, ValueError) as exc:
        raise LeadsFileError(
            f"{column.name}: a time is not ISO 8601 ({type(exc).__name__})"
        ) from None
    return [None if m is pd.NaT or m != m else m.isoformat() for m in moments.tolist()]


def iso_time(value: Any) -> str | None:
    """ISO 8601 text of a time (text is parsed, so it is checked); naive times are UTC."""
    if _missing(value):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    try:
        moment = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise LeadsFileError(f"a time is not ISO 8601 ({type(exc).__name__})") from None
    if moment.tzinfo is None:
        moment = moment.tz_localize(UTC)
    return str(moment.isoformat())


def _touches_json(value: Any) -> str:
    """A lead's touches as the JSON array the pyfunc reads (``[]`` when there are none)."""
    if isinstance(value, str):
        text = value.strip()
        return text or "[]"
    if _missing(value):
        return "[]"
    touches = []
    for touch in list(value):
        item = dict(touch)
        at = item.get("at")
        item["at"] = iso_time(at) if isinstance(at, datetime | pd.Timestamp | np.datetime64) else at
        touches.append({k: v for k, v in item.items() if not _missing(v) or k == "at"})
    return json.dumps(touches, default=str)
