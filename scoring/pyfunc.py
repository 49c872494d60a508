"""The MLflow pyfunc face of a :class:`~scoring.model.LeadScorer`.

MLflow serves and loads models through ``mlflow.pyfunc``: this wrapper makes the
registered model usable by ``mlflow.pyfunc.load_model`` and ``mlflow models serve``
with plain JSON. It owns the mapping from category strings to codes (the LightGBM
model never sees pandas ``category`` columns), and takes a lead's touches as a JSON
array in the ``touches`` column, so its signature is plain strings and numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from scoring.model import LeadScorer
from scoring.policy import BANDS

SCORER_ARTIFACT = "scorer"
PYFUNC_TIME_COLUMNS: tuple[str, ...] = ("created_at", "mql_at", "as_of")
"""Timestamps a pyfunc row carries; ``as_of`` (else ``mql_at``) is the scoring moment."""


class LeadScorerModel(mlflow.pyfunc.PythonModel):
    """``predict`` takes one row per lead, returns scores, the decision and threshold."""

    def load_context(self, context: Any) -> None:
        self.scorer = LeadScorer.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self._predict_with(self.scorer, model_input)

    @staticmethod
    def _predict_with(scorer: LeadScorer, model_input: pd.DataFrame) -> pd.DataFrame:
        """Score a pyfunc input frame (also used to build the logged signature)."""
        records = pyfunc_records(model_input)
        as_of = [r.get("as_of") or r.get("mql_at") for r in records]
        if any(moment is None for moment in as_of):
            raise ValueError("every row needs as_of (or mql_at): the moment to score it at")
        scores = scorer.score_records(records, as_of)
        return pd.DataFrame(
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


def pyfunc_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a pyfunc input frame as lead dicts, with ``touches`` parsed from JSON."""
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for record in records:
        touches = record.get("touches")
        record["touches"] = json.loads(touches) if isinstance(touches, str) and touches else []
    return records


def pyfunc_frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """The inverse of :func:`pyfunc_records`: lead dicts to a pyfunc input frame."""
    rows = []
    for record in records:
        row = {c: record.get(c) for c in columns}
        row["touches"] = json.dumps(record.get("touches") or [], default=str)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*columns, "touches"])
