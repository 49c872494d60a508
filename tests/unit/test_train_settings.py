"""LightGBM knobs in :class:`TrainConfig`: a mapping's ``train:`` reaches LightGBM, and the
defaults train exactly the model the hard-coded settings trained before."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from training.importing import MappingError, import_export, parse_mapping
from training.train import LGBM_KNOBS, TrainConfig, _lgbm

KNOBS = {
    "reg_lambda": 5.0,
    "min_child_weight": 2.0,
    "colsample_bytree": 0.5,
    "cat_smooth": 30.0,
    "cat_l2": 1.0,
    "min_data_per_group": 20,
    "max_cat_threshold": 8,
    "max_cat_to_onehot": 16,
}


def _mapping(train: dict) -> dict:
    return {
        "lead_id": "Lead",
        "features": {"page": "Page"},
        "outcome": {"column": "Won", "won": [1], "lost": [0]},
        "train": train,
    }


def test_every_knob_is_settable() -> None:
    assert set(KNOBS) == set(LGBM_KNOBS)


def test_mapping_train_settings_reach_lightgbm(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    pd.DataFrame({"Lead": list("abcd"), "Page": list("xxyz"), "Won": [1, 0, 0, 1]}).to_csv(
        path, index=False
    )
    config = import_export(path, parse_mapping(_mapping({**KNOBS, "num_leaves": 4}))).train_config()
    assert config.num_leaves == 4
    assert {k: getattr(config, k) for k in KNOBS} == KNOBS
    params = _lgbm(config).get_params()
    assert {k: params[k] for k in KNOBS} == KNOBS


def test_unknown_train_setting_is_refused() -> None:
    with pytest.raises(MappingError, match="cat_smoothing"):
        parse_mapping(_mapping({"cat_smoothing": 30}))


def test_default_knobs_train_the_model_the_hard_coded_settings_trained() -> None:
    """Before the knobs were settings, ``_lgbm`` set reg_lambda 1 and colsample_bytree 0.8
    and left the rest to LightGBM: the defaults must give the very same trees."""
    rng = np.random.default_rng(0)
    n = 3000
    page = rng.integers(0, 40, n).astype(float)
    x = np.column_stack([page, rng.integers(0, 7, n), rng.normal(size=n)])
    logit = -2 + 0.08 * (page % 9) + 0.4 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    config = TrainConfig(n_estimators=60, seed=3)
    before = {k: v for k, v in _lgbm(config).get_params().items() if k not in LGBM_KNOBS}
    before |= {"reg_lambda": 1.0, "colsample_bytree": 0.8}
    models = [_lgbm(config), lgb.LGBMClassifier(**before)]
    for model in models:
        model.fit(x, y, categorical_feature=[0, 1])
    now, old = (m.booster_.model_to_string().split("parameters:")[0] for m in models)
    assert now == old
