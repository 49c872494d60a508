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
    TARGETS,
    TOP_REASONS,
)
from serve_bench_load import LoadResult

# --- the report --------------------------------------------------------------------------


@dataclass
class Report:
    machine: dict[str, str]
    model: dict[str, Any]
    args: argparse.Namespace
    singles: list[LoadResult] = field(default_factory=list)
    batches: list[LoadResult] = field(default_factory=list)
    rss: dict[str, tuple[float, float]] = field(default_factory=dict)
    rss_note: dict[str, str] = field(default_factory=dict)
    same_model: str = ""
    loads: list[float] = field(default_factory=list)

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
        batch_targets = (("without reasons", "batch_ms"), ("with reasons", "batch_reasons_ms"))
        for scenario, key in batch_targets:
            b = self.batch("leadscore", scenario)
            if b:
                busy = self.batch("leadscore", scenario + BACK_TO_BACK)
                rows.append(
                    (
                        f"batch of {BATCH_SIZE:,} leads {scenario}: ≤ {TARGETS[key]:,.0f} ms",
                        f"median {b.pct(50):,.1f} ms, worst {max(b.latencies_ms):,.1f} ms"
                        + (
                            f" (back-to-back: median {busy.pct(50):,.1f} ms)"
                            if busy is not None
                            else ""
                        ),
                        _met(b.pct(50) <= TARGETS[key])
                        + (
                            " (by the median; the worst run is over)"
                            if b.pct(50) <= TARGETS[key] < max(b.latencies_ms)
                            else ""
                        ),
                    )
                )
        rss = self.rss.get("leadscore")
        if rss:
            rows.append(
                (
                    "a worker's memory (RSS) stated",
                    f"{rss[0]:,.0f} MiB after warm-up, {rss[1]:,.0f} MiB peak",
                    "stated",
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
        return out

    def _closing(self) -> list[str]:
        out = ["", "Memory (resident set size, from `/proc`):", ""]
        for name, (now, peak) in self.rss.items():
            out.append(
                f"- {name}: {now:,.0f} MiB after warm-up, {peak:,.0f} MiB peak over the run"
                + (f" {self.rss_note[name]}" if name in self.rss_note else "")
            )
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


def summary_line(targets: list[tuple[str, str, str]]) -> str:
    """Every target met or not, in one line (the report's table says by how much)."""
    judged = [(name, met.replace("*", "")) for name, _, met in targets if met != "stated"]
    met = sum(1 for _, verdict in judged if verdict.startswith("met"))
    items = "; ".join(f"{name.replace('`', '')}: {verdict}" for name, verdict in judged)
    return f"summary: {met} of {len(judged)} targets met — {items}"


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
        "date": dt.date.today().isoformat(),
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
