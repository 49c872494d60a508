"""The MLflow pyfunc face of a :class:`~scoring.model.LeadScorer`.

MLflow serves and loads models through ``mlflow.pyfunc``: this wrapper makes the
registered model usable by ``mlflow.pyfunc.load_model`` and ``mlflow models serve``
with plain JSON, and ``mlflow.pyfunc.spark_udf`` on Spark (``leadscore score``). It is
logged as a model from code (:mod:`scoring.pyfunc_script` sets it; this package travels
with it as ``code_paths``): no pickled instance. It owns the mapping from category
strings to codes (the LightGBM model never sees pandas ``category`` columns), and takes a
lead's touches as a JSON array in the ``touches`` column. Its signature
(:func:`pyfunc_schema`) types each column as the API does: numeric features are
``double``, yes/no fields ``boolean``, categories, times (ISO 8601) and the touches text
``string``.

Reasons are asked for with the ``reasons`` parameter (top reasons each way, default 0:
they cost about a millisecond a lead) and worded in ``lang`` (``en``, ``ru``); they come
as a ``reasons`` column of JSON text, ``{"positive": [...], "negative": [...]}``, each
reason as the API gives it (field, code, params, contribution, text).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema

from scoring.features import FeatureSpec, _as_bool, category_key
from scoring.model import LeadScorer
from scoring.policy import BANDS
from scoring.reason_text import in_language
from scoring.registry_client import SCORER_ARTIFACT as SCORER_ARTIFACT

PYFUNC_TIME_COLUMNS: tuple[str, ...] = ("created_at", "mql_at", "as_of")
"""Timestamps a pyfunc row carries; ``as_of`` (else ``mql_at``) is the scoring moment."""


class LeadScorerModel(PythonModel):
    """``predict`` takes one row per lead, returns scores, the decision and threshold."""

    def load_context(self, context: Any) -> None:
        self.scorer = LeadScorer.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self._predict_with(self.scorer, model_input, params)

    @staticmethod
    def _predict_with(
        scorer: LeadScorer, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score a pyfunc input frame (also used to build the logged signature)."""
        records = pyfunc_records(model_input)
        as_of = [r.get("as_of") or r.get("mql_at") for r in records]
        if any(moment is None for moment in as_of):
            raise ValueError("every row needs as_of (or mql_at): the moment to score it at")
        k = int((params or {}).get("reasons") or 0)
        lang = str((params or {}).get("lang") or "en")
        scores = scorer.score_records(records, as_of, reasons=k)
        out = pd.DataFrame(
            {
                "p_won": scores.p_won,
                "p_sql": scores.p_sql if scores.p_sql is not None else np.nan,
                "fit_score": scores.fit_score,
                "engagement_score": scores.engagement_score
                if scores.engagement_score is not None
                else np.nan,
                "decision": [BANDS[b].value for b in scores.bands],  # the API's bands
                "threshold": scorer.policy.handoff_threshold,
            }
        )
        if scores.reasons is not None:
            out["reasons"] = [json.dumps(in_language(r, lang)) for r in scores.reasons]
        return out


def pyfunc_params() -> ParamSchema:
    """The pyfunc's parameters: how many reasons each way (0: none) and their language."""
    return ParamSchema([ParamSpec("reasons", DataType.long, 0), ParamSpec("lang", "string", "en")])


def pyfunc_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a pyfunc input frame as lead dicts, with ``touches`` parsed from JSON."""
    records = cast(
        list[dict[str, Any]],
        frame.astype(object).where(frame.notna(), None).to_dict(orient="records"),
    )
    for record in records:
        touches = record.get("touches")
        record["touches"] = json.loads(touches) if isinstance(touches, str) and touches else []
    return records


def pyfunc_columns(spec: FeatureSpec) -> list[str]:
    """The input columns of a pyfunc frame, in order (``touches`` last)."""
    return [*PYFUNC_TIME_COLUMNS, *spec.input_columns, "touches"]


def pyfunc_schema(spec: FeatureSpec) -> Schema:
    """The pyfunc's input schema: the types a caller's DataFrame should have.

    Numbers are ``double``: MLflow accepts float64 (and int8-32) there, and integer
    counts with a missing value are floats in pandas anyway; it refuses int64 as an
    unsafe cast, so an int64 column is sent ``.astype(float)``. Every column is optional,
    as every lead field is in the API: an absent one is missing, which the model has a
    branch for; ``as_of`` (else ``mql_at``) is checked by :meth:`LeadScorerModel.predict`.
    """
    kinds = {c: DataType.string for c in pyfunc_columns(spec)}
    kinds.update({c: DataType.boolean for c in spec.boolean})
    kinds.update({c: DataType.double for c in spec.numeric})
    return Schema([ColSpec(kind, name, required=False) for name, kind in kinds.items()])


def pyfunc_frame(records: list[dict[str, Any]], spec: FeatureSpec) -> pd.DataFrame:
    """The inverse of :func:`pyfunc_records`: lead dicts to a frame typed as the schema.

    Times become ISO 8601 text and touches a JSON array; numeric fields float64 (NaN when
    missing), boolean fields True/False/None, the rest text or None.
    """
    columns = pyfunc_columns(spec)
    rows = []
    for record in records:
        row = {c: record.get(c) for c in columns}
        for c in PYFUNC_TIME_COLUMNS:
            when = row[c]
            if isinstance(when, datetime | np.datetime64):
                row[c] = None if pd.isna(when) else pd.Timestamp(when).isoformat()
        row["touches"] = json.dumps(record.get("touches") or [], default=str)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    for c in columns:
        if c in spec.numeric:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
        elif c in spec.boolean:
            frame[c] = [None if np.isnan(b := _as_bool(v)) else b == 1.0 for v in frame[c]]
        else:
            frame[c] = [None if v is None or v != v else category_key(v) for v in frame[c]]
    return frame
