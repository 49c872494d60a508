"""How long ``leadscore generate`` + ``leadscore train`` take, and how much memory, by size.

    python bench/train_bench.py --leads 20000 --leads 200000 --leads 1000000

Each size runs the two commands the way a user does — ``generate --leads N --out DIR``
then ``train --data DIR`` — each in its own child process under a fresh temporary home
(so MLflow starts from an empty store, as on a first run). The child's wall time, CPU
time (user + system) and peak RSS come from ``os.wait4``, which reports that one child
only. CPU time is printed beside wall time because the benchmark machine is shared: on
a loaded machine wall time says more about the neighbours than about leadscore, CPU time
does not. The last lines say whether the issue-15 target (1M leads end to end in
≤ 120 s, peak RSS ≤ 2 GiB) was met at the largest size run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_SECONDS = 120.0
TARGET_RSS_MIB = 2048.0
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Step:
    """One command's cost, as the kernel accounted it for that child."""

    wall: float
    cpu: float
    rss_mib: float


def run_step(args: list[str], home: Path) -> Step:
    """Run ``python -m cli ARGS`` in a child and read its own rusage (``os.wait4``)."""
    env = os.environ | {"LEADSCORE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0,):
        raise SystemExit(f"{' '.join(args)} failed with exit code {child.returncode}")
    # ru_maxrss is in KiB on Linux
    return Step(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def bench(leads: int, seed: int) -> tuple[Step, Step]:
    """``generate`` then ``train`` for ``leads`` synthetic leads, in a throwaway home."""
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        home, data = Path(tmp) / "home", Path(tmp) / "data"
        generate = run_step(
            ["generate", "--leads", str(leads), "--seed", str(seed), "--out", str(data)], home
        )
        train = run_step(["train", "--data", str(data), "--seed", str(seed)], home)
    return generate, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leads", type=int, action="append", help="repeatable; default 20000")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    sizes = args.leads or [20_000]
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| leads | step | wall s | CPU s | peak RSS MiB |")
    print("|---:|---|---:|---:|---:|")
    last: tuple[Step, Step] | None = None
    for leads in sizes:
        gen, train = bench(leads, args.seed)
        for name, step in (("generate", gen), ("train", train)):
            print(f"| {leads:,} | {name} | {step.wall:.1f} | {step.cpu:.1f} | {step.rss_mib:.0f} |")
        total_wall, total_cpu = gen.wall + train.wall, gen.cpu + train.cpu
        print(
            f"| {leads:,} | **both** | {total_wall:.1f} | {total_cpu:.1f} | "
            f"{max(gen.rss_mib, train.rss_mib):.0f} |",
            flush=True,
        )
        last = gen, train
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if last is not None:
        gen, train = last
        seconds = gen.cpu + train.cpu
        rss = max(gen.rss_mib, train.rss_mib)
        print(
            f"time target ≤ {TARGET_SECONDS:.0f} s at {sizes[-1]:,} leads (CPU s): "
            f"{'met' if seconds <= TARGET_SECONDS else 'not met'} ({seconds:.0f} s)"
        )
        print(
            f"memory target ≤ {TARGET_RSS_MIB:.0f} MiB: "
            f"{'met' if rss <= TARGET_RSS_MIB else 'not met'} ({rss:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
