"""Serving speed: leadscore's API against ``mlflow models serve`` of the same champion.

Run on demand (``make bench``), never as a test::

    .venv/bin/python bench/serve_bench.py                # print the tables
    .venv/bin/python bench/serve_bench.py --write-docs   # and update docs/benchmarks.md

What it does, all on 127.0.0.1 and inside one temporary folder:

1. ``leadscore demo --no-serve`` trains and registers a champion in a fresh
   ``LEADSCORE_HOME`` (synthetic history, 20,000 leads by default);
   ``leadscore keys create`` makes a scorer key.
2. Starts ``leadscore serve`` (uvicorn, one worker) and
   ``mlflow models serve -m models:/leadscore@champion --env-manager local`` (the same
   registered version, as MLflow's own pyfunc server) as subprocesses.
3. Checks both return the same P(won) for the same leads, then drives each with a
   closed-loop load generator: a small asyncio HTTP/1.1 client with keep-alive
   connections (written here so that the client, which shares the machine's cores with
   the server, costs as little CPU as possible). Every scenario is bounded in time and
   in requests and starts with a short warm-up that is not counted.
4. Reports single-lead throughput and p50/p95/p99 at concurrency 1 and 16 with and
   without reasons, the latency of a 1,000-lead batch with and without reasons, the
   server's CPU time per request and its resident memory, and the targets met or not.
5. Stops both servers (their whole process groups) and removes the folder.

The leads are the 1,000 most recent MQLs of the synthetic history, each with its own
touches up to its MQL moment, scored as of that moment. The MLflow pyfunc returns no
reasons, so the MLflow rows are without reasons: "leadscore with reasons vs MLflow"
compares more work against less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scoring.contract import LEAD_COLUMNS, PII_COLUMNS  # noqa: E402
from scoring.features import FeatureSpec  # noqa: E402
from scoring.pyfunc import PYFUNC_TIME_COLUMNS, pyfunc_frame  # noqa: E402

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
    "batch_ms": 50.0,  # 1,000 leads, no reasons
    "batch_reasons_ms": 1_000.0,  # 1,000 leads, with reasons
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def base_env(home: Path) -> dict[str, str]:
    """The caller's environment without leadscore/MLflow settings, pointed at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
    env["LEADSCORE_HOME"] = str(home)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(cmd: Sequence[str], env: dict[str, str], cwd: Path, logfile: Path, timeout: float) -> str:
    """Run a command to completion; its output goes to ``logfile`` and is returned."""
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    logfile.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    logfile: Path
    ready_path: str

    def worker_pid(self) -> int:
        """The process that serves requests (``mlflow models serve`` runs uvicorn as a child)."""
        children = _children(self.proc.pid)
        return children[0] if self.name == "mlflow" and children else self.proc.pid

    def pids(self) -> list[int]:
        return [self.proc.pid, *_children(self.proc.pid)]

    def stop(self) -> None:
        """SIGTERM the server's own process group, then SIGKILL what is left of it."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out.extend(int(p) for p in (task / "children").read_text().split())
    return out


def _opts(**options: Any) -> list[str]:
    """``--env-manager local --port 8000`` from ``env_manager="local", port=8000``."""
    return [x for k, v in options.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def start_server(
    name: str, cmd: Sequence[str], env: dict[str, str], cwd: Path, port: int, ready_path: str
) -> Server:
    logfile = cwd / f"{name}.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, proc, port, logfile, ready_path)


def wait_ready(server: Server, timeout: float) -> None:
    url = f"http://{HOST}:{server.port}{server.ready_path}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            tail = "\n".join(server.logfile.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"{server.name} exited ({server.proc.returncode}):\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s (log: {server.logfile})")


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc."""
    values = {"VmRSS": math.nan, "VmHWM": math.nan}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have used (``/proc/stat``; steal excluded)."""
    user, nice, system, _idle, _iowait, irq, softirq = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    )
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU used by the server, by this client and by everything else, over a measurement."""

    pid: int
    wall: float = 0.0
    server: float = 0.0
    client: float = 0.0
    machine: float = 0.0

    def __enter__(self) -> CpuMeter:
        self.wall, self.server = time.perf_counter(), cpu_seconds(self.pid)
        self.client, self.machine = time.process_time(), machine_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.server = cpu_seconds(self.pid) - self.server
        self.client = time.process_time() - self.client
        self.machine = machine_busy_seconds() - self.machine

    @property
    def other_cores(self) -> float:
        """Cores' worth of CPU used by processes other than the server and the client."""
        return max(0.0, self.machine - self.server - self.client) / self.wall


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the load generator -------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are pre-encoded bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return status, b"".join(p[:-2] for p in parts)

    def close(self) -> None:
        self.writer.close()


