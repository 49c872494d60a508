"""The model-quality benchmark on the two public datasets (``shared/datasets``).

The datasets are not part of the repository (their licences do not allow it), so these
tests run when the folder sits next to the repository and skip, saying where they
looked, when it does not. To stay fast they use 3 folds and a faster learning rate
(fewer trees); ``leadscore benchmark`` runs 5 folds with the mapping's settings.
Every assertion can fail: each compares a measured number with a published figure or
with another model measured on the same folds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from training.benchmark import BenchmarkResult, dataset_path, paired_difference, run_benchmark
from training.benchmark_report import to_markdown

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
FAST = {"learning_rate": 0.05, "early_stopping_rounds": 50}
BASELINES = ("logistic", "lightgbm_default")


def _run(key: str, variants: list[str], **kwargs: object) -> BenchmarkResult:
    path = dataset_path(key, DATA_DIR)
    if not path.is_file():
        pytest.skip(f"public dataset {key!r} not found at {path}")
    return run_benchmark(key, DATA_DIR, folds=3, variants=variants, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def x_education() -> BenchmarkResult:
    return _run("x-education", ["no_sales_side"], config_overrides=FAST)


@pytest.fixture(scope="module")
def x_education_tags() -> BenchmarkResult:
    return _run("x-education", ["no_sales_side", "with_tags"], models=BASELINES)


@pytest.fixture(scope="module")
def olist() -> BenchmarkResult:
    return _run("olist", ["mql_columns"], config_overrides=FAST)


def _auc(result: BenchmarkResult, variant: str, model: str) -> float:
    return result.variant(variant).scores[model].mean("roc_auc")


@pytest.mark.parametrize(
    ("fixture", "variant", "published"),
    [
        ("x_education", "no_sales_side", {"logistic": 0.897, "lightgbm_default": 0.905}),
        ("olist", "mql_columns", {"logistic": 0.715, "lightgbm_default": 0.697}),
    ],
)
def test_baselines_reproduce_the_published_figures(
    fixture: str, variant: str, published: dict[str, float], request: pytest.FixtureRequest
) -> None:
    """Same data, same protocol: our baselines land where PROVENANCE.txt says they should."""
    result: BenchmarkResult = request.getfixturevalue(fixture)
    for model, auc in published.items():
        assert _auc(result, variant, model) == pytest.approx(auc, abs=0.015), model


@pytest.mark.parametrize(("fixture", "variant"), [("x_education", "no_sales_side"),
                                                  ("olist", "mql_columns")])  # fmt: skip
def test_leadscore_ranks_at_least_as_well_and_is_calibrated(
    fixture: str, variant: str, request: pytest.FixtureRequest
) -> None:
    result: BenchmarkResult = request.getfixturevalue(fixture)
    v = result.variant(variant)
    best_baseline = max(_auc(result, variant, m) for m in ("logistic", "lightgbm_default"))
    assert _auc(result, variant, "leadscore") >= best_baseline - 0.005
    assert v.ece["leadscore"] <= 0.03
    assert v.ece["leadscore"] <= v.ece["lightgbm_default"] + 0.005


def test_sales_side_tags_leak(x_education_tags: BenchmarkResult) -> None:
    """Tags are written after contact: adding them makes every model look far too good."""
    for model in BASELINES:
        honest = _auc(x_education_tags, "no_sales_side", model)
        assert _auc(x_education_tags, "with_tags", model) > honest + 0.05, model


def test_tags_train_a_useful_rejection_reason_model(x_education: BenchmarkResult) -> None:
    reason = x_education.variant("no_sales_side").reason_model
    assert reason["classes"] >= 3
    assert reason["accuracy"] > reason["majority_accuracy"] + 0.1


def test_report_states_the_protocol(x_education: BenchmarkResult) -> None:
    text = to_markdown(x_education)
    assert "| feature set | model | ROC AUC | PR AUC | Brier | ECE (floor) |" in text
    assert "--folds 3" in text and "seed 0" in text
    assert "Tags" in text and "Lead Quality" in text  # what was left out, and why


@pytest.fixture(scope="module")
def olist_out_of_time() -> BenchmarkResult:
    return _run("olist", ["mql_columns"], protocols=["time"], config_overrides=FAST)


def test_olist_out_of_time_is_the_generic_path_with_a_bootstrap_spread(
    olist_out_of_time: BenchmarkResult,
) -> None:
    """The preset runs the same protocol ``--data FILE --mapping olist`` runs: the latest
    fifth of MQLs as test, every model on those rows, spreads from bootstrap resamples."""
    v = olist_out_of_time.variant("mql_columns", "time")
    assert 0.15 * v.rows < v.test_rows < 0.25 * v.rows
    assert v.test_period.startswith("2018")
    for model, score in v.scores.items():
        assert 0.6 < score.mean("roc_auc") < 0.8, model
        assert 0.005 < score.std("roc_auc") < 0.05, model
        assert 0 < v.ece_floor[model] < v.ece[model] + 0.05, model
    diff, sd = paired_difference(v, "leadscore", "logistic")
    assert diff > -0.03 and sd > 0
    assert "out of time: test 2018" in to_markdown(olist_out_of_time)
