"""Point-in-time correctness, and training/serving parity of the features.

A touch after a lead's scoring moment is exactly the leak that makes a lead-scoring
model look brilliant offline and useless live (sales activity after acceptance is
perfectly correlated with the label). These tests add such touches and require that
no training row and no served row changes; and they require the two feature paths —
``frame_features`` (training) and ``record_features`` / ``LeadScorer.encode_records``
(serving) — to produce the same numbers for the same leads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoring.contract import TouchType
from scoring.features import (
    LEAD_TIME_FEATURES,
    TOUCH_FEATURES,
    FeatureSpec,
    LeadEncoder,
    _to_ns,
    frame_features,
    record_features,
)
from scoring.model import LeadScorer
from scoring.policy import ThresholdPolicy
from tests.histories import synthetic_history
from training.history import CRMHistory
from training.train import build_dataset

N_CHANGED = 40


@pytest.fixture(scope="module")
def history() -> CRMHistory:
    return synthetic_history(3000, months=12, seed=5)


@pytest.fixture(scope="module")
def dataset(history: CRMHistory) -> pd.DataFrame:
    return build_dataset(history)


def _with_touches(history: CRMHistory, offsets: list[pd.Timedelta]) -> tuple[CRMHistory, list]:
    """Add a demo request at ``mql_at + offset`` for each offset, to the first N leads."""
    leads = history.leads.head(N_CHANGED)
    extra = pd.concat(
        [
            pd.DataFrame(
                {
                    "lead_id": leads["lead_id"].to_numpy(),
                    "at": (leads["mql_at"] + offset).to_numpy(),
                    "type": TouchType.DEMO_REQUEST.value,
                    "channel": "direct",
                }
            )
            for offset in offsets
        ],
        ignore_index=True,
    )
    extra["at"] = extra["at"].astype(history.touches["at"].dtype)
    touches = pd.concat([history.touches, extra], ignore_index=True)
    changed = CRMHistory(
        leads=history.leads,
        touches=touches,
        feedback=history.feedback,
        outcomes=history.outcomes,
        snapshot_at=history.snapshot_at,
        oracle=history.oracle,
    )
    return changed, list(leads["lead_id"])


LATER = [pd.Timedelta(0), pd.Timedelta(seconds=1), pd.Timedelta(hours=2), pd.Timedelta(days=30)]


def test_touches_at_or_after_mql_change_no_training_row(
    history: CRMHistory, dataset: pd.DataFrame
) -> None:
    changed, _ = _with_touches(history, LATER)
    pd.testing.assert_frame_equal(build_dataset(changed), dataset)


def test_a_touch_before_mql_changes_exactly_that_lead(
    history: CRMHistory, dataset: pd.DataFrame
) -> None:
    changed, ids = _with_touches(history, [pd.Timedelta(hours=-1)])
    after = build_dataset(changed)
    moved = after["lead_id"].isin(ids).to_numpy()
    assert (after.loc[moved, "n_demo_request"] == dataset.loc[moved, "n_demo_request"] + 1).all()
    assert (after.loc[moved, "days_since_demo_request"] < 0.05).all()
    assert (after.loc[moved, "engagement_recency"] > dataset.loc[moved, "engagement_recency"]).all()
    pd.testing.assert_frame_equal(after[~moved], dataset[~moved])


def _records(history: CRMHistory, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Leads as the API receives them: JSON-like values, *all* their touches attached."""
    leads = history.leads if ids is None else history.leads[history.leads["lead_id"].isin(ids)]
    touches = history.touches[history.touches["lead_id"].isin(leads["lead_id"])]
    by_lead = {
        lead_id: [
            {"at": at.isoformat(), "type": kind}
            for at, kind in zip(group["at"], group["type"], strict=True)
        ]
        for lead_id, group in touches.groupby("lead_id", sort=False)
    }
    records = []
    for lead in leads.to_dict(orient="records"):
        record = {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in lead.items()}
        record["touches"] = by_lead.get(lead["lead_id"], [])
        records.append(record)
    return records


