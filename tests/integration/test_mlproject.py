"""Every MLproject entry point runs under ``mlflow run`` and logs into the run it made.

``mlflow run`` creates a run in MLFLOW_TRACKING_URI's store and hands the entry point
MLFLOW_RUN_ID, MLFLOW_EXPERIMENT_ID and MLFLOW_TRACKING_URI. The entry point must resume
that run (not open a store of its own, where the run does not exist) and register the
model in that store's registry. Each ``mlflow run`` is a real subprocess in the
project's folder with the current environment (``--env-manager local``); data is small.
The README case's training shares nothing with the home-store chain, so it runs alongside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LEADS = "3000"


@dataclass
class Started:
    """An ``mlflow run`` under way, and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log: Path


def _start(entry_point: str, cwd: Path, env: dict[str, str], *params: str) -> Started:
    """Start one entry point's ``mlflow run``; its output goes to a file (no pipe to fill)."""
    mlflow = shutil.which("mlflow", path=str(BIN)) or "mlflow"
    args = [mlflow, "run", str(ROOT), "-e", entry_point, "--env-manager", "local"]
    for param in params:
        args += ["-P", param]
    log = cwd.parent / f"mlflow-run-{entry_point}.log"  # each entry point once per test
    with log.open("w") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Started(process, log)


def _finish(started: Started) -> tuple[str, str]:
    """Wait for a started run; return (run id, output). Fails the test with the output."""
    try:
        returncode = started.process.wait(timeout=300)
    finally:
        if started.process.poll() is None:
            started.process.kill()
            started.process.wait()
    output = started.log.read_text()
    assert returncode == 0, output[-3000:]
    marker = "=== Run (ID '"
    assert marker in output, output[-3000:]
    run_id = output.split(marker)[-1].split("'")[0]
    return run_id, output


def _mlflow_run(entry_point: str, cwd: Path, env: dict[str, str], *params: str) -> tuple[str, str]:
    """Run one entry point to its end; return (run id, output)."""
    return _finish(_start(entry_point, cwd, env, *params))


def _env(home: Path, tracking_uri: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
    env["LEADSCORE_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


@pytest.fixture(scope="module")
def readme_train(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Started, Path]]:
    """The README case's ``mlflow run -e train``, started at once, with no MLflow variable.

    Its folder, home and store are its own, so it runs on the other core alongside the
    next test's home-store chain (one training less to wait for), then its own test
    waits for it and checks what it did.
    """
    tmp_path = tmp_path_factory.mktemp("readme")
    cwd = tmp_path / "work"
    cwd.mkdir()
    started = _start("train", cwd, _env(tmp_path / "home", None), f"leads={LEADS}")
    yield started, tmp_path
    if started.process.poll() is None:  # its test was not run: do not leave it behind
        started.process.kill()
        started.process.wait()


def test_every_entry_point_runs_against_the_home_store(
    tmp_path: Path, readme_train: tuple[Started, Path]
) -> None:
    """MLFLOW_TRACKING_URI pointing at the home's store (the case that failed with
    "active experiment ID does not match environment run ID"): generate, train, promote,
    evaluate and retrain in the order a user runs them. (The README case's training,
    ``readme_train``, runs alongside: its own folders and store, nothing shared.)"""
    home = tmp_path / "home"
    uri = f"sqlite:///{home / 'mlflow.db'}"
    env = _env(home, uri)
    cwd = tmp_path / "work"
    cwd.mkdir()
    _, generated = _mlflow_run("generate", cwd, env, f"leads={LEADS}")
    assert (home / "data" / f"synthetic-{LEADS}-42" / "leads.csv").is_file(), generated
    train_run, _ = _mlflow_run("train", cwd, env, f"leads={LEADS}")
    _, promoted = _mlflow_run("promote", cwd, env)
    assert "promoted: first model" in promoted
    evaluate_run, evaluated = _mlflow_run("evaluate", cwd, env, f"leads={LEADS}")
    assert '"roc_auc"' in evaluated
    retrain_run, retrained = _mlflow_run("retrain", cwd, env)
    assert "promoted" in retrained

    client = MlflowClient(uri, uri)
    versions = {str(v.version): v.run_id for v in client.search_model_versions("name='leadscore'")}
    assert versions == {"1": train_run, "2": retrain_run}
    assert str(client.get_model_version_by_alias("leadscore", "champion").version) in versions
    evaluation = client.get_run(evaluate_run).data
    assert evaluation.params["model_version"] == "champion"
    assert 0.5 < evaluation.metrics["eval_roc_auc_won"] <= 1.0
    retrain = client.get_run(retrain_run)
    assert retrain.data.tags["data_source"] == "history+feedback"
    assert retrain.info.status == "FINISHED"


def test_train_as_the_readme_documents_it_logs_into_the_mlflow_run(
    readme_train: tuple[Started, Path],
) -> None:
    """No MLflow variable set: ``mlflow run`` uses ./mlflow.db of the folder it starts
    in; the training run and the registered version are there, in the run it created."""
    started, tmp_path = readme_train
    cwd = tmp_path / "work"
    run_id, _ = _finish(started)
    store = f"sqlite:///{cwd / 'mlflow.db'}"
    client = MlflowClient(store, store)  # the registry too: not this process's global one
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == "42"
    assert "test_roc_auc_won" in run.data.metrics
    versions = client.search_model_versions("name='leadscore'")
    assert [v.run_id for v in versions] == [run_id]
    assert not (tmp_path / "home" / "mlflow.db").exists()  # nothing went to the home store


def test_which_store_a_command_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside ``mlflow run`` the run's store; else LEADSCORE_TRACKING_URI, else
    MLFLOW_TRACKING_URI, else the home's SQLite. Configuring one store never leaks it
    into the environment (MLflow's setters export it) for the next Settings."""
    from scoring.registry_client import MLFLOW_VARIABLES
    from scoring.settings import Settings
    from training.registry import configure

    for name in (*MLFLOW_VARIABLES, "MLFLOW_RUN_ID", "LEADSCORE_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    own = f"sqlite:///{home / 'mlflow.db'}"
    theirs = f"sqlite:///{tmp_path / 'theirs.db'}"
    mine = f"sqlite:///{tmp_path / 'mine.db'}"
    assert Settings(home=home).resolved_tracking_uri == own
    configure(Settings(home=home))
    assert not {n for n in MLFLOW_VARIABLES if n in os.environ}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", theirs)
    assert Settings(home=home).resolved_tracking_uri == theirs
    assert Settings(home=home, tracking_uri=mine).resolved_tracking_uri == mine
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123abcd")
    assert Settings(home=home, tracking_uri=mine).resolved_tracking_uri == theirs
