"""Real server processes for the replica test: an MLflow tracking server on PostgreSQL and
``leadscore serve`` replicas, each in a process group of its own with its log in a file.

Test-only plumbing for ``test_replicas.py``: start, wait until ready, kill (the whole
group: ``mlflow server`` runs uvicorn as a child), and the logs' tails for messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from training.simulate.server import free_port

HOST = "127.0.0.1"


@dataclass
class ServerProcess:
    """A child process serving HTTP on ``port``; its output goes to ``log``."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} log (last {lines} lines) ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def wait_until(
        self, path: str, ok: Callable[[httpx.Response], bool], timeout: float = 120.0
    ) -> httpx.Response:
        """Poll ``GET path`` until ``ok`` holds; fail with the log's tail if it never does."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.process.returncode})\n{self.tail()}"
                )
            try:
                response = httpx.get(self.url + path, timeout=5)
                if ok(response):
                    return response
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise AssertionError(
            f"{self.name}: {path} not ready in {timeout:g} s ({last})\n{self.tail()}"
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process's whole group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL what is left after 15 s."""
        if self.process.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.process.wait(timeout=15)
        self.kill(signal.SIGKILL)  # children that outlived their parent


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without leadscore's and MLflow's settings, plus ``values``.

    The test's own ``LEADSCORE_*`` (a test database URL, CI's switches) must not reach the
    servers: they get exactly the settings the deployment page lists.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


def spawn(
    name: str, command: list[str], env: Mapping[str, str], log: Path, port: int
) -> ServerProcess:
    handle = log.open("wb")
    try:
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a group of its own: killed with its children
        )
    finally:
        handle.close()
    return ServerProcess(name, process, port, log)


def start_mlflow_server(backend_store_uri: str, artifacts: Path, logs: Path) -> ServerProcess:
    """``mlflow server`` on a PostgreSQL backend store, serving (proxying) the artifacts."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow) if mlflow.exists() else "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return spawn("mlflow server", command, clean_environment(), logs / "mlflow.log", port)


def start_replica(name: str, settings: Mapping[str, str], logs: Path) -> ServerProcess:
    """``leadscore serve`` (as ``python -m cli serve``) with these ``LEADSCORE_*`` settings."""
    port = free_port()
    command = [sys.executable, "-m", "cli", "serve", "--host", HOST, "--port", str(port)]
    command.append("--no-access-log")
    return spawn(name, command, clean_environment(**settings), logs / f"{name}.log", port)
