"""Small vectorised helpers (draws by group, lookups, concatenating per-lead arrays).

Shared by every stage of the generator so that none loops over leads in Python.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

import numpy as np

from scoring.contract import (
    COMPANY_SIZES,
)
from training.synthetic.effects import _SIZES
from training.synthetic.window import _Window

# --- small vectorised helpers ----------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _normalised(weights: np.ndarray | list[float] | tuple[float, ...]) -> np.ndarray:
    arr = np.asarray(weights, dtype=float)
    return arr / arr.sum(axis=-1, keepdims=True)


def _choice_by_group(rng: np.random.Generator, group: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Draw one category per row from ``probs[group]`` (a few groups, many rows).

    Loops over the groups (a handful), not the rows, and never builds a rows × categories
    matrix: that is what keeps 10M touches cheap.
    """
    u = rng.random(len(group))
    out = np.empty(len(group), dtype=np.int16)
    cdf = np.cumsum(_normalised(probs), axis=1)
    for g in range(probs.shape[0]):
        last = np.flatnonzero(probs[g] > 0)[-1]
        cdf[g, last:] = 1.0  # no rounding gap at the top of the row
        rows = group == g
        out[rows] = np.searchsorted(cdf[g], u[rows], side="right")
    return out


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Draw one category per row from per-row probabilities (rows × a few categories)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((u[:, None] >= cdf).sum(axis=1), probs.shape[1] - 1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _size_param(field: str) -> list[float]:
    """One _SizeRow field in COMPANY_SIZES order (codes index the contract's tuple)."""
    return [getattr(_SIZES[size], field) for size in COMPANY_SIZES]


def _lookup(values: list[float] | tuple[float, ...], codes: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float)[codes]


def _weekday(window: _Window, days: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return ((np.floor(window.epoch_day + days).astype(np.int64) + 3) % 7).astype(np.int8)


_Parts = TypeVar("_Parts")


def _stack(
    parts: list[_Parts], offsets: list[int] | None = None, index: str | None = None
) -> _Parts:
    """Concatenate dataclasses of arrays field by field, shifting a lead-index field."""
    values = {}
    for f in fields(parts[0]):
        arrays = [getattr(p, f.name) for p in parts]
        if f.name == index and offsets is not None:
            arrays = [a + off for a, off in zip(arrays, offsets, strict=True)]
        values[f.name] = np.concatenate(arrays)
    return type(parts[0])(**values)
