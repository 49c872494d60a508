"""``bench/serve_bench.py`` on any home: its options, and one clear line when a home lacks
what the benchmark needs (the benchmark itself is run on demand, never here)."""

from __future__ import annotations

import socket
import sqlite3
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import serve_bench  # noqa: E402
import serve_bench_payloads  # noqa: E402
from serve_bench_inprocess import InProcess  # noqa: E402
from serve_bench_load import LoadResult  # noqa: E402
from serve_bench_processes import CpuMeter  # noqa: E402
from serve_bench_report import Report, summary_line  # noqa: E402
from serve_bench_soak import SoakResult  # noqa: E402


def test_ports_are_options_and_the_access_log_stays_off() -> None:
    args = serve_bench.parse_args(["--leadscore-port", "18123", "--mlflow-port", "18124"])
    assert (args.leadscore_port, args.mlflow_port) == (18123, 18124)
    assert args.access_log is False
    default = serve_bench.parse_args([])
    assert (default.leadscore_port, default.mlflow_port) == (0, 0)  # free ones


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_refused_by_the_parser(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        serve_bench.parse_args(["--mlflow-port", port])
    assert stop.value.code == 2
    assert "--mlflow-port" in capsys.readouterr().err


def test_a_taken_port_is_named_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = serve_bench.parse_args(["--leadscore-port", str(port)])
        with pytest.raises(SystemExit) as stop:
            serve_bench.choose_ports(args)
    message = str(stop.value.code)
    assert f"port {port}" in message and "--leadscore-port" in message and "\n" not in message
    free = serve_bench.choose_ports(serve_bench.parse_args([]))
    assert free["leadscore"] != free["mlflow"] and all(free.values())


def _mlflow_store(home: Path, aliases: list[tuple[str, str, str]]) -> None:
    """The alias table of MLflow's SQLite store (its real column names)."""
    home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(home / "mlflow.db") as conn:
        conn.execute("CREATE TABLE registered_model_aliases (alias TEXT, version INT, name TEXT)")
        conn.executemany("INSERT INTO registered_model_aliases VALUES (?, ?, ?)", aliases)


def test_a_home_without_a_champion_is_named_in_one_line(tmp_path: Path) -> None:
    assert serve_bench.home_problem(tmp_path / "new") is None, "an empty home gets trained"
    home = tmp_path / "trained"
    _mlflow_store(home, [("challenger", "1", "leadscore")])
    problem = serve_bench.home_problem(home)
    assert problem is not None and "\n" not in problem
    assert "champion" in problem and str(home / "mlflow.db") in problem
    _mlflow_store(tmp_path / "served", [("champion", "2", "leadscore")])
    assert serve_bench.home_problem(tmp_path / "served") is None
    (tmp_path / "a-file").write_text("")
    assert "not a folder" in (serve_bench.home_problem(tmp_path / "a-file") or "")


def test_a_home_without_history_or_model_says_so(tmp_path: Path) -> None:
    assert serve_bench_payloads.history_folder(tmp_path) is None
    with pytest.raises(SystemExit) as stop:
        serve_bench_payloads.model_summary(tmp_path)
    assert "model-cache/CURRENT" in str(stop.value.code)


def test_generated_leads_stand_in_for_a_missing_history(tmp_path: Path) -> None:
    folder = serve_bench_payloads.synthetic_history(tmp_path / "leads", 400)
    assert serve_bench_payloads.history_folder(tmp_path) is None  # not a home's data/ folder
    records = serve_bench_payloads.load_leads(folder, 50)
    assert len(records) == 50 and all(r["as_of"] == r["mql_at"] for r in records)
    assert any(r["touches"] for r in records)
    assert not {"name", "email", "phone"} & set(records[0]), "no personal data is sent"


def test_the_summary_says_every_target_met_or_not_in_one_line() -> None:
    speedup = "single lead with reasons, c=16: ≥ 10× `mlflow models serve` (c=16)"
    line = summary_line(
        [
            (speedup, "6×", "**not met**"),
            ("single lead with reasons, c=1: p99 ≤ 5 ms", "p99 3.1 ms", "met"),
            ("a worker's memory (RSS) stated", "300 MiB", "stated"),
        ]
    )
    assert line.startswith("summary: 1 of 2 targets met")
    assert "≥ 10× mlflow models serve (c=16): not met" in line and "p99 ≤ 5 ms: met" in line
    assert "\n" not in line and "*" not in line


def test_a_target_not_measured_in_the_run_is_named_but_not_judged() -> None:
    line = summary_line(
        [
            ("worker RSS after warm-up ≤ 300 MiB", "350 MiB", "**not met**"),
            ("worker RSS after an hour of mixed load ≤ 400 MiB", "no soak", "not measured"),
        ]
    )
    assert line.startswith("summary: 0 of 1 targets met")
    assert line.endswith("not measured: worker RSS after an hour of mixed load ≤ 400 MiB")


def test_batch_and_memory_targets_are_judged_on_the_same_run() -> None:
    """The batch against its in-process cost, the soak's memory and its length said."""
    args = serve_bench.parse_args(["--soak", "900"])
    report = Report({}, {}, args, rss_ready={"leadscore": 350.0})
    cpu = CpuMeter(1, wall=1.0, server=0.5, client=0.1, machine=1.0)
    report.batches.append(LoadResult("leadscore", "without reasons", 1, [100.0] * 5, 1, 0, cpu))
    # the fastest in-process run is the yardstick: the others ran beside the server's
    # roll-up refresher (the median, 80 ms, would make the API look 1.25×)
    report.in_process = InProcess({False: [80.0, 50.0, 90.0], True: [200.0]})
    report.rss["leadscore"] = (360.0, 900.0)
    report.soak = SoakResult(900, 903, samples=[(0, 380.0), (450, 420.0), (903, 390.0)])
    rows = {name.split(":")[0]: (measured, verdict) for name, measured, verdict in report.targets()}
    measured, verdict = rows["batch of 1,000 leads without reasons"]
    assert "50.0 ms in-process (fastest run) = 2.00×" in measured and verdict == "met"
    assert rows["worker RSS after warm-up ≤ 300 MiB"][1] == "**not met**"
    measured, verdict = rows["worker RSS after an hour of mixed load ≤ 400 MiB"]
    assert "390 MiB at the end, 420 MiB peak" in measured
    assert verdict == "**not met** over 15 min only, not an hour"  # the peak is over
    assert "ran 15.1 min" in "\n".join(report._soak_lines())


def test_settings_for_the_server_are_leadscore_settings_only() -> None:
    assert serve_bench._settings(["LEADSCORE_ROLLUP_REFRESH_SECONDS=0"]) == {
        "LEADSCORE_ROLLUP_REFRESH_SECONDS": "0"
    }
    for wrong in (["ROLLUP=0"], ["LEADSCORE_X"], ["MLFLOW_TRACKING_URI=x"]):
        with pytest.raises(SystemExit, match="LEADSCORE_NAME=VALUE"):
            serve_bench._settings(wrong)
