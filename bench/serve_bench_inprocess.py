"""The in-process cost of scoring a batch: the yardstick of the batch target.

Issue 15 asks that a 1,000-lead batch through the API cost at most twice what scoring the
same leads costs without the API around it. This measures that cost in the benchmark's
own process, in the same run: the champion the server loaded (its ``model-cache`` copy),
the same request body parsed the way the API parses it (not timed), and then only the
call the API makes to score them, :meth:`scoring.model.LeadScorer.score_records`, timed
while the server is idle. What the API adds on top (reading and validating the JSON,
building the answers, the response, HTTP) is the difference.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import TOP_REASONS, log


@dataclass
class InProcess:
    """Milliseconds per timed run of ``score_records`` on the batch, by "with reasons"."""

    runs_ms: dict[bool, list[float]] = field(default_factory=dict)

    def median(self, reasons: bool) -> float:
        return statistics.median(self.runs_ms[reasons])

    def fastest(self, reasons: bool) -> float:
        """The undisturbed cost: the timed runs share the machine with the server's roll-up
        refresher, which folds in the leads of the batches just sent (a median 23-31 ms
        against 13 ms with the refresh off, 2026-12-07), and the fastest run is the one
        it left alone."""
        return min(self.runs_ms[reasons])


def served_folder(home: Path) -> Path:
    """The scorer folder ``leadscore serve`` loaded (``model-cache/CURRENT`` names it)."""
    current = home / "model-cache" / "CURRENT"
    if not current.is_file():
        raise SystemExit(f"{current} not found: the leadscore server did not load a model")
    return home / "model-cache" / f"v{current.read_text().strip()}"


def body_of(request: bytes) -> bytes:
    """The JSON body of a raw HTTP request built by ``serve_bench_load.http_request``."""
    return request.split(b"\r\n\r\n", 1)[1]


def measure(home: Path, batch_body: bytes, runs: int, warmup: int = 2) -> InProcess:
    """Median-ready timings of scoring the batch in this process, without and with reasons.

    The body is parsed by the API's own request model and each lead turned into the
    record the scorer reads (``Lead.record``), exactly as ``serving.api_scoring`` does;
    only ``score_records`` is timed.
    """
    from scoring.model import LeadScorer
    from serving.schemas import BatchRequest

    scorer = LeadScorer.load(served_folder(home))
    body = BatchRequest.model_validate_json(batch_body)
    default_as_of = body.as_of
    as_of = [lead.as_of or default_as_of for lead in body.leads]
    records = [lead.record() for lead in body.leads]
    out = InProcess()
    for reasons in (False, True):
        k = TOP_REASONS if reasons else 0
        for _ in range(warmup):
            scorer.score_records(records, as_of, reasons=k)
        timings = []
        for _ in range(runs):
            gc.collect()
            t0 = time.perf_counter()
            scorer.score_records(records, as_of, reasons=k)
            timings.append((time.perf_counter() - t0) * 1000)
        out.runs_ms[reasons] = timings
        log(
            f"in-process score_records, {len(records)} leads, reasons={k}: median "
            f"{statistics.median(timings):.1f} ms over {runs} runs (min {min(timings):.1f})"
        )
    return out
