"""The single-row fast path gives what ``Booster.predict`` gives, for every output used."""

from __future__ import annotations

import threading

import lightgbm as lgb
import numpy as np
import pytest

from scoring.rowpredict import RowPredictor


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 6))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take their own branch
    x[:, 5] = rng.integers(0, 7, size=len(x))  # a categorical column
    return x, rng


def _train(x: np.ndarray, y: np.ndarray, **params: object) -> lgb.Booster:
    base = {"verbose": -1, "num_leaves": 7, "seed": 0, "num_threads": 1}
    dataset = lgb.Dataset(x, y, categorical_feature=[5], free_raw_data=False)
    return lgb.train({**base, **params}, dataset, num_boost_round=30)


def test_binary_raw_and_contributions_match_predict(data) -> None:
    x, rng = data
    y = (np.nan_to_num(x[:, 0]) + (x[:, 5] == 3) + rng.normal(size=len(x)) > 0.5).astype(int)
    booster = lgb.Booster(model_str=_train(x, y, objective="binary").model_to_string())
    raw, contrib = RowPredictor(booster, "raw"), RowPredictor(booster, "contrib")
    want_raw = booster.predict(x, raw_score=True)
    want_contrib = booster.predict(x, pred_contrib=True)
    got_raw = np.array([raw(row)[0] for row in x])
    got_contrib = np.stack([contrib(row) for row in x])
    np.testing.assert_allclose(got_raw, want_raw, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_contrib, want_contrib, rtol=0, atol=1e-12)
    assert got_contrib.shape == (len(x), x.shape[1] + 1)


def test_multiclass_probabilities_match_predict(data) -> None:
    x, rng = data
    y = rng.integers(0, 4, size=len(x))
    booster = _train(x, y, objective="multiclass", num_class=4)
    proba = RowPredictor(booster, "proba")
    got = np.stack([proba(row) for row in x])
    np.testing.assert_allclose(got, booster.predict(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


def test_threads_get_their_own_buffers(data) -> None:
    """Used from several threads at once, every answer is still the right one."""
    x, _ = data
    y = (np.nan_to_num(x[:, 1]) > 0).astype(int)
    booster = _train(x, y, objective="binary")
    contrib = RowPredictor(booster, "contrib")
    want = booster.predict(x, pred_contrib=True)
    errors: list[int] = []

    def work(offset: int) -> None:
        for _ in range(3):
            for i in range(offset, len(x), 4):
                if not np.allclose(contrib(x[i]), want[i], rtol=0, atol=1e-12):
                    errors.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_wrong_width_is_refused(data) -> None:
    x, _ = data
    booster = _train(x, (np.nan_to_num(x[:, 0]) > 0).astype(int), objective="binary")
    with pytest.raises(ValueError, match="expected 6 features"):
        RowPredictor(booster, "raw")(x[0, :5])
