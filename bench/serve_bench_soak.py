"""``--soak SECONDS``: a steady mixed load on the leadscore worker, its memory over time.

The memory target is for a worker that has served a while, not one just warmed up: single
leads with and without reasons, 1,000-lead batches with and without reasons, and every
:data:`~serve_bench_common.SOAK_REPORT_SECONDS` two marketing reports, for ``SECONDS``.
The worker's resident memory is sampled every
:data:`~serve_bench_common.SOAK_SAMPLE_SECONDS`; the report gives its peak and the value
at the end (the target is judged on the end).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import (
    HOST,
    SOAK_BATCH_EVERY,
    SOAK_CONNECTIONS,
    SOAK_REPORT_SECONDS,
    SOAK_SAMPLE_SECONDS,
    SOAK_THINK_SECONDS,
    log,
)
from serve_bench_load import Connection
from serve_bench_processes import Server, rss_mib

REPORT_PATHS = ("/v1/reports/funnel", "/v1/reports/sla")


@dataclass
class SoakResult:
    asked: float  # --soak
    seconds: float  # as it ran: the last requests end after the deadline
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds in, MiB)
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)

    @property
    def start_mib(self) -> float:
        return self.samples[0][1]

    @property
    def peak_mib(self) -> float:
        return max(mib for _, mib in self.samples)

    @property
    def end_mib(self) -> float:
        return self.samples[-1][1]


def http_get(port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def soak(
    server: Server,
    singles: dict[bool, Sequence[bytes]],
    batches: dict[bool, bytes],
    report_auth: dict[str, str],
    seconds: float,
) -> SoakResult:
    """Run the mixed load for ``seconds``; sample the worker's memory all along."""
    result = SoakResult(seconds, seconds)
    pid = server.worker_pid()
    reports = [http_get(server.port, path, report_auth) for path in REPORT_PATHS]

    def count(kind: str, status: int) -> None:
        result.requests[kind] = result.requests.get(kind, 0) + 1
        if status != 200:
            result.errors[kind] = result.errors.get(kind, 0) + 1

    async def send(conn: Connection, kind: str, request: bytes) -> Connection:
        """Send one request; a connection the server dropped counts as an error (status
        0) and is replaced, so that one failure is reported instead of ending the soak."""
        try:
            status, _ = await conn.send(request)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn.close()
            count(kind, 0)
            return await Connection.open(server.port)
        count(kind, status)
        return conn

    async def scorer(k: int, deadline: float) -> None:
        conn = await Connection.open(server.port)
        i = k * 7919
        try:
            while time.monotonic() < deadline:
                i += 1
                if i % SOAK_BATCH_EVERY == 0:
                    reasons = (i // SOAK_BATCH_EVERY) % 2 == 1
                    kind, request = f"batch, reasons={reasons}", batches[reasons]
                else:
                    reasons = i % 2 == 1
                    pool = singles[reasons]
                    kind, request = f"single, reasons={reasons}", pool[i % len(pool)]
                conn = await send(conn, kind, request)
                await asyncio.sleep(SOAK_THINK_SECONDS)
        finally:
            conn.close()

    async def reader(deadline: float) -> None:
        while deadline - time.monotonic() > SOAK_REPORT_SECONDS:
            await asyncio.sleep(SOAK_REPORT_SECONDS)
            conn = await Connection.open(server.port)
            try:
                for request, path in zip(reports, REPORT_PATHS, strict=True):
                    conn = await send(conn, f"report {path.rsplit('/', 1)[1]}", request)
            finally:
                conn.close()

    async def sampler(start: float, deadline: float) -> None:
        last_log = start
        while True:
            now = time.monotonic()
            result.samples.append((now - start, rss_mib(pid)[0]))
            if now - last_log >= 60:
                last_log = now
                result.loads.append(os.getloadavg()[0])
                log(
                    f"soak {now - start:5.0f}s: worker {result.samples[-1][1]:,.0f} MiB, "
                    f"{sum(result.requests.values()):,} requests, load {result.loads[-1]:.1f}"
                )
            if now >= deadline:
                return
            await asyncio.sleep(min(SOAK_SAMPLE_SECONDS, max(0.0, deadline - now)))

    async def go() -> None:
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(
            sampler(start, deadline),
            reader(deadline),
            *(scorer(k, deadline) for k in range(SOAK_CONNECTIONS)),
        )

    log(f"soak: {seconds:g} s of mixed load on {server.name} (pid {pid})")
    result.loads.append(os.getloadavg()[0])
    started = time.monotonic()
    asyncio.run(go())
    result.seconds = time.monotonic() - started
    log(
        f"soak done: worker {result.start_mib:,.0f} MiB at start, peak {result.peak_mib:,.0f}, "
        f"end {result.end_mib:,.0f}; requests {result.requests}, errors {result.errors or 0}"
    )
    return result
