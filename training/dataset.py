"""The training frame: point-in-time features at each lead's MQL moment, with its labels,
and its split into train / validation / test.

Kept apart from ``training.train`` so a caller can build the frame, let the history go
(a million leads' tables are ~1.3 GB) and only then fit: see
``training.pipeline.run_training``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import pandas as pd

from scoring.features import frame_features
from training.history import CRMHistory
from training.labels import STAGE_LABELS, LabelRules, stage_labels
from training.train_config import TrainConfig


def build_dataset(
    history: CRMHistory, rules: LabelRules = "aware", *, release_touches: bool = False
) -> pd.DataFrame:
    """Features as of each lead's MQL moment, joined to its stage labels.

    Leads that serving scored carry the features *as serving saw them* in
    ``history.extra["served_features"]`` (from the decision log): those replace the
    recomputed ones, so retraining learns from what the model was actually shown.
    ``release_touches`` empties ``history.touches`` once the touch features are
    computed (the labels do not read them): for a caller that has handed the history
    over, ten million touches need not live beside the frame being assembled.
    """
    frame = frame_features(history.leads, history.touches, history.leads["mql_at"])
    if release_touches:
        history.touches = history.touches.iloc[:0]
    served = history.extra.get("served_features")
    if isinstance(served, pd.DataFrame) and not served.empty:
        served = served.drop_duplicates("lead_id", keep="first").set_index("lead_id")
        columns = [c for c in served.columns if c in frame.columns and c != "lead_id"]
        hit = frame["lead_id"].isin(served.index).to_numpy()
        for col in columns:
            values = served.loc[frame.loc[hit, "lead_id"], col].to_numpy()
            if pd.api.types.is_numeric_dtype(frame[col].dtype):
                values = pd.to_numeric(values, errors="coerce")
            else:
                frame[col] = frame[col].astype(object)
            frame.loc[hit, col] = values
    labels = stage_labels(history, rules).drop(columns=["mql_at"])
    untagged = history.extra.get("untagged_rejections")
    if untagged is not None:
        # the import had to give these rejections a tag to pass validation; the reason
        # model must not learn "no tag" as a reason (labels above are already set)
        blank = labels["lead_id"].isin(list(cast(Iterable[str], untagged))).to_numpy()
        labels.loc[blank, "first_reason"] = None
    frame = _join_by_lead(frame, labels)
    if history.oracle is not None:
        frame = _join_by_lead(frame, history.oracle)
    return frame


def time_split(mql_at: pd.Series, snapshot_at: pd.Timestamp, config: TrainConfig) -> pd.Series:
    """Label each row train / valid / test / immature by its MQL date."""
    mature_end = snapshot_at - pd.Timedelta(days=config.maturity_days)
    test_start = mature_end - pd.Timedelta(days=config.test_days)
    valid_start = test_start - pd.Timedelta(days=config.valid_days)
    split = np.select(
        [mql_at > mature_end, mql_at > test_start, mql_at > valid_start],
        ["immature", "test", "valid"],
        default="train",
    )
    return pd.Series(split, index=mql_at.index, name="split")


def split_rows(frame: pd.DataFrame, snapshot_at: pd.Timestamp, config: TrainConfig) -> pd.Series:
    """The split ``config.split`` asks for: :func:`time_split` or :func:`stratified_split`."""
    if config.split == "stratified":
        return stratified_split(frame[STAGE_LABELS[config.stages[-1]]], config)
    return time_split(frame["mql_at"], snapshot_at, config)


def stratified_split(y: pd.Series, config: TrainConfig, share: float = 0.2) -> pd.Series:
    """Random train / valid / test (``share`` each for valid and test), stratified on ``y``.

    Only for data without a trustworthy time column; a time split is always preferred
    because a random split lets the future leak into training.
    """
    rng = np.random.default_rng(config.seed)
    split = pd.Series("immature", index=y.index, name="split")
    for value in y.dropna().unique():
        idx = rng.permutation(y.index[y == value].to_numpy())  # to_numpy() is read-only
        n_test = round(len(idx) * share)
        split[idx[:n_test]] = "test"
        split[idx[n_test : 2 * n_test]] = "valid"
        split[idx[2 * n_test :]] = "train"
    return split


def _join_by_lead(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """``frame.merge(other, on="lead_id", how="left")``, without copying ``frame`` when
    ``other`` holds the same leads in the same order (the labels always do): its columns
    are added to ``frame``, which a merge would rebuild column by column (~0.5 GB for a
    million leads)."""
    ids = other["lead_id"].reset_index(drop=True)
    same = ids.equals(frame["lead_id"].reset_index(drop=True))
    if not same or other.columns.intersection(frame.columns).difference(["lead_id"]).size:
        return frame.merge(other, on="lead_id", how="left")
    added = other.drop(columns=["lead_id"]).set_axis(frame.index)
    return pd.concat([frame, added], axis=1)


def touch_examples(rows: pd.DataFrame, touches: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """The first ``n`` of ``rows`` (real leads), with their touches before the MQL moment,
    as the API would receive them: the registered model's input example."""
    sample = rows.head(n)
    touches = touches[touches["lead_id"].isin(sample["lead_id"])]
    records = []
    for _, lead in sample.iterrows():
        mine = touches[(touches["lead_id"] == lead["lead_id"]) & (touches["at"] < lead["mql_at"])]
        record: dict[str, Any] = {str(k): (None if pd.isna(v) else v) for k, v in lead.items()}
        record["as_of"] = lead["mql_at"]
        record["touches"] = [
            {"at": t.isoformat(), "type": ty}
            for t, ty in zip(mine["at"], mine["type"], strict=True)
        ]
        records.append(record)
    return records
