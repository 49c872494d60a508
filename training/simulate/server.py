"""``leadscore serve`` in a child process on loopback, for the simulation to talk to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from scoring.settings import Settings

SIM_ADMIN_KEY = "lsk_simulation_admin_key_000000000000"
"""The admin key the child server is bootstrapped with; the simulation sends it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(settings: Settings, port: int | None = None) -> Iterator[str]:
    """``leadscore serve`` in a child process on loopback; yields its base URL."""
    port = port or free_port()
    env = {
        **os.environ,
        "LEADSCORE_HOME": str(settings.home),
        "LEADSCORE_BOOTSTRAP_ADMIN_KEY": SIM_ADMIN_KEY,
        "LEADSCORE_MODEL_POLL_SECONDS": "0",
        "LEADSCORE_PROMOTION_METRIC": settings.promotion_metric,
    }
    for name in ("tracking_uri", "database_url"):
        value = getattr(settings, name)
        if value:
            env[f"LEADSCORE_{name.upper()}"] = value
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a busy 2-core machine: imports alone take a while
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited: {(process.stderr.read() if process.stderr else '')[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 300 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
