"""The API's answer for each scored lead: scores, the decision, its distance to the
threshold, the likely objection, the reasons and the model that decided.

Built from the same scores the decision log stores (:func:`serving.decision_log.build_rows`
builds its rows from these answers), so a decision reads the same in the answer, the
log and the lead page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from scoring.explain import NO_RELIABLE_ESTIMATE, REJECTION_TEXT
from scoring.model import LeadScorer, Scores
from scoring.policy import BANDS


def _rounded(values: np.ndarray, digits: int) -> list[float | None]:
    """Python's ``round(v, digits)`` per value (never numpy's, see ``build_rows``); NaN is None."""
    return [None if v != v else round(v, digits) for v in values.tolist()]


def build_results(
    scorer: LeadScorer,
    records: Sequence[Mapping[str, Any]],
    as_of: Sequence[datetime],
    scores: Scores,
    model_name: str,
    model_version: str,
    request_id: str,
) -> list[dict[str, Any]]:
    """The API answer for each scored lead (see :func:`serving.decision_log.build_outputs`)."""
    threshold = scorer.policy.handoff_threshold
    rounded_threshold = round(threshold, 6)
    model = {"name": model_name, "version": model_version}
    results: list[dict[str, Any]] = []
    p_sql = _rounded(scores.p_sql, 6) if scores.p_sql is not None else None
    p_won = _rounded(scores.p_won, 6)
    distance = _rounded(scores.p_won - threshold, 6)
    fit = _rounded(scores.fit_score, 1)
    engagement = (
        _rounded(scores.engagement_score, 1) if scores.engagement_score is not None else None
    )
    decisions = [BANDS[b].value for b in scores.bands.tolist()]
    for i, record in enumerate(records):
        rejection = scores.likely_rejection[i]
        results.append(
            {
                "lead_id": record["lead_id"],
                "request_id": request_id,
                "as_of": as_of[i].isoformat(),
                "p_sql": p_sql[i] if p_sql is not None else None,
                "p_won": p_won[i],
                "fit_score": fit[i],
                "engagement_score": engagement[i] if engagement is not None else None,
                "decision": decisions[i],
                "threshold": rounded_threshold,
                "distance_to_threshold": distance[i],
                "likely_rejection": None
                if rejection is None
                else {
                    "reason": rejection[0],
                    "probability": round(rejection[1], 4),
                    "text": REJECTION_TEXT.get(rejection[0], rejection[0]),
                },
                "likely_rejection_note": NO_RELIABLE_ESTIMATE
                if rejection is None and scores.bands[i] == 2 and not scorer.reason_reliable
                else None,
                "reasons": scores.reasons[i] if scores.reasons is not None else None,
                "unseen_categories": sorted(scores.unseen[i]),
                "model": dict(model),
            }
        )
    return results
