"""Fingerprints of a few synthetic histories, to prove a refactor of the generator changed
nothing: the same seed must keep giving byte-identical frames (values, dtypes, column
order). Run it before and after, and diff the output::

    .venv/bin/python bench/synthetic_hashes.py > before.txt   # on the old code
    .venv/bin/python bench/synthetic_hashes.py | diff before.txt -

Takes about a minute (two 20,000-lead histories and three small ones).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.synthetic import generate  # noqa: E402

CASES: list[dict[str, Any]] = [
    {"n_leads": 20_000, "seed": 42},
    {"n_leads": 20_000, "seed": 42, "drift": True},
    {"n_leads": 500, "seed": 7},
    {"n_leads": 1_500, "seed": 3, "months": 6, "drift": True, "drift_at": "2025-04-15"},
    {"n_leads": 800, "seed": 11, "drift": True, "hidden_drift_channel": "paid_social"},
]
FRAMES = ("leads", "touches", "feedback", "outcomes", "oracle")


def fingerprint(case: dict[str, Any]) -> str:
    """One line: the case, a digest of everything, and each frame's content hash."""
    history = generate(**case)
    parts = []
    for name in FRAMES:
        frame = getattr(history, name)
        parts.append(
            f"{name}:{len(frame)}:{int(pd.util.hash_pandas_object(frame).sum())}:"
            f"{list(frame.columns)}:{[str(t) for t in frame.dtypes]}"
        )
    parts.append(f"snapshot:{history.snapshot_at}:extra:{sorted(history.extra.items(), key=str)}")
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    frames = " ".join(p.split(":")[0] + "=" + p.split(":")[2] for p in parts[: len(FRAMES)])
    return f"{case} {digest} {frames}"


def main() -> int:
    for case in CASES:
        print(fingerprint(case), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
