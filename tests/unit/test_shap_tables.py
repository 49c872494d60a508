"""The TreeSHAP tables give LightGBM's own ``pred_contrib``, and the same reasons (issue 15,
item 4).

Boosters are trained here on random data built to reach every branch of LightGBM's
decision: NaN as its own missing type, zero as missing, no missing values at training
(NaN then read as 0), categorical splits with unseen, negative and missing codes, trees of
1 to 6 splits. A small synthetic history then checks the scorer: its reasons from the
tables are the exact path's on at least 99 % of the test period's leads.
"""

from __future__ import annotations

import dataclasses

import lightgbm as lgb
import numpy as np
import pytest

from scoring.model import LeadScorer, StageModel
from scoring.shap_tables import MAX_SPLITS, ShapTables, TablesUnavailable
from training.synthetic import generate
from training.train import TrainConfig, TrainResult, train

N_FEATURES = 6


def _data(rng: np.random.Generator, n: int, *, missing: bool) -> np.ndarray:
    x = rng.normal(size=(n, N_FEATURES))
    x[:, 1] = rng.integers(0, 12, size=n)  # categorical codes
    x[:, 2] = np.where(rng.random(n) < 0.4, 0.0, x[:, 2])  # many exact zeros
    x[:, 3] = np.round(x[:, 3])  # ties on the thresholds
    if missing:
        x[rng.random((n, N_FEATURES)) < 0.1] = np.nan
    return x


def _booster(num_leaves: int, *, missing: bool, zero_as_missing: bool = False) -> lgb.Booster:
    rng = np.random.default_rng(num_leaves)
    x = _data(rng, 3_000, missing=missing)
    logit = np.nan_to_num(x[:, 0] - (x[:, 1] % 3 == 0) + 0.8 * x[:, 2] * x[:, 3])
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": num_leaves,
        "learning_rate": 0.1,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "max_cat_to_onehot": 4,
        "zero_as_missing": zero_as_missing,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "verbose": -1,
        "num_threads": 1,
        "seed": 3,
    }
    data = lgb.Dataset(x, y, categorical_feature=[1])
    return lgb.train(params, data, num_boost_round=60)


def _rows(rng: np.random.Generator) -> np.ndarray:
    x = _data(rng, 1_500, missing=True)
    x[:40, 1] = 57.0  # a category never seen in training
    x[40:60, 1] = -1.0  # negative codes go right
    x[60:80, 1] = 2.7  # LightGBM truncates to 2
    x[80:100, 2] = -0.0
    return x


@pytest.mark.parametrize(
    ("num_leaves", "missing", "zero_as_missing"),
    [(2, True, False), (3, True, False), (3, False, False), (4, True, True), (7, True, False)],
)
def test_tables_equal_pred_contrib(num_leaves: int, missing: bool, zero_as_missing: bool) -> None:
    booster = _booster(num_leaves, missing=missing, zero_as_missing=zero_as_missing)
    tables = ShapTables.from_boosters([booster])
    x = _rows(np.random.default_rng(0))
    exact = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(tables.contributions(x), exact, rtol=0, atol=1e-9)
    np.testing.assert_allclose(tables.contributions(x[5:6]), exact[5:6], rtol=0, atol=1e-9)


def test_missing_types_are_all_exercised() -> None:
    """The cases above reach every missing type and a categorical split (or they would
    prove less than they claim)."""
    seen: set[tuple[str, str]] = set()
    for leaves, missing, zero in [(3, True, False), (3, False, False), (4, True, True)]:
        dump = _booster(leaves, missing=missing, zero_as_missing=zero).dump_model()
        stack = [info["tree_structure"] for info in dump["tree_info"]]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                seen.add((node["decision_type"], node["missing_type"]))
                stack += [node["left_child"], node["right_child"]]
    assert {("<=", "None"), ("<=", "Zero"), ("<=", "NaN")} <= seen
    assert any(kind == "==" for kind, _ in seen)


def test_several_boosters_add_up() -> None:
    boosters = [_booster(3, missing=True), _booster(4, missing=True, zero_as_missing=True)]
    x = _rows(np.random.default_rng(1))
    exact = np.sum([b.predict(x, pred_contrib=True) for b in boosters], axis=0)
    tables = ShapTables.from_boosters(boosters)
    np.testing.assert_allclose(tables.contributions(x), exact, rtol=0, atol=1e-9)


