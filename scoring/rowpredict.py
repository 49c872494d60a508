"""One lead at a time through LightGBM's single-row fast path.

``Booster.predict`` on a single row spends most of its time outside the trees: it
re-parses its parameters, builds a predictor and copies the input on every call (about
15 µs for a raw score, against 2-5 µs for the trees themselves on the models leadscore
trains, and ~25 µs of the ~140 µs of a TreeSHAP call). A score request makes four to six
such calls: about a tenth of a single-lead request's CPU. LightGBM's C API has a fast
path for exactly this case,
``LGBM_BoosterPredictForMatSingleRowFast``: the parameters are parsed once into a
"fast config" and each call only walks the trees. The Python package does not wrap it,
so this module does, through the package's own ctypes handle.

A fast config owns a scratch buffer and must not be used by two threads at once, so
each thread gets its own (created on first use, freed with the thread). The result is
the same number ``Booster.predict`` gives for that row; ``tests/unit/test_rowpredict.py``
checks that on every kind of output used here.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Literal

import lightgbm as lgb
import numpy as np

try:  # private to LightGBM: pyproject bounds lightgbm below 5 for this reason
    from lightgbm.basic import _LIB, _safe_call
except ImportError as exc:  # pragma: no cover - only with a LightGBM that dropped them
    raise ImportError(
        "scoring/rowpredict.py needs LightGBM's private lightgbm.basic._LIB and _safe_call, "
        f"which lightgbm {lgb.__version__} no longer has: install the version in "
        "requirements.lock (`make setup`), or port RowPredictor to this release"
    ) from exc

__all__ = ["RowPredictor"]

# C API constants (LightGBM's c_api.h)
_PREDICT_NORMAL = 0
_PREDICT_RAW_SCORE = 1
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1

Kind = Literal["raw", "proba", "contrib"]
_PREDICT_TYPE: dict[str, int] = {
    "raw": _PREDICT_RAW_SCORE,
    "proba": _PREDICT_NORMAL,
    "contrib": _PREDICT_CONTRIB,
}


class _FastConfig:
    """A fast-config handle, freed when the owning thread's reference goes away."""

    def __init__(self, booster: lgb.Booster, predict_type: int, n_features: int) -> None:
        self.booster = booster  # the handle below points into it: keep it alive
        self.handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations: saved models hold only the ones kept
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                b"num_threads=1",
                ctypes.byref(self.handle),
            )
        )
        self.out_len = ctypes.c_int64()

    def __del__(self) -> None:
        if self.handle:
            _LIB.LGBM_FastConfigFree(self.handle)
            self.handle = ctypes.c_void_p()


class RowPredictor:
    """``booster.predict(row[None, :], ...)[0]`` for one row, without the per-call setup.

    Parameters
    ----------
    booster : lightgbm.Booster
        A trained or loaded booster.
    kind : {"raw", "proba", "contrib"}
        Raw score (``raw_score=True``), transformed prediction (probabilities for a
        multiclass model), or per-feature contributions plus the base value
        (``pred_contrib=True``, binary models).
    """

    def __init__(self, booster: lgb.Booster, kind: Kind) -> None:
        self.booster = booster
        self.kind = kind
        self.n_features = booster.num_feature()
        classes = booster.num_model_per_iteration()
        self.n_outputs = (self.n_features + 1) * classes if kind == "contrib" else classes
        self._local = threading.local()

    def _config(self) -> _FastConfig:
        config: _FastConfig | None = getattr(self._local, "config", None)
        if config is None:
            config = _FastConfig(self.booster, _PREDICT_TYPE[self.kind], self.n_features)
            self._local.config = config
        return config

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """Predict one row (a 1-D array of ``n_features`` numbers, NaN for missing)."""
        data = np.ascontiguousarray(row, dtype=np.float64)
        if data.shape != (self.n_features,):
            raise ValueError(f"expected {self.n_features} features, got shape {data.shape}")
        config = self._config()
        out = np.empty(self.n_outputs, dtype=np.float64)
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                config.handle,
                data.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(config.out_len),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        return out