@pytest.fixture(scope="module")
def serving_encoder(dataset: pd.DataFrame) -> LeadScorer:
    """A scorer shell: ``encode_records`` needs the spec and a fitted encoder, no boosters."""
    spec = FeatureSpec()
    encoder = LeadEncoder(spec).fit(dataset)
    policy = ThresholdPolicy(handoff_threshold=0.1, disqualify_below=0.05, method="test")
    return LeadScorer(spec=spec, encoder=encoder, stages=[], policy=policy)


def test_serving_ignores_touches_at_or_after_as_of(
    history: CRMHistory, serving_encoder: LeadScorer
) -> None:
    changed, ids = _with_touches(history, LATER)
    as_of = [r["mql_at"] for r in _records(history, ids)]
    before, _ = serving_encoder.encode_records(_records(history, ids), as_of)
    after, _ = serving_encoder.encode_records(_records(changed, ids), as_of)
    assert sum(len(r["touches"]) for r in _records(changed, ids)) > sum(
        len(r["touches"]) for r in _records(history, ids)
    )
    np.testing.assert_array_equal(after, before)

    earlier, _ = _with_touches(history, [pd.Timedelta(hours=-1)])
    moved, _ = serving_encoder.encode_records(_records(earlier, ids), as_of)
    column = serving_encoder.feature_names.index("n_demo_request")
    np.testing.assert_array_equal(moved[:, column], before[:, column] + 1)


def test_serving_as_of_decides_what_the_model_may_know(
    history: CRMHistory, serving_encoder: LeadScorer
) -> None:
    """Scoring the same lead later (a bigger as_of) sees the touches in between."""
    records = _records(history)[:200]
    at_mql = [r["mql_at"] for r in records]
    later = [(pd.Timestamp(t) + pd.Timedelta(days=60)).isoformat() for t in at_mql]
    counts = [serving_encoder.feature_names.index(f"n_{t.value}") for t in TouchType]
    early, _ = serving_encoder.encode_records(records, at_mql)
    late, _ = serving_encoder.encode_records(records, later)
    seen_early, seen_late = early[:, counts].sum(axis=1), late[:, counts].sum(axis=1)
    assert (seen_late >= seen_early).all()  # nothing is older than the 365-day lookback
    assert (seen_late > seen_early).any()


def test_training_and_serving_compute_the_same_features(
    history: CRMHistory, dataset: pd.DataFrame, serving_encoder: LeadScorer
) -> None:
    records = _records(history)
    served = record_features(records, _to_ns([r["mql_at"] for r in records]))
    trained = frame_features(history.leads, history.touches, history.leads["mql_at"])
    for name in (*TOUCH_FEATURES, *LEAD_TIME_FEATURES):
        np.testing.assert_allclose(served[name], trained[name].to_numpy(), equal_nan=True)

    matrix_serving, unseen = serving_encoder.encode_records(records, [r["mql_at"] for r in records])
    matrix_training, _ = serving_encoder.encoder.encode(dataset)
    np.testing.assert_array_equal(matrix_serving, matrix_training)
    assert not any(unseen)


def test_every_computed_feature_has_a_phrase() -> None:
    """A new computed feature must join a field the reason coder words, or reasons would
    show its column name (``n_touches_14d``) to a salesperson."""
    from scoring.explain import TOUCH_FIELDS, ReasonCoder, feature_fields
    from scoring.features import FeatureSpec
    from scoring.reason_text import render

    computed = [*TOUCH_FEATURES, *LEAD_TIME_FEATURES]
    owners = feature_fields(FeatureSpec(), computed)
    assert set(owners) <= set(TOUCH_FIELDS), sorted(set(owners) - set(TOUCH_FIELDS))
    coder = ReasonCoder(FeatureSpec(), {})
    row = dict.fromkeys(computed, 2.0)
    for field_name in set(owners):
        for positive in (True, False):
            code, params = coder.code(field_name, positive, row, {})
            assert code.startswith(f"{field_name}."), code  # its own code, not a generic one
            text = render(code, params, "en", field_name)
            assert text != code and "_" not in text, (field_name, text)
