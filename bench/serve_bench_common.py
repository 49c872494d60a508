"""Settings shared by the serving benchmark's modules (ports, sizes, targets) and its log.

Importing it puts the repository root on ``sys.path``, so that ``bench/serve_bench.py``
runs as a plain script from any folder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from scoring.contract import LEAD_COLUMNS, PII_COLUMNS  # noqa: E402

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Serving speed"
SEED = 42
TOP_REASONS = 3
BATCH_SIZE = 1_000
STALL_SECONDS = 60.0
BATCH_PAUSE_SECONDS = 0.5
"""Between two timed batches, so that each finds the server idle: leadscore writes a
batch's decision log in the background after answering, and a batch sent right behind it
shares the CPU with that writing. The back-to-back rows show that case."""
BACK_TO_BACK = ", back-to-back"
MLFLOW_MODEL_URI = "models:/leadscore@champion"
LEAD_FIELDS: tuple[str, ...] = tuple(c for c in LEAD_COLUMNS if c not in PII_COLUMNS)
"""Fields of leads.csv sent to the API (personal data left out: it is never used)."""

TARGETS = {
    "speedup": 10.0,  # leadscore single lead with reasons at c=16 vs mlflow at c=16
    "p99_c1_ms": 5.0,  # leadscore single lead with reasons at c=1
    "batch_ratio": 2.0,  # 1,000 leads, no reasons, vs scoring them in-process (same run)
    "batch_reasons_ms": 250.0,  # 1,000 leads, with reasons
    "rss_warm_mib": 300.0,  # the worker after warm-up
    "rss_soak_mib": 400.0,  # the worker after an hour of mixed load (``--soak 3600``)
}
"""Issue 15's serving targets; every one is judged on figures measured in the same run."""

SOAK_TARGET_SECONDS = 3600.0
"""The length of mixed load the memory target is stated for; a shorter soak says so."""
SOAK_CONNECTIONS = 2
SOAK_THINK_SECONDS = 0.01
"""Each soak connection waits this long between requests: a steady load well below
saturation (a few hundred requests a second at most), not a stress test, on a shared machine."""
SOAK_BATCH_EVERY = 250
"""Every this-many-th request of a soak connection is a 1,000-lead batch (with and
without reasons in turn); the rest are single leads, with and without reasons in turn."""
SOAK_REPORT_SECONDS = 30.0
"""How often the soak reads two marketing reports (funnel and SLA) as a marketing user."""
SOAK_SAMPLE_SECONDS = 5.0
"""How often the soak samples the worker's memory."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
