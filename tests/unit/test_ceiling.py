"""The oracle's ceiling (``training.ceiling``): what any model could reach on synthetic data.

docs/metrics.md's "Closing the gap to the oracle" rests on these numbers; each test fails
if the re-run of the generator stops reproducing it (e.g. a draw is added or reordered)
or if the integration over the hidden noise goes wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.ceiling import lead_probabilities
from training.synthetic import generate

N = 3000


@pytest.fixture(scope="module")
def joined() -> pd.DataFrame:
    history = generate(N, seed=7)
    return history.oracle.merge(lead_probabilities(N, seed=7), on="lead_id", validate="1:1")


def test_rerun_reproduces_the_generators_oracle(joined: pd.DataFrame) -> None:
    assert len(joined) == N
    np.testing.assert_allclose(joined["won_oracle"], joined["p_won_true"], atol=1e-12)
    np.testing.assert_allclose(joined["sql_oracle"], joined["p_sql_true"], atol=1e-12)


def test_ceiling_is_the_oracle_with_its_noise_averaged_out(joined: pd.DataFrame) -> None:
    # the same leads on average (the noise is centred) ...
    for stage in ("sql", "won"):
        assert joined[f"{stage}_ceiling"].mean() == pytest.approx(
            joined[f"{stage}_oracle"].mean(), abs=0.01
        )
    # ... but less spread: averaging over the noise shrinks every probability to the middle
    assert joined["sql_ceiling"].std() < joined["sql_oracle"].std()
    assert joined["won_ceiling"].std() < joined["won_oracle"].std()
    # flagged leads (never accepted) keep probability 0 in the ceiling
    never = joined["p_sql_true"] == 0.0
    assert never.sum() > 0.05 * N
    assert (joined.loc[never, "sql_ceiling"] == 0.0).all()


def test_observable_ceiling_only_blurs_the_hidden_flags(joined: pd.DataFrame) -> None:
    clean = joined["p_sql_true"] > 0
    # a clean lead loses at most the chance of a flag it cannot rule out (about half for a
    # free-mail address from the worst channel), never gains
    ratio = joined.loc[clean, "won_observable"] / joined.loc[clean, "won_ceiling"]
    assert ratio.max() <= 1.0 + 1e-12
    assert ratio.min() > 0.5
    # a bad-contact or junk lead looks like a clean one: it gets a probability > 0
    hidden = (~clean) & (joined["won_observable"] > 0)
    assert hidden.sum() > 0.03 * N
