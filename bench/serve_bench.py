"""Serving speed: leadscore's API against ``mlflow models serve`` of the same champion.

Run on demand (``make bench``), never as a test::

    .venv/bin/python bench/serve_bench.py                # print the tables
    .venv/bin/python bench/serve_bench.py --write-docs   # and update docs/benchmarks.md

Any home will do: ``--home`` reuses one (trained there by ``leadscore demo`` when it has
no MLflow store yet; refused in one line when its store has no ``champion``), and a home
without a synthetic history gets generated leads to send. ``--leadscore-port`` and
``--mlflow-port`` fix the ports (default: free ones); the access log stays off for both
servers unless ``--access-log``. The last line says every target met or not.

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
   server's CPU time per request and its resident memory, and the targets met or not
   (issue 15's, each judged on figures of this run).
5. Scores the same 1,000-lead batch in this process (the served model, the API's own
   scoring call; :mod:`serve_bench_inprocess`): the yardstick of the batch target.
6. With ``--soak SECONDS``, then runs a steady mixed load for that long and samples the
   worker's memory (:mod:`serve_bench_soak`); off by default.
7. Stops both servers (their whole process groups) and removes the folder.

The leads are the 1,000 most recent MQLs of the synthetic history, each with its own
touches up to its MQL moment, scored as of that moment. The MLflow pyfunc returns no
reasons, so the MLflow rows are without reasons: "leadscore with reasons vs MLflow"
compares more work against less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import (
    BACK_TO_BACK,
    BATCH_PAUSE_SECONDS,
    BATCH_SIZE,
    BIN,
    DOCS,
    HOST,
    MLFLOW_MODEL_URI,
    ROOT,
    SEED,
    TOP_REASONS,
    log,
)
from serve_bench_inprocess import body_of
from serve_bench_inprocess import measure as in_process
from serve_bench_load import batch_load, http_request, load, ok_status
from serve_bench_payloads import (
    dumps,
    history_folder,
    load_leads,
    mlflow_body,
    model_summary,
    same_model,
    synthetic_history,
)
from serve_bench_processes import (
    Server,
    _opts,
    base_env,
    free_port,
    rss_mib,
    run,
    start_server,
    wait_ready,
)
from serve_bench_report import Report, machine_info, summary_line, write_docs
from serve_bench_soak import soak

from scoring.features import FeatureSpec

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
    parser.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then this long a steady mixed load on leadscore, its memory sampled (default off)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="LEADSCORE_NAME=VALUE",
        help="a setting for the leadscore commands and server (repeatable), e.g. "
        "LEADSCORE_ROLLUP_REFRESH_SECONDS=0 to time it without the background roll-up refresh",
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
    for name in ("leadscore", "mlflow"):
        parser.add_argument(
            f"--{name}-port",
            type=_port,
            default=0,
            metavar="PORT",
            help=f"port of the {name} server on {HOST} (default: a free one)",
        )
    return parser.parse_args(argv)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"a port is within 0-65535, not {port}")
    return port


def home_problem(home: Path) -> str | None:
    """What a home given with ``--home`` lacks for the benchmark, in one line (or ``None``).

    A home without an MLflow store is trained here (``leadscore demo``); one whose store
    has no ``champion`` cannot be served, and saying so beats a server that never
    becomes ready. A home without a synthetic history is fine: leads are generated.
    """
    if home.exists() and not home.is_dir():
        return f"--home {home} is a file, not a folder"
    store = home / "mlflow.db"
    if not store.is_file():
        return None  # trained by ``leadscore demo --no-serve``
    import sqlite3

    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
            found = conn.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                ("leadscore", "champion"),
            ).fetchone()
    except sqlite3.Error as exc:
        return f"{store} is not a readable MLflow store ({exc})"
    if found is None:
        return (
            f"{store} has no `champion` of model leadscore: run `leadscore train --promote` "
            f"with LEADSCORE_HOME={home}, or leave --home out"
        )
    return None


def choose_ports(args: argparse.Namespace) -> dict[str, int]:
    """The ports asked for (checked free now, so a taken one fails in one line), or free ones."""
    ports: dict[str, int] = {}
    for name in ("leadscore", "mlflow"):
        asked = getattr(args, f"{name}_port")
        if asked == 0:
            ports[name] = free_port()
            continue
        with socket.socket() as sock:
            try:
                sock.bind((HOST, asked))
            except OSError:
                raise SystemExit(
                    f"port {asked} on {HOST} is taken: choose another with --{name}-port"
                ) from None
        ports[name] = asked
    if ports["leadscore"] == ports["mlflow"]:
        raise SystemExit(f"--leadscore-port and --mlflow-port are both {ports['mlflow']}")
    return ports


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (a killed `make bench`) unwinds like Ctrl+C, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("leadscore", "mlflow"):
        if not (BIN / tool).exists():
            raise SystemExit(f"{BIN / tool} not found: run `make setup` first")
    home = args.home.resolve() if args.home else None
    problem = home_problem(home) if home else None
    if problem:
        raise SystemExit(problem)
    ports = choose_ports(args)
    work = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    home = home or work / "home"
    # the settings apply to every leadscore command of the run (a database URL must be
    # the one the keys are made in); ``mlflow models serve`` does not read them
    env = base_env(home) | _settings(args.setting)
    servers: list[Server] = []
    log(f"working folder {work}, LEADSCORE_HOME {home}")
    try:
        keys = _champion_and_keys(args, env, home, work)
        servers += _start_servers(args, env, home, work, ports)
        for server in servers:
            wait_ready(server, timeout=300)
            log(f"{server.name} ready on port {server.port} (pid {server.worker_pid()})")
        by_name = {s.name: s for s in servers}
        at_ready = {s.name: rss_mib(s.worker_pid())[0] for s in servers}

        model = model_summary(home)
        history = history_folder(home)
        if history is None:
            log(f"no synthetic history in {home}: sending freshly generated synthetic leads")
            history = synthetic_history(work / "leads", 3 * BATCH_SIZE)
        records = load_leads(history, BATCH_SIZE)
        spec = FeatureSpec.from_dict(model["spec"])
        report = Report(machine_info(), model, args, rss_ready=at_ready)
        report.loads.append(os.getloadavg()[0])
        auth = {"X-API-Key": keys["scorer"]}
        bodies = _Bodies.build(ports, auth, records, spec)
        if len(by_name) == 2:
            report.same_model = same_model(ports, auth, records[:50], spec)
            log(report.same_model)
        _run_singles(report, by_name, bodies, args)
        _run_batches(report, by_name, bodies, args, len(records))
        if "leadscore" in by_name:  # the yardstick of the batch target, the server idle
            batch_body = body_of(bodies.ls_batch[False][0])
            report.in_process = in_process(home, batch_body, args.batch_runs)
            report.loads.append(os.getloadavg()[0])
        _note_memory(report, by_name)
        if args.soak > 0 and "leadscore" in by_name:
            report.soak = soak(
                by_name["leadscore"],
                {r > 0: bodies.ls_single[r] for r in (0, TOP_REASONS)},
                {flag: bodies.ls_batch[flag][0] for flag in (False, True)},
                {"X-API-Key": keys["marketing"]},
                args.soak,
            )
            report.loads += report.soak.loads
        text = report.markdown()
        print(text)
        if args.write_docs:
            write_docs(text)
            log(f"updated {DOCS}")
        print(summary_line(report.targets()))
        return 0
    finally:
        for server in servers:
            server.stop()
        if args.keep or args.home:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _champion_and_keys(
    args: argparse.Namespace, env: dict[str, str], home: Path, work: Path
) -> dict[str, str]:
    """Train and register a champion (unless ``home`` has one), then make a scorer key
    (and a marketing one, which reads the soak's reports)."""
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
    roles = ("scorer", "marketing") if args.soak > 0 else ("scorer",)
    create = [str(BIN / "leadscore"), "keys", "create"]
    return {
        role: run(
            [*create, f"bench-{role}-{os.getpid()}", *_opts(role=role)],
            env,
            work,
            work / f"keys-{role}.log",
            timeout=120,
        ).split()[-1]
        for role in roles
    }


def _settings(pairs: list[str]) -> dict[str, str]:
    """``--setting`` values as environment variables; only leadscore's own settings."""
    settings = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    if len(settings) != len(pairs) or not all(k.startswith("LEADSCORE_") for k in settings):
        raise SystemExit("--setting takes LEADSCORE_NAME=VALUE")
    return settings


def _start_servers(
    args: argparse.Namespace, env: dict[str, str], home: Path, work: Path, ports: dict[str, int]
) -> list[Server]:
    """``leadscore serve`` and ``mlflow models serve`` of the same champion (or ``--only``)."""
    servers: list[Server] = []
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
    return servers


@dataclass
class _Bodies:
    """The raw HTTP requests of every scenario, built once before any timing."""

    ls_single: dict[int, list[bytes]]  # by number of reasons
    ml_single: list[bytes]
    ls_batch: dict[bool, list[bytes]]  # by "with reasons"
    ml_batch: list[bytes]

    @classmethod
    def build(
        cls,
        ports: dict[str, int],
        auth: dict[str, str],
        records: list[dict[str, Any]],
        spec: FeatureSpec,
    ) -> _Bodies:
        batch_as_of = max(r["as_of"] for r in records)

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
        singles = {TOP_REASONS: ls_single(TOP_REASONS), 0: ls_single(0)}
        return cls(singles, ml_single, ls_batch, ml_batch)


def _run_singles(
    report: Report, by_name: dict[str, Server], bodies: _Bodies, args: argparse.Namespace
) -> None:
    """Single-lead rows at concurrency 1 and 16; compared rows run next to each other."""
    plan: list[tuple[str, str, list[bytes]]] = []
    if "leadscore" in by_name:
        plan += [
            ("leadscore", "with reasons", bodies.ls_single[TOP_REASONS]),
            ("leadscore", "without reasons", bodies.ls_single[0]),
        ]
    if "mlflow" in by_name:
        plan.append(("mlflow", "without reasons", bodies.ml_single))
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


def _run_batches(
    report: Report,
    by_name: dict[str, Server],
    bodies: _Bodies,
    args: argparse.Namespace,
    n_leads: int,
) -> None:
    """Batch rows, paused (the server idle) and back-to-back (its log writing shared)."""
    batch_plan: list[tuple[str, str, list[bytes]]] = []
    if "leadscore" in by_name:
        batch_plan += [
            ("leadscore", "without reasons", bodies.ls_batch[False]),
            ("leadscore", "with reasons", bodies.ls_batch[True]),
            ("leadscore", "without reasons" + BACK_TO_BACK, bodies.ls_batch[False]),
            ("leadscore", "with reasons" + BACK_TO_BACK, bodies.ls_batch[True]),
        ]
    if "mlflow" in by_name:
        batch_plan.append(("mlflow", "without reasons", bodies.ml_batch))
    for name, scenario, requests in batch_plan:
        server = by_name[name]
        pause = 0.0 if scenario.endswith(BACK_TO_BACK) else BATCH_PAUSE_SECONDS
        report.batches.append(
            batch_load(server, scenario, requests, args.batch_runs, n_leads, pause)
        )
        report.loads.append(os.getloadavg()[0])


def _note_memory(report: Report, by_name: dict[str, Server]) -> None:
    """Peak memory of each worker over the run (and what MLflow's launcher holds besides)."""
    for name, server in by_name.items():
        now, _ = report.rss[name]
        report.rss[name] = (now, rss_mib(server.worker_pid())[1])
    if "mlflow" in by_name:
        parent_rss = rss_mib(by_name["mlflow"].proc.pid)[0]
        report.rss_note["mlflow"] = (
            f"(the scoring worker; the `mlflow models serve` process that launched it "
            f"holds another {parent_rss:,.0f} MiB)"
        )


if __name__ == "__main__":
    sys.exit(main())
