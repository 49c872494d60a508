"""Small trained models shared by the unit test modules, trained once per session.

Several modules train on the same small history with the same settings (the default
contest, trees only, a policy method that is the default anyway): a training takes
seconds, so the second module reuses the first one's :class:`~training.train.TrainResult`
instead of fitting an identical one. Training is deterministic (seeded, one LightGBM
thread), so a reused result is the one the test would have trained itself. Callers must
not mutate the result (save copies, build new frames).
"""

from __future__ import annotations

from tests.histories import synthetic_history
from training.train import TrainConfig, TrainResult, train

SMALL_LEADS = 4_000
SMALL_MONTHS = 24
SMALL_SEED = 42
"""4,000 leads over two years: the size at which the logistic candidate wins the family
contest (tests/unit/test_model_families.py) and every threshold method has a policy."""

_trained: dict[str, TrainResult] = {}


def small_training(config: TrainConfig) -> TrainResult:
    """``train`` on the small shared history with ``config``, once per distinct config.

    Keyed by the config's ``repr`` (a dataclass: every field, the policy inputs too), so
    two configs share a result only when they are equal field by field.
    """
    key = repr(config)
    if key not in _trained:
        history = synthetic_history(SMALL_LEADS, months=SMALL_MONTHS, seed=SMALL_SEED)
        _trained[key] = train(history, config)
    return _trained[key]
