"""Reasons in words a salesperson understands.

LightGBM's ``pred_contrib`` gives exact TreeSHAP contributions per feature, in log-odds,
that add up with the base value to the raw score. A salesperson does not think in
``n_touches_14d`` and ``days_since_last_touch``: features are summed into the data
contract's *fields* ("recent engagement", "demo request", "company size") and each
field becomes one reason: a code with the lead's own values
(:mod:`scoring.reason_codes`, e.g. ``demo_request.requested.raises`` with
``{"days_ago": 2}``) worded from the message catalog (:mod:`scoring.reason_text`:
"requested a demo 2 days ago"). Sums keep additivity: the fields' contributions plus the
base value still equal the raw score; effects below :data:`MIN_EFFECT` are not shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.features import TOUCH_TYPES, FeatureSpec
from scoring.reason_codes import ReasonCoder
from scoring.reason_text import render

MIN_EFFECT = 0.05
"""Fields whose contribution is smaller than this (in log-odds, all stages summed) are not
shown as reasons. 0.05 log-odds moves a 10 % probability by under half a percentage
point, below what a salesperson could act on: a ±0.002 "reason" with a bar would be
noise presented as a finding."""

TOUCH_FIELDS: dict[str, tuple[str, ...]] = {
    "demo_request": ("n_demo_request", "days_since_demo_request"),
    "pricing_page": ("n_pricing_page_view", "days_since_pricing_page_view"),
    "webinar": ("n_webinar_registered", "n_webinar_attended"),
    "content": ("n_content_download",),
    "email_engagement": ("n_email_open", "n_email_click"),
    "website_activity": ("n_page_view", "n_form_submit", "n_chat", "n_call"),
    "recent_engagement": (
        "n_touches_14d",
        "n_touches_90d",
        "engagement_recency",
        "days_since_last_touch",
        "days_since_first_touch",
    ),
    "lead_age": ("lead_age_days",),
    "season": ("month_of_year",),
}
"""Which engagement features make up each field a salesperson sees."""

FIT_FIELDS: frozenset[str] = frozenset(
    {"industry", "company_size", "revenue_band", "seniority", "department", "country", "region"}
)
"""Fields that describe who the lead is (ICP fit) rather than what it did."""

NO_RELIABLE_ESTIMATE = "no reliable estimate"
"""What the API says instead of a likely rejection reason when the reason model did not
beat its baselines (``training.train.REASON_RULE``)."""

REJECTION_TEXT: dict[str, str] = {
    "no_budget": "no budget for it now",
    "not_icp": "not our ideal customer profile",
    "too_early": "too early: not ready to buy yet",
    "competitor_won": "likely to choose a competitor",
    "no_response": "unlikely to answer contact attempts",
    "bad_contact_data": "contact data looks wrong",
    "duplicate": "a duplicate of an existing lead",
    "other": "another reason",
}
"""How a likely rejection reason reads on the lead page and in the API."""


def feature_fields(spec: FeatureSpec, feature_names: Sequence[str]) -> list[str]:
    """Map each feature (column of the encoded matrix) to the field it explains."""
    owner: dict[str, str] = {}
    for field_name, members in TOUCH_FIELDS.items():
        for member in members:
            owner[member] = field_name
    for col in spec.boolean:
        owner[col] = "consent" if col.startswith("consent") else col
    return [owner.get(name, name) for name in feature_names]


@dataclass(frozen=True)
class FieldMap:
    """A 0/1 matrix that sums feature contributions into field contributions."""

    fields: tuple[str, ...]
    matrix: np.ndarray  # (n_features, n_fields)

    @classmethod
    def build(cls, spec: FeatureSpec, feature_names: Sequence[str]) -> FieldMap:
        owners = feature_fields(spec, feature_names)
        fields = tuple(dict.fromkeys(owners))
        matrix = np.zeros((len(feature_names), len(fields)))
        for i, owner in enumerate(owners):
            matrix[i, fields.index(owner)] = 1.0
        return cls(fields, matrix)

    def aggregate(self, contrib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split ``pred_contrib`` output (features + base column) into fields and base."""
        return contrib[:, :-1] @ self.matrix, contrib[:, -1]


def top_reasons(
    field_contrib: np.ndarray,
    fields: Sequence[str],
    rows: Sequence[Mapping[str, float]],
    raws: Sequence[Mapping[str, Any]],
    coder: ReasonCoder,
    k: int,
    unseen: Sequence[Set[str]] | None = None,
) -> list[dict[str, list[dict[str, Any]]]]:
    """The k strongest positive and k strongest negative fields per lead, as reasons.

    Fields whose effect is smaller than :data:`MIN_EFFECT` are left out (so a lead may
    have fewer than k, or none); the contributions of all fields are in
    ``Scores.field_contributions``. Texts are English; :func:`scoring.reason_text.in_language`
    words them in another language from the same codes.
    """
    result: list[dict[str, list[dict[str, Any]]]] = []
    # Plain Python lists: indexing numpy arrays element by element costs more than the rest.
    order = np.argsort(-field_contrib, axis=1).tolist()
    for i, contrib in enumerate(field_contrib.tolist()):
        positive = [j for j in order[i][:k] if contrib[j] >= MIN_EFFECT]
        negative = [j for j in order[i][::-1][:k] if contrib[j] <= -MIN_EFFECT]
        lead_unseen = unseen[i] if unseen is not None else frozenset()
        result.append(
            {
                side: [
                    _reason(fields[j], contrib[j], rows[i], raws[i], coder, lead_unseen)
                    for j in chosen
                ]
                for side, chosen in (("positive", positive), ("negative", negative))
            }
        )
    return result


def _reason(
    field_name: str,
    contribution: float,
    row: Mapping[str, float],
    raw: Mapping[str, Any],
    coder: ReasonCoder,
    unseen: Set[str],
) -> dict[str, Any]:
    code, params = coder.code(field_name, contribution > 0, row, raw, unseen)
    return {
        "field": field_name,
        "code": code,
        "params": params,
        "contribution": round(float(contribution), 4),
        "text": render(code, params, "en", field_name),
    }


__all__ = [
    "FIT_FIELDS",
    "MIN_EFFECT",
    "NO_RELIABLE_ESTIMATE",
    "REJECTION_TEXT",
    "TOUCH_TYPES",
    "FieldMap",
    "ReasonCoder",
    "feature_fields",
    "top_reasons",
]