def test_big_trees_and_multiclass_are_refused() -> None:
    big = _booster(MAX_SPLITS + 2, missing=True)
    with pytest.raises(TablesUnavailable, match="splits"):
        ShapTables.from_boosters([big])
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 3))
    multi = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, rng.integers(0, 3, 300)),
        num_boost_round=3,
    )
    with pytest.raises(TablesUnavailable, match="single-output"):
        ShapTables.from_boosters([multi])


@pytest.fixture(scope="module")
def trained() -> TrainResult:
    config = TrainConfig(seed=5, families=("lightgbm",))
    return train(generate(3_000, months=12, seed=5), config)


def _reason_fields(scores_reasons: list[dict[str, list[dict[str, object]]]]) -> list[object]:
    return [
        tuple(tuple(r["field"] for r in lead[side]) for side in ("positive", "negative"))
        for lead in scores_reasons
    ]


def test_scorer_reasons_agree_with_exact_shap(trained: TrainResult) -> None:
    scorer = trained.scorer
    assert scorer.shap_tables is not None, scorer.shap_tables_fallback
    rows = trained.frame[(trained.split == "test").to_numpy()]
    matrix, unseen = scorer.encoder.encode(rows)
    assert len(matrix) >= 500
    fast = scorer.score_matrix(matrix, unseen=unseen, reasons=3)
    exact = scorer.score_matrix(matrix, unseen=unseen, reasons=3, exact_shap=True)
    assert fast.reasons is not None and exact.reasons is not None
    pairs = zip(_reason_fields(fast.reasons), _reason_fields(exact.reasons), strict=True)
    same = np.mean([a == b for a, b in pairs])
    assert same >= 0.99
    assert any(lead["positive"] or lead["negative"] for lead in fast.reasons)
    assert fast.field_contributions is not None and exact.field_contributions is not None
    np.testing.assert_allclose(fast.field_contributions, exact.field_contributions, atol=1e-9)
    assert fast.base_value is not None
    total = fast.field_contributions.sum(axis=1) + fast.base_value
    np.testing.assert_allclose(total, fast.raw, rtol=1e-6)
    exact_rows = scorer.contributions(matrix[:20], exact_shap=True)
    for i in range(20):  # one lead: LightGBM or the tables by model size, the same numbers
        row = matrix[i : i + 1]
        np.testing.assert_allclose(scorer.contributions(row), exact_rows[i : i + 1], atol=1e-9)
        tabled = scorer.shap_tables.contributions(row)
        np.testing.assert_allclose(tabled, exact_rows[i : i + 1], atol=1e-9)


def test_scorer_falls_back_on_big_trees(trained: TrainResult) -> None:
    scorer = trained.scorer
    matrix, _ = scorer.encoder.encode(trained.frame)
    y = trained.frame["y_won"].fillna(0).to_numpy(dtype=int)
    big = lgb.train(
        {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1},
        lgb.Dataset(matrix, y),
        num_boost_round=5,
    )
    first = scorer.stages[0]
    assert isinstance(first, StageModel)
    stage = dataclasses.replace(first, booster=big)
    deep = dataclasses.replace(scorer, stages=[stage])
    assert isinstance(deep, LeadScorer)
    np.testing.assert_allclose(
        deep.contributions(matrix[:50]), big.predict(matrix[:50], pred_contrib=True)
    )
    assert deep.shap_tables is None
    assert deep.shap_tables_fallback is not None and "splits" in deep.shap_tables_fallback


def test_stumps_only_give_the_expected_value() -> None:
    """A booster whose trees never split (nothing to learn) still adds up."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 3))
    stumps = lgb.train(
        {"objective": "binary", "min_data_in_leaf": 500, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, rng.integers(0, 2, 200)),
        num_boost_round=3,
    )
    tables = ShapTables.from_boosters([stumps])
    assert tables.n_groups == 0
    np.testing.assert_allclose(tables.contributions(x), stumps.predict(x, pred_contrib=True))
