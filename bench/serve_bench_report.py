"""The benchmark's report: the Markdown tables, the targets met or not, the machine and
code version they were measured on, and the rewrite of the docs section.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import (
    BACK_TO_BACK,
    BATCH_PAUSE_SECONDS,
    BATCH_SIZE,
    DOCS,
    ROOT,
    SECTION,
    SEED,
    SOAK_BATCH_EVERY,
    SOAK_CONNECTIONS,
    SOAK_REPORT_SECONDS,
    SOAK_TARGET_SECONDS,
    SOAK_THINK_SECONDS,
    TARGETS,
    TOP_REASONS,
)
from serve_bench_inprocess import InProcess
from serve_bench_load import LoadResult
from serve_bench_soak import SoakResult

# --- the report --------------------------------------------------------------------------


@dataclass
class Report:
    machine: dict[str, str]
    model: dict[str, Any]
    args: argparse.Namespace
    rss_ready: dict[str, float] = field(default_factory=dict)  # MiB, before any request
    singles: list[LoadResult] = field(default_factory=list)
    batches: list[LoadResult] = field(default_factory=list)
    rss: dict[str, tuple[float, float]] = field(default_factory=dict)
    rss_note: dict[str, str] = field(default_factory=dict)
    same_model: str = ""
    loads: list[float] = field(default_factory=list)
    in_process: InProcess | None = None
    soak: SoakResult | None = None

    def load_range(self) -> str:
        if not self.loads:
            return "n/a"
        return f"{min(self.loads):.1f}-{max(self.loads):.1f}"

    def single(self, server: str, scenario: str, c: int) -> LoadResult | None:
        for r in self.singles:
            if (r.server, r.scenario, r.concurrency) == (server, scenario, c):
                return r
        return None

    def batch(self, server: str, scenario: str) -> LoadResult | None:
        for r in self.batches:
            if (r.server, r.scenario) == (server, scenario):
                return r
        return None

    def targets(self) -> list[tuple[str, str, str]]:
        rows = []
        ls16 = self.single("leadscore", "with reasons", 16)
        ml16 = self.single("mlflow", "without reasons", 16)
        if ls16 and ml16:
            ratio = ls16.rps / ml16.rps
            cpu_ratio = ml16.cpu_ms_per_request / ls16.cpu_ms_per_request
            rows.append(
                (
                    f"single lead with reasons, c=16: ≥ {TARGETS['speedup']:.0f}× "
                    "`mlflow models serve` (c=16)",
                    f"{ls16.rps:,.0f} vs {ml16.rps:,.0f} req/s = {ratio:.1f}× (server CPU per "
                    f"request {ls16.cpu_ms_per_request:.2f} vs {ml16.cpu_ms_per_request:.2f} ms "
                    f"= {cpu_ratio:.1f}×, a rough guide to the ratio on an idle machine)",
                    _met(ratio >= TARGETS["speedup"]),
                )
            )
        ls1 = self.single("leadscore", "with reasons", 1)
        if ls1:
            rows.append(
                (
                    f"single lead with reasons, c=1: p99 ≤ {TARGETS['p99_c1_ms']:g} ms",
                    f"p99 {ls1.pct(99):.2f} ms",
                    _met(ls1.pct(99) <= TARGETS["p99_c1_ms"]),
                )
            )
        rows += self._batch_targets()
        rows += self._memory_targets()
        return rows

    def _batch_targets(self) -> list[tuple[str, str, str]]:
        rows = []
        b = self.batch("leadscore", "without reasons")
        if b and self.in_process:
            api, alone = b.pct(50), self.in_process.fastest(False)
            busy = self.batch("leadscore", "without reasons" + BACK_TO_BACK)
            rows.append(
                (
                    f"batch of {BATCH_SIZE:,} leads without reasons: ≤ "
                    f"{TARGETS['batch_ratio']:g}× scoring them in-process",
                    f"median {api:,.1f} ms vs {alone:,.1f} ms in-process (fastest run) = "
                    f"{api / alone:.2f}× "
                    f"(worst {max(b.latencies_ms):,.1f} ms"
                    + (f"; back-to-back median {busy.pct(50):,.1f} ms" if busy else "")
                    + ")",
                    _met(api <= TARGETS["batch_ratio"] * alone),
                )
            )
        b = self.batch("leadscore", "with reasons")
        if b:
            limit = TARGETS["batch_reasons_ms"]
            busy = self.batch("leadscore", "with reasons" + BACK_TO_BACK)
            rows.append(
                (
                    f"batch of {BATCH_SIZE:,} leads with reasons: ≤ {limit:,.0f} ms",
                    f"median {b.pct(50):,.1f} ms, worst {max(b.latencies_ms):,.1f} ms"
                    + (f" (back-to-back: median {busy.pct(50):,.1f} ms)" if busy else ""),
                    _met(b.pct(50) <= limit)
                    + (
                        " (by the median; the worst run is over)"
                        if b.pct(50) <= limit < max(b.latencies_ms)
                        else ""
                    ),
                )
            )
        return rows

    def _memory_targets(self) -> list[tuple[str, str, str]]:
        rss = self.rss.get("leadscore")
        if not rss:
            return []
        warm, soak = TARGETS["rss_warm_mib"], TARGETS["rss_soak_mib"]
        rows = [
            (
                f"worker RSS after warm-up ≤ {warm:,.0f} MiB",
                f"{rss[0]:,.0f} MiB ({self.rss_ready.get('leadscore', float('nan')):,.0f} MiB "
                f"at ready, before any request; {rss[1]:,.0f} MiB peak over the timed rows)",
                _met(rss[0] <= warm),
            )
        ]
        target = f"worker RSS after an hour of mixed load ≤ {soak:,.0f} MiB"
        if self.soak is None:
            rows.append((target, "no soak in this run (`--soak 3600`)", NOT_MEASURED))
            return rows
        s = self.soak
        short = s.asked < SOAK_TARGET_SECONDS
        rows.append(
            (
                target,
                f"after {s.seconds / 60:.1f} min: {s.end_mib:,.0f} MiB at the end, "
                f"{s.peak_mib:,.0f} MiB peak ({s.start_mib:,.0f} MiB when it began)",
                _met(s.end_mib <= soak and s.peak_mib <= soak)
                + (f" over {s.seconds / 60:.0f} min only, not an hour" if short else ""),
            )
        )
        return rows

    def markdown(self) -> str:
        """The docs section: how it was measured, the tables, memory, targets, how to rerun."""
        return "\n".join(
            [*self._intro(), *self._single_table(), *self._batch_table(), *self._closing()]
        )

    def _intro(self) -> list[str]:
        m, a = self.model, self.args
        stages = ", ".join(f"`{k}` {v}" for k, v in m["stages"].items())
        extra = []
        if "fit_trees" in m:
            extra.append(f"fit model {m['fit_trees']}")
        if "reason_trees" in m:
            extra.append(
                f"rejection-reason model {m['reason_trees']} "
                f"({m['reason_trees'] // m['reason_classes']} rounds × {m['reason_classes']} "
                "classes, only for handed-over leads)"
            )
        out = [
            SECTION,
            "",
            f"Measured {self.machine['date']} by `bench/serve_bench.py` on {self.machine['code']} "
            "(the numbers below are that run's output, not edited).",
            "",
            f"- **Machine:** {self.machine['cpus']} CPUs ({self.machine['cpu']}), "
            f"{self.machine['memory']}, {self.machine['os']}; Python {self.machine['python']}; "
            f"{self.machine['versions']}. The machine is shared: the 1-minute "
            f"load average read {self.load_range()} during the run (the benchmark itself "
            "adds about 2), and the *others* columns below show how many cores' worth of "
            "CPU other processes used during each row.",
            f"- **Model:** the champion of `leadscore demo --no-serve --leads {a.leads:,}` "
            f"(seed {SEED}), v{m['version']}: trees per stage {stages}; "
            + "; ".join(extra)
            + f"; {m['features']} features.",
            "- **Servers:** `leadscore serve` (uvicorn, one worker) and "
            "`mlflow models serve -m models:/leadscore@champion --env-manager local` "
            "(MLflow's scoring server, one uvicorn worker, the same registered version), "
            "both on 127.0.0.1 with default settings except uvicorn's access log, "
            + (
                "on for both"
                if a.access_log
                else "off for both (`leadscore serve --no-access-log`, `UVICORN_ACCESS_LOG="
                "false` for the uvicorn MLflow starts; `--access-log` turns it on for both)"
            )
            + f", started and stopped by the script. {self.same_model}",
            "- **Load:** the 1,000 most recent MQLs of the synthetic history, each with its "
            "touches up to its MQL moment and scored as of it, sent in turn by a closed-loop "
            "asyncio HTTP/1.1 client with keep-alive connections running on the same machine "
            f"(it shares the {self.machine['cpus']} cores with the server). Each single-lead "
            f"row: {a.warmup:g} s warm-up, then {a.seconds:g} s or {a.max_requests:,} "
            f"requests. leadscore: `POST /v1/score?reasons={TOP_REASONS}` (top "
            f"{TOP_REASONS} reasons each way) or `?reasons=0`; MLflow: `POST /invocations` "
            "with `dataframe_split` built by `scoring.pyfunc.pyfunc_frame`. The pyfunc "
            "returns no reasons, so MLflow has only rows without reasons.",
            "",
            "| server | request | concurrency | requests | req/s | p50 ms | p95 ms | p99 ms "
            "| server CPU ms/req | client CPU ms/req | others (cores) | errors |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        return out

    def _single_table(self) -> list[str]:
        out = []
        for r in self.singles:
            out.append(
                f"| {r.server} | single lead, {r.scenario} | {r.concurrency} | {r.n:,} "
                f"| {r.rps:,.0f} | {r.pct(50):.2f} | {r.pct(95):.2f} | {r.pct(99):.2f} "
                f"| {r.cpu_ms_per_request:.2f} | {r.client_ms_per_request:.2f} "
                f"| {r.cpu.other_cores:.2f} | {r.errors} |"
            )
        return out

    def _batch_table(self) -> list[str]:
        a = self.args
        out = [
            "",
            f"Batches of {BATCH_SIZE:,} leads, one request at a time "
            f"({a.batch_runs} timed runs after 2 warm-up runs; all leads scored as of the "
            f"most recent MQL moment), {BATCH_PAUSE_SECONDS:g} s apart or back-to-back. "
            "leadscore answers a batch first and then writes its 1,000 decisions to the "
            "decision log on a background thread; a batch sent right behind shares the CPU "
            "with that writing, which the back-to-back rows include:",
            "",
            "| server | request | runs | median ms | worst ms | leads/s (median) "
            "| server CPU ms/batch | others (cores) | errors |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for r in self.batches:
            out.append(
                f"| {r.server} | {BATCH_SIZE:,} leads, {r.scenario} | {r.n} | {r.pct(50):,.1f} "
                f"| {max(r.latencies_ms):,.1f} | {BATCH_SIZE / r.pct(50) * 1000:,.0f} "
                f"| {r.cpu_ms_per_request:,.0f} | {r.cpu.other_cores:.2f} | {r.errors} |"
            )
        if self.in_process:
            for reasons, runs in self.in_process.runs_ms.items():
                median = self.in_process.median(reasons)
                out.append(
                    f"| in-process (this script) | {BATCH_SIZE:,} leads, "
                    f"{'with' if reasons else 'without'} reasons: `score_records` only "
                    f"(fastest {min(runs):,.1f} ms) "
                    f"| {len(runs)} | {median:,.1f} | {max(runs):,.1f} "
                    f"| {BATCH_SIZE / median * 1000:,.0f} | | | |"
                )
            out += [
                "",
                "The in-process rows score the same batch in the benchmark's own process, in "
                "the same run, with the server idle: the champion the server loaded (its "
                "`model-cache` copy), the request body parsed by the API's `BatchRequest` and "
                "each lead made into `Lead.record()` (not timed), then only "
                "`LeadScorer.score_records` — the scoring call `serving.api_scoring` makes — "
                "timed. The batch target compares the API's median with the fastest "
                "in-process run: the in-process runs share the machine with the server's "
                "roll-up refresher, which folds in the leads of the batches just sent, and "
                "the fastest is the run it left alone (the undisturbed cost).",
            ]
        return out

    def _closing(self) -> list[str]:
        out = ["", "Memory (resident set size, from `/proc`):", ""]
        for name, (now, peak) in self.rss.items():
            ready = self.rss_ready.get(name, float("nan"))
            out.append(
                f"- {name}: {ready:,.0f} MiB at ready, {now:,.0f} MiB after warm-up (the first "
                f"timed row), {peak:,.0f} MiB peak over the timed rows"
                + (f" {self.rss_note[name]}" if name in self.rss_note else "")
            )
        out += self._soak_lines()
        out += ["", "| target | measured | |", "|---|---|---|"]
        out += [f"| {t} | {v} | {ok} |" for t, v, ok in self.targets()]
        out += [
            "",
            "Reproduce (about 3-4 minutes; needs nothing but the virtual environment):",
            "",
            "```sh",
            "make bench                                        # print the tables",
            ".venv/bin/python bench/serve_bench.py --write-docs  # and rewrite this section",
            "```",
            "",
        ]
        return out

    def _soak_lines(self) -> list[str]:
        s = self.soak
        if s is None:
            return []
        counts = ", ".join(f"{k} {n:,}" for k, n in sorted(s.requests.items()))
        errors = ", ".join(f"{k} {n:,}" for k, n in sorted(s.errors.items())) or "none"
        marks = [s.samples[0]]
        step = max(1, len(s.samples) // 6)
        marks += [*s.samples[step:-1:step], s.samples[-1]]
        over_time = ", ".join(f"{t / 60:.1f} min {mib:,.0f}" for t, mib in marks)
        loads = f"{min(s.loads):.1f}-{max(s.loads):.1f}" if s.loads else "n/a"
        return [
            "",
            f"Soak (`--soak {s.asked:g}`, ran {s.seconds / 60:.1f} min; the target is stated for "
            f"an hour): after the rows above, {SOAK_CONNECTIONS} connections each sending "
            f"single leads with and without reasons in turn, {SOAK_THINK_SECONDS * 1000:g} ms "
            f"apart, every {SOAK_BATCH_EVERY}th request a {BATCH_SIZE:,}-lead batch (with and "
            f"without reasons in turn), and the funnel and SLA reports read every "
            f"{SOAK_REPORT_SECONDS:g} s with a marketing key; load average {loads}. "
            f"Requests: {counts}; errors: {errors}. The worker's RSS (MiB) over time: "
            f"{over_time}; peak {s.peak_mib:,.0f}.",
        ]


NOT_MEASURED = "not measured"


def summary_line(targets: list[tuple[str, str, str]]) -> str:
    """Every target met or not, in one line (the report's table says by how much)."""
    judged = [(name, met.replace("*", "")) for name, _, met in targets if met not in UNJUDGED]
    met = sum(1 for _, verdict in judged if verdict.startswith("met"))
    items = "; ".join(f"{name.replace('`', '')}: {verdict}" for name, verdict in judged)
    unjudged = [name.replace("`", "") for name, _, met in targets if met == NOT_MEASURED]
    tail = f"; not measured: {', '.join(unjudged)}" if unjudged else ""
    return f"summary: {met} of {len(judged)} targets met — {items}{tail}"


UNJUDGED = ("stated", NOT_MEASURED)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def machine_info() -> dict[str, str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f"{kib / 1024**2:.0f} GiB RAM"
    versions = ", ".join(
        f"{p} {metadata.version(p)}"
        for p in ("lightgbm", "fastapi", "pydantic", "uvicorn", "mlflow", "numpy")
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "code": code_version(),
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }


def code_version() -> str:
    """``commit abc1234`` (plus ``and local changes`` when the work tree differs)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "an unknown commit"
    if not head:
        return "an unknown commit"
    return f"commit {head}" + (" with local changes" if dirty else "")


def write_docs(section: str, path: Path = DOCS) -> None:
    """Replace (or append) the Serving speed section; leave every other section alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next(
            (j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines)
        )
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
