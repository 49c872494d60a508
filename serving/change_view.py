"""What would change the decision, for the API answer and the lead page.

:func:`scoring.counterfactual.what_would_change` finds the changes; this module words
them with the page-label catalogue (``change.*`` keys, English for the API) and, for the
lead page, rebuilds the lead from its decision-log row and re-scores it with the model
now served — only when that is the model that made the decision, and only when the
stored row still gives the stored decision (the log keeps the latest 50 touches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from fastapi import Request

from scoring.contract import HandoffDecision
from scoring.counterfactual import (
    ADD_TOUCH,
    NO_ACTIVITY,
    WAIT_HORIZON_DAYS,
    moment,
    what_would_change,
)
from scoring.model import LeadScorer
from scoring.policy import BANDS, ThresholdPolicy
from serving.i18n import Translator


def change_text(t: Translator, steps: Sequence[Mapping[str, Any]]) -> str:
    """The steps of one change in words: "requests a demo and attends a webinar"."""
    words = []
    for step in steps:
        code, params = str(step["code"]), step.get("params") or {}
        if code == NO_ACTIVITY:
            days = int(params.get("days", 0))
            key = "change.no_activity.one" if days == 1 else "change.no_activity"
            words.append(t(key, days=days))
        elif code.startswith(f"{ADD_TOUCH}."):
            words.append(t(f"change.{code}") if t.has(f"change.{code}") else code)
        else:
            words.append(code)
    return t("change.and").join(words)


def change_note(t: Translator, change: Mapping[str, Any], policy: ThresholdPolicy) -> str | None:
    """Why a change's decision is not what its P(won) against the threshold suggests, or
    ``None`` when it is. The one such case is the policy's decay rule: a lead silent for
    more than ``stale_after_days`` is not handed over whatever its P(won), so "P(won)
    18.8 %" beside a 10 % threshold can still read "nurture"."""
    above = float(change["p_won"]) >= policy.handoff_threshold
    handed = change["decision"] == HandoffDecision.HAND_TO_SALES.value
    if above and not handed and policy.stale_after_days is not None:
        return t("change.stale", days=f"{policy.stale_after_days:g}")
    return None


def answer_changes(
    scorer: LeadScorer,
    records: Sequence[Mapping[str, Any]],
    as_of: Sequence[datetime],
    bands: np.ndarray,
) -> list[dict[str, Any]]:
    """The ``what_would_change`` field of each answer (English text)."""
    english = Translator("en")
    out = []
    for found in what_would_change(scorer, records, as_of, bands=bands):
        answer = found.to_dict()
        for change in answer["changes"]:
            change["text"] = change_text(english, change["steps"])
        out.append(answer)
    return out


def changes_in(t: Translator, answer: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A ``what_would_change`` answer with its texts in ``t``'s language (a copy)."""
    if answer is None:
        return None
    changes = [{**c, "text": change_text(t, c["steps"])} for c in answer.get("changes", [])]
    return {**answer, "changes": changes}


def lead_changes(request: Request, decision: Mapping[str, Any], t: Translator) -> dict[str, Any]:
    """The lead page's block: ``{"available": False}`` when the decision cannot be redone.

    Otherwise the direction, whether a change was found and each change with its words.
    """
    models = getattr(request.app.state, "models", None)
    current = getattr(models, "current", None)
    features = decision.get("features") or {}
    if current is None or str(current.version) != str(decision.get("model_version")):
        return {"available": False}
    scorer: LeadScorer = current.scorer
    try:
        as_of = moment(decision["as_of"])
        record: dict[str, Any] = {c: features.get(c) for c in scorer.spec.input_columns}
        record["lead_id"] = decision.get("lead_id")
        created = features.get("created_at")
        record["created_at"] = moment(created) if created else None
        record["touches"] = [
            {"at": moment(touch["at"]), "type": str(touch["type"])}
            for touch in features.get("touches") or []
        ]
    except (KeyError, TypeError, ValueError):
        return {"available": False}
    bands = scorer.score_records([record], [as_of]).bands
    if BANDS[int(bands[0])].value != decision.get("decision"):
        return {"available": False}
    found = what_would_change(scorer, [record], [as_of], bands=bands)[0].to_dict()
    for change in found["changes"]:
        change["text"] = change_text(t, change["steps"])
        change["note"] = change_note(t, change, scorer.policy)
    return {"available": True, "horizon_days": WAIT_HORIZON_DAYS, **found}