def http_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    server: str
    scenario: str
    concurrency: int
    latencies_ms: list[float]
    seconds: float
    errors: int
    cpu: CpuMeter

    @property
    def n(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else math.nan

    def pct(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu.server / self.n if self.n else math.nan

    @property
    def client_ms_per_request(self) -> float:
        return 1000 * self.cpu.client / self.n if self.n else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of unsorted values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


async def _drive(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    seconds: float,
    max_requests: int,
    check: Callable[[int, bytes], bool],
) -> tuple[list[float], float, int]:
    """Closed loop: each connection sends its next request when the last one is answered."""
    conns = [await Connection.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker(k: int, conn: Connection) -> None:
        nonlocal issued, errors
        i = k * 7919
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            request = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            status, body = await conn.send(request)
            latencies.append((time.perf_counter() - t0) * 1000)
            if not check(status, body):
                errors += 1

    start = time.perf_counter()
    try:  # a server that stops answering fails the run instead of hanging it
        await asyncio.wait_for(
            asyncio.gather(*(worker(k, c) for k, c in enumerate(conns))), seconds + STALL_SECONDS
        )
    finally:
        for conn in conns:
            conn.close()
    return latencies, time.perf_counter() - start, errors


def load(
    server: Server,
    scenario: str,
    requests: Sequence[bytes],
    concurrency: int,
    seconds: float,
    max_requests: int,
    warmup_seconds: float,
    check: Callable[[int, bytes], bool],
) -> LoadResult:
    asyncio.run(
        _drive(server.port, requests, concurrency, warmup_seconds, max_requests, lambda s, b: True)
    )
    with CpuMeter(server.worker_pid()) as cpu:
        latencies, elapsed, errors = asyncio.run(
            _drive(server.port, requests, concurrency, seconds, max_requests, check)
        )
    result = LoadResult(server.name, scenario, concurrency, latencies, elapsed, errors, cpu)
    log(
        f"{server.name:9s} {scenario:22s} c={concurrency:<2d} {result.n:6d} req "
        f"{result.rps:8.1f}/s p50 {result.pct(50):7.2f} ms p99 {result.pct(99):7.2f} ms "
        f"errors {errors}; server CPU {result.cpu_ms_per_request:.2f} ms/req, "
        f"others {cpu.other_cores:.2f} cores"
    )
    return result


def ok_status(status: int, body: bytes) -> bool:
    return status == 200


# --- leads and payloads ------------------------------------------------------------------


def load_leads(home: Path, n: int) -> list[dict[str, Any]]:
    """The ``n`` most recent MQLs of the demo's synthetic history, with touches up to MQL."""
    import pandas as pd

    folder = next(home.glob("data/*/leads.csv")).parent
    # keep_default_na=False: the region "NA" (North America) is a value, not a missing one
    leads = pd.read_csv(folder / "leads.csv", dtype=str, keep_default_na=False)
    touches = pd.read_csv(folder / "touches.csv", dtype=str, keep_default_na=False)
    leads["_mql"] = pd.to_datetime(leads["mql_at"], utc=True, format="ISO8601")
    leads = leads.sort_values("_mql").tail(n)
    touches = touches[touches["lead_id"].isin(set(leads["lead_id"]))].copy()
    touches["_at"] = pd.to_datetime(touches["at"], utc=True, format="ISO8601")
    by_lead = {lead_id: group for lead_id, group in touches.groupby("lead_id")}
    records = []
    for row in leads.to_dict(orient="records"):
        record: dict[str, Any] = {}
        for col in LEAD_FIELDS:
            value = row[col]
            if value == "":
                continue
            if col.startswith("consent_"):
                record[col] = value.lower() == "true"
            elif col.endswith("_at"):
                record[col] = pd.Timestamp(value).isoformat()
            else:
                record[col] = value
        mine = by_lead.get(row["lead_id"])
        record["touches"] = (
            []
            if mine is None
            else [
                {"at": at.isoformat(), "type": kind}
                for at, kind in zip(mine["_at"], mine["type"], strict=True)
                if at <= row["_mql"]
            ]
        )
        record["as_of"] = record["mql_at"]
        records.append(record)
    return records


def mlflow_body(records: list[dict[str, Any]], spec: FeatureSpec) -> bytes:
    split = pyfunc_frame(records, spec).to_dict(orient="split")
    split.pop("index", None)
    return dumps({"dataframe_split": split})


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


# --- the model ---------------------------------------------------------------------------


def model_summary(home: Path) -> dict[str, Any]:
    """Trees per stage (and of the fit and rejection-reason models) of the served version."""
    current = home / "model-cache" / "CURRENT"
    if current.is_file():  # the copy leadscore serve loaded
        folder = home / "model-cache" / f"v{current.read_text().strip()}"
        version = folder.name.removeprefix("v")
    else:  # only the MLflow server ran: the newest logged scorer
        folder = max(
            home.glob("mlartifacts/**/scorer/scorer.json"), key=lambda p: p.stat().st_mtime
        ).parent
        version = "(champion)"
    meta = json.loads((folder / "scorer.json").read_text())

    def trees(name: str) -> tuple[int, int]:
        text = (folder / name).read_text()
        classes = re.search(r"^num_class=(\d+)", text, re.M)
        return len(re.findall(r"^Tree=", text, re.M)), int(classes.group(1)) if classes else 1

    stages = {s["name"]: trees(f"stage_{s['name']}.txt")[0] for s in meta["stages"]}
    out: dict[str, Any] = {
        "version": version,
        "stages": stages,
        "features": len(meta["encoder"]["feature_names"]),
        "columns": [*PYFUNC_TIME_COLUMNS, *_input_columns(meta["spec"])],
        "spec": meta["spec"],
    }
    if (folder / "fit_model.txt").exists():
        out["fit_trees"] = trees("fit_model.txt")[0]
    if (folder / "reason_model.txt").exists():
        out["reason_trees"], out["reason_classes"] = trees("reason_model.txt")
    return out


def _input_columns(spec: dict[str, Any]) -> list[str]:
    return [*spec["categorical"], *spec["ordinal"], *spec["boolean"], *spec["numeric"]]


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
        for r in self.singles:
            out.append(
                f"| {r.server} | single lead, {r.scenario} | {r.concurrency} | {r.n:,} "
                f"| {r.rps:,.0f} | {r.pct(50):.2f} | {r.pct(95):.2f} | {r.pct(99):.2f} "
                f"| {r.cpu_ms_per_request:.2f} | {r.client_ms_per_request:.2f} "
                f"| {r.cpu.other_cores:.2f} | {r.errors} |"
            )
        out += [
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
        out += ["", "Memory (resident set size, from `/proc`):", ""]
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
        return "\n".join(out)


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


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000, help="synthetic leads to train on")
    parser.add_argument("--seconds", type=float, default=10.0, help="per single-lead row")
    parser.add_argument("--max-requests", type=int, default=20_000, help="per single-lead row")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, per row")
    parser.add_argument("--batch-runs", type=int, default=10, help="timed runs per batch row")
    parser.add_argument(
        "--home", type=Path, help="reuse this LEADSCORE_HOME (trained once) instead of a temp one"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--write-docs", action="store_true", help=f"update the section in {DOCS.relative_to(ROOT)}"
    )
    parser.add_argument(
        "--only", choices=("leadscore", "mlflow"), help="benchmark one server only (debugging)"
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="both servers write uvicorn's access log line per request (off by default)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (a killed `make bench`) unwinds like Ctrl+C, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("leadscore", "mlflow"):
        if not (BIN / tool).exists():
            raise SystemExit(f"{BIN / tool} not found: run `make setup` first")
    work = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    home = args.home.resolve() if args.home else work / "home"
    env = base_env(home)
    servers: list[Server] = []
    log(f"working folder {work}, LEADSCORE_HOME {home}")
    try:
        if not (home / "mlflow.db").exists():
            log(f"training a champion on {args.leads:,} synthetic leads (leadscore demo)")
            t0 = time.perf_counter()
            run(
                [str(BIN / "leadscore"), "demo", "--no-serve", *_opts(leads=args.leads, seed=SEED)],
                env,
                work,
                work / "train.log",
                timeout=1800,
            )
            log(f"trained and registered in {time.perf_counter() - t0:.0f}s")
        key = run(
            [str(BIN / "leadscore"), "keys", "create", f"bench-{os.getpid()}", "--role", "scorer"],
            env,
            work,
            work / "keys.log",
            timeout=120,
        ).split()[-1]

        ports = {"leadscore": free_port(), "mlflow": free_port()}
        wanted = [args.only] if args.only else ["leadscore", "mlflow"]
        if "leadscore" in wanted:
            servers.append(
                start_server(
                    "leadscore",
                    [
                        str(BIN / "leadscore"),
                        "serve",
                        *_opts(host=HOST, port=ports["leadscore"]),
                        "--access-log" if args.access_log else "--no-access-log",
                    ],
                    env,
                    work,
                    ports["leadscore"],
                    "/readyz",
                )
            )
        if "mlflow" in wanted:
            ml_env = dict(
                env,
                MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
                # MLflow starts the uvicorn command line, which reads UVICORN_* variables
                UVICORN_ACCESS_LOG="true" if args.access_log else "false",
            )
            servers.append(
                start_server(
                    "mlflow",
                    [
                        str(BIN / "mlflow"),
                        "models",
                        "serve",
                        *_opts(model_uri=MLFLOW_MODEL_URI, env_manager="local"),
                        *_opts(host=HOST, port=ports["mlflow"]),
                    ],
                    ml_env,
                    work,
                    ports["mlflow"],
                    "/ping",
                )
            )
        for server in servers:
            wait_ready(server, timeout=300)
            log(f"{server.name} ready on port {server.port} (pid {server.worker_pid()})")
        by_name = {s.name: s for s in servers}

        model = model_summary(home)
        records = load_leads(home, BATCH_SIZE)
        batch_as_of = max(r["as_of"] for r in records)
        spec = FeatureSpec.from_dict(model["spec"])
        report = Report(machine_info(), model, args)
        report.loads.append(os.getloadavg()[0])
        auth = {"X-API-Key": key}

        def ls_single(reasons: int) -> list[bytes]:
            path = f"/v1/score?reasons={reasons}"
            port = ports["leadscore"]
            return [http_request(port, path, dumps(r), auth) for r in records]

        ml_single = [
            http_request(ports["mlflow"], "/invocations", mlflow_body([r], spec), {})
            for r in records
        ]
        batch_leads = [{k: v for k, v in r.items() if k != "as_of"} for r in records]
        ls_batch = {
            flag: [
                http_request(
                    ports["leadscore"],
                    "/v1/score/batch",
                    dumps({"leads": batch_leads, "as_of": batch_as_of, "reasons": flag}),
                    auth,
                )
            ]
            for flag in (False, True)
        }
        ml_batch = [
            http_request(
                ports["mlflow"],
                "/invocations",
                mlflow_body([dict(r, as_of=batch_as_of) for r in records], spec),
                {},
            )
        ]

        if len(by_name) == 2:
            report.same_model = same_model(ports, auth, records[:50], spec)
            log(report.same_model)

        plan: list[tuple[str, str, list[bytes]]] = []
        if "leadscore" in by_name:
            plan += [
                ("leadscore", "with reasons", ls_single(TOP_REASONS)),
                ("leadscore", "without reasons", ls_single(0)),
            ]
        if "mlflow" in by_name:
            plan.append(("mlflow", "without reasons", ml_single))
        # Rows that are compared run next to each other, so a change in the machine's
        # background load shifts both; the table lists them by server.
        for c in (1, 16):
            for name, scenario, requests in plan:
                server = by_name[name]
                report.singles.append(
                    load(
                        server,
                        scenario,
                        requests,
                        c,
                        args.seconds,
                        args.max_requests,
                        args.warmup,
                        ok_status,
                    )
                )
                report.loads.append(os.getloadavg()[0])
                if name not in report.rss:
                    report.rss[name] = rss_mib(server.worker_pid())
        order = [(name, scenario) for name, scenario, _ in plan]
        report.singles.sort(key=lambda r: (order.index((r.server, r.scenario)), r.concurrency))

        batch_plan: list[tuple[str, str, list[bytes]]] = []
        if "leadscore" in by_name:
            batch_plan += [
                ("leadscore", "without reasons", ls_batch[False]),
                ("leadscore", "with reasons", ls_batch[True]),
                ("leadscore", "without reasons" + BACK_TO_BACK, ls_batch[False]),
                ("leadscore", "with reasons" + BACK_TO_BACK, ls_batch[True]),
            ]
        if "mlflow" in by_name:
            batch_plan.append(("mlflow", "without reasons", ml_batch))
        for name, scenario, requests in batch_plan:
            server = by_name[name]
            pause = 0.0 if scenario.endswith(BACK_TO_BACK) else BATCH_PAUSE_SECONDS
            report.batches.append(
                batch_load(server, scenario, requests, args.batch_runs, len(records), pause)
            )
            report.loads.append(os.getloadavg()[0])

        for name, server in by_name.items():
            now, _ = report.rss[name]
            report.rss[name] = (now, rss_mib(server.worker_pid())[1])
        if "mlflow" in by_name:
            parent_rss = rss_mib(by_name["mlflow"].proc.pid)[0]
            report.rss_note["mlflow"] = (
                f"(the scoring worker; the `mlflow models serve` process that launched it "
                f"holds another {parent_rss:,.0f} MiB)"
            )
        text = report.markdown()
        print(text)
        if args.write_docs:
            write_docs(text)
            log(f"updated {DOCS}")
        return 0
    finally:
        for server in servers:
            server.stop()
        if args.keep or args.home:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def batch_load(
    server: Server,
    scenario: str,
    requests: list[bytes],
    runs: int,
    n_leads: int,
    pause: float = BATCH_PAUSE_SECONDS,
) -> LoadResult:
    """Time ``runs`` batches sent one at a time, ``pause`` seconds apart (not timed)."""

    def check(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        data = json.loads(body)
        results = data.get("results", data.get("predictions"))
        return isinstance(results, list) and len(results) == n_leads

    async def go(count: int, checker: Callable[[int, bytes], bool]) -> tuple[list[float], int]:
        conn = await Connection.open(server.port)
        latencies, errors = [], 0
        try:
            for _ in range(count):
                await asyncio.sleep(pause)
                t0 = time.perf_counter()
                status, body = await conn.send(requests[0])
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += not checker(status, body)
        finally:
            conn.close()
        return latencies, errors

    def bounded(count: int) -> tuple[list[float], int]:
        return asyncio.run(asyncio.wait_for(go(count, check), count * (STALL_SECONDS + pause)))

    bounded(2)
    with CpuMeter(server.worker_pid()) as cpu:
        latencies, errors = bounded(runs)
    result = LoadResult(server.name, scenario, 1, latencies, cpu.wall, errors, cpu)
    log(
        f"{server.name:9s} batch {scenario:30s} {runs} runs median {result.pct(50):8.1f} ms "
        f"worst {max(latencies):8.1f} ms errors {errors}"
    )
    return result


def same_model(
    ports: dict[str, int], auth: dict[str, str], records: list[dict[str, Any]], spec: FeatureSpec
) -> str:
    """Both servers must give the same P(won) for the same leads, or the comparison is void."""
    import httpx

    diffs = []
    with httpx.Client(timeout=30) as client:
        for record in records:
            ours = client.post(
                f"http://{HOST}:{ports['leadscore']}/v1/score?reasons=0", json=record, headers=auth
            )
            theirs = client.post(
                f"http://{HOST}:{ports['mlflow']}/invocations",
                content=mlflow_body([record], spec),
                headers={"Content-Type": "application/json"},
            )
            ours.raise_for_status()
            theirs.raise_for_status()
            diffs.append(abs(ours.json()["p_won"] - theirs.json()["predictions"][0]["p_won"]))
    worst = max(diffs)
    if worst > 1e-5:
        raise RuntimeError(f"the two servers disagree on P(won) by up to {worst:.2g}")
    return (
        f"Both return the same P(won) for the same {len(records)} leads "
        f"(largest difference {worst:.1g}, leadscore rounds to 6 decimals)."
    )


if __name__ == "__main__":
    sys.exit(main())
