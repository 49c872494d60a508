"""The load generator: a small asyncio HTTP/1.1 client with keep-alive connections,
closed-loop single-lead runs and one-at-a-time batch runs, and their results.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import BATCH_PAUSE_SECONDS, HOST, STALL_SECONDS, log
from serve_bench_processes import CpuMeter, Server

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
