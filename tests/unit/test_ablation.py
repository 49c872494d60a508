"""Label ablation: rejection-aware labels must beat plain ones on the eventual truth.

The synthetic generator plants the mechanism the aware rules exist for: ~40 % of the
leads rejected as ``too_early`` come back and are accepted later (and win a little more
often). Plain labels call them 0, so a plain model learns "quiet lately → never buys"
and under-predicts exactly the leads marketing should keep nurturing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.histories import quality_history
from training.ablation import format_table, label_ablation
from training.train import TrainConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ablation() -> dict[str, Any]:
    return label_ablation(quality_history(), TrainConfig())


def test_both_models_are_scored_on_the_same_truth(ablation: dict[str, Any]) -> None:
    aware, plain = ablation["models"]["aware"], ablation["models"]["plain"]
    for stage in ("won", "sql"):
        assert aware[stage]["rows"] == plain[stage]["rows"] > 1000
        assert aware[stage]["positive_rate"] == plain[stage]["positive_rate"]


def test_plain_labels_call_the_returners_zero(ablation: dict[str, Any]) -> None:
    changes = ablation["label_changes"]
    # too_early leads that came back and were accepted: several percent of training rows
    assert changes["aware_1_plain_0"] > 0.03 * changes["train_rows"]
    assert changes["aware_excluded_plain_0"] > 0  # duplicates and bad contact data


def test_aware_labels_beat_plain_on_the_eventual_outcome(ablation: dict[str, Any]) -> None:
    aware, plain = ablation["models"]["aware"], ablation["models"]["plain"]
    assert aware["won"]["log_loss"] < plain["won"]["log_loss"]
    assert aware["won"]["roc_auc"] > plain["won"]["roc_auc"]
    assert aware["sql"]["roc_auc"] > plain["sql"]["roc_auc"]


def test_plain_labels_under_predict_sql(ablation: dict[str, Any]) -> None:
    """Trained to call returners 0, the plain model's P(SQL) is too low on average."""
    aware, plain = ablation["models"]["aware"]["sql"], ablation["models"]["plain"]["sql"]
    assert plain["mean_prediction"] < plain["positive_rate"] - 0.03
    assert aware["ece"] < plain["ece"]


def test_aware_is_closer_to_the_generators_truth(ablation: dict[str, Any]) -> None:
    aware, plain = ablation["models"]["aware"], ablation["models"]["plain"]
    assert aware["oracle_mae_won"] < plain["oracle_mae_won"]
    assert aware["oracle_mae_sql"] < plain["oracle_mae_sql"]
    assert ablation["oracle"]["roc_auc"] > aware["won"]["roc_auc"]


def test_the_table_lists_both_rule_sets_and_the_oracle(ablation: dict[str, Any]) -> None:
    table = format_table(ablation).splitlines()
    assert table[0].startswith("| labels |")
    assert [line.split("|")[1].strip() for line in table[2:]] == [
        "aware",
        "plain",
        "generator's true P(won)",
    ]
    auc = f"{ablation['models']['aware']['won']['roc_auc']:.4f}"
    assert auc in table[2]
