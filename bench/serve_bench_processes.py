"""The servers under test as subprocesses: start, wait until ready, stop the whole
process group, and measure their memory and CPU time from ``/proc``.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import BIN, HOST, ROOT

# --- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def base_env(home: Path) -> dict[str, str]:
    """The caller's environment without leadscore/MLflow settings, pointed at ``home``.

    ``PYTHONPATH`` starts with this checkout, so that the servers run the code of the tree
    the benchmark is in (a git worktree beside the one the virtual environment was
    installed from in editable mode would otherwise measure the other tree's code).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
    env["LEADSCORE_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
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
