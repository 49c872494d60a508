"""The logistic candidate at scale (issue 15): its grid searched on a stratified sample,
the choice refitted on every training row, later fits warm-started."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import log_loss

from scoring.features import FeatureSpec, LeadEncoder
from tests.histories import synthetic_history
from training.linear_stage import _fit_linear, _search_rows, fit_linear_stage
from training.train import TrainConfig, build_dataset, time_split


@pytest.fixture(scope="module")
def stage() -> dict[str, np.ndarray | LeadEncoder]:
    """The SQL stage's train / validation matrices of 3,000 leads."""
    history = synthetic_history(3000, months=24, seed=7)
    frame = build_dataset(history)
    split = time_split(frame["mql_at"], history.snapshot_at, TrainConfig())
    labelled = frame["y_sql"].notna()
    tr, va = frame[labelled & (split == "train")], frame[labelled & (split == "valid")]
    encoder = LeadEncoder(FeatureSpec()).fit(frame[split.isin(["train", "valid"])])
    return {
        "encoder": encoder,
        "pool": encoder.transform(frame[labelled & split.isin(["train", "valid"])]),
        "tr": encoder.transform(tr),
        "y_tr": tr["y_sql"].to_numpy().astype(int),
        "va": encoder.transform(va),
        "y_va": va["y_sql"].to_numpy().astype(int),
    }


def _search(stage: dict, limit: int | None) -> tuple:
    config = TrainConfig(linear_search_rows=limit, linear_bins=(4,), linear_slopes=(True,))
    return fit_linear_stage(
        stage["pool"], stage["encoder"], stage["tr"], stage["y_tr"], stage["va"], stage["y_va"],
        config,
    )  # fmt: skip


def test_the_search_sample_is_stratified_seeded_and_only_taken_above_the_limit() -> None:
    y = np.r_[np.ones(300, dtype=int), np.zeros(700, dtype=int)]
    rows = _search_rows(y, 100, seed=1)
    assert len(rows) == 100 and y[rows].sum() == 30 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, _search_rows(y, 100, seed=1))
    np.testing.assert_array_equal(_search_rows(y, 1000, seed=1), np.arange(1000))
    np.testing.assert_array_equal(_search_rows(y, None, seed=1), np.arange(1000))


def test_a_sampled_search_reports_the_refit_on_every_training_row(stage: dict) -> None:
    limit = len(stage["y_tr"]) // 3
    basis, c, figures, _ = _search(stage, limit)
    assert figures["search_rows"] == limit
    # the figures the contest sees are those of the chosen (basis, C) fitted on every
    # training row, from a cold start too (warm starts change iterations, not the optimum)
    model, _ = _fit_linear(basis, stage["tr"], stage["y_tr"], c, None)
    p = expit(model.raw(stage["va"]))
    assert figures["val_log_loss"] == pytest.approx(log_loss(stage["y_va"], p), abs=1e-4)
    assert figures["search_val_log_loss"] != figures["val_log_loss"]


def test_without_a_sample_the_figures_are_the_grid_fits_own(stage: dict) -> None:
    *_, figures, start = _search(stage, None)
    assert "search_rows" not in figures
    assert start[0].shape[0] == 1 and start[1].shape == (1,)
