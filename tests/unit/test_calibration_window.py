"""Which rows a stage is calibrated on under drift, and the prior-shift correction
(issue 10, item 3): a moved base rate is corrected, a stationary history is left alone."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.calibration import (
    Calibrator,
    choose_calibration_window,
    choose_calibrator,
    fit_prior_shift,
)

N = 9000


def _history(shift_at_end: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins that rank equally well throughout; the base rate moves by ``shift_at_end``
    log-odds for the latest half of the rows (a pure prior shift)."""
    rng = np.random.default_rng(seed)
    when = np.datetime64("2024-01-01") + np.sort(rng.integers(0, 540, N)).astype("timedelta64[D]")
    raw = rng.normal(0, 1.2, N)
    offset = np.where(np.arange(N) >= N // 2, shift_at_end, 0.0)
    y = (rng.random(N) < 1 / (1 + np.exp(-(raw - 1.0 + offset)))).astype(int)
    return raw, y, when


def _fresh(shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """New leads after the history, at the latest base rate."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0, 1.2, 20_000)
    return raw, (rng.random(len(raw)) < 1 / (1 + np.exp(-(raw - 1.0 + shift)))).astype(int)


def test_a_known_prior_shift_is_corrected_on_new_leads() -> None:
    """The base rate rises by 0.8 log-odds in the latest half: the all-rows calibrator
    under-predicts new leads by several points; the chosen one predicts their rate, and
    the run can say which window and how much it moved."""
    raw, y, when = _history(0.8)
    cal, _, window = choose_calibration_window(raw, y, when)
    all_rows, _ = choose_calibrator(raw, y)
    new_raw, new_y = _fresh(0.8, seed=1)
    observed = new_y.mean()
    assert observed - all_rows.transform(new_raw).mean() > 0.03  # the problem is real
    assert window.kind in ("shift", "recent")
    assert abs(cal.transform(new_raw).mean() - observed) < 0.01
    assert window.rows == N // 3 and window.to_dict()["to"] == str(when[-1])
    assert window.describe().startswith(f"{window.kind}: {N // 3} rows 2024-")
    if window.kind == "shift":  # (seed 0) the all-rows curve, moved up to the new rate
        assert window.shift is not None and 0.2 < window.shift < 0.8
        assert f"(intercept {window.shift:+.3f} on the all-rows curve)" in window.describe()


def test_no_shift_no_change() -> None:
    """A stationary history keeps the all-rows calibrator, unchanged."""
    raw, y, when = _history(0.0)
    cal, _, window = choose_calibration_window(raw, y, when)
    all_rows, _ = choose_calibrator(raw, y)
    assert window.kind == "all" and window.rows == N and window.shift is None
    probe = np.linspace(-4, 4, 41)
    np.testing.assert_allclose(cal.transform(probe), all_rows.transform(probe))


def test_prior_shift_matches_the_observed_rate_and_is_zero_when_calibrated() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.02, 0.6, 5000)
    y = (rng.random(len(p)) < p).astype(int)
    assert abs(fit_prior_shift(p, y)) < 0.1
    moved = (rng.random(len(p)) < 1 / (1 + np.exp(-(np.log(p / (1 - p)) - 0.7)))).astype(int)
    delta = fit_prior_shift(p, moved)
    assert delta == pytest.approx(-0.7, abs=0.1)
    shifted = Calibrator("platt", {"a": 1.0, "b": 0.0}).shifted(delta)
    z = np.log(p / (1 - p))
    assert shifted.transform(z).mean() == pytest.approx(moved.mean(), abs=1e-6)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_shifted_calibrator_stays_monotone_and_of_its_kind(method: str) -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(0, 1, 3000)
    y = (rng.random(len(raw)) < 1 / (1 + np.exp(-raw))).astype(int)
    from scoring.calibration import fit_calibrator

    cal = fit_calibrator(raw, y, method)  # type: ignore[arg-type]
    probe = np.linspace(-3, 3, 61)
    up = cal.shifted(0.5)
    assert up.method == method and Calibrator.from_dict(up.to_dict()) == up
    assert np.all(np.diff(up.transform(probe)) >= 0)
    assert np.all(up.transform(probe) >= cal.transform(probe))
    np.testing.assert_allclose(cal.shifted(0.0).transform(probe), cal.transform(probe))
