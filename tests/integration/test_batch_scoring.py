"""Batch scoring with the registered model: ``leadscore score`` on Spark and in one process.

The session's champion is logged as an MLflow model from code. A few hundred of the
history's leads, in the API's lead shape, are scored by ``mlflow.pyfunc.spark_udf`` in
``local[2]`` (one Spark session for the test session), by the local engine, and by
``POST /v1/score/batch``: every number equals the API's to 1e-9, reasons included. The
model also loads where the project cannot be imported (its code travels with it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.types import DataType
from typer.testing import CliRunner

from cli.app import app
from cli.demo_leads import recent_leads, write_leads_file
from cli.score import download_model
from cli.score_engines import ScoringJob, input_kinds, score_local, score_spark
from tests.model_fixtures import Registry, admin_headers

LEADS = 240
NUMBERS = ["p_sql", "p_won", "threshold", "fit_score", "engagement_score"]


@pytest.fixture(scope="module")
def leads(registry: Registry) -> list[dict[str, Any]]:
    return recent_leads(registry.history, LEADS, now=registry.history.snapshot_at)


@pytest.fixture(scope="module")
def champion(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> ScoringJob:
    home = tmp_path_factory.mktemp("score-home")
    version, folder = download_model(registry.settings(home), "champion", home / "model")
    return ScoringJob(folder, "leadscore", version, reasons=3)


@pytest.fixture(scope="module")
def leads_file(leads: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_leads_file(leads, tmp_path_factory.mktemp("leads") / "leads.parquet")


def _api_answers(client: TestClient, leads: list[dict[str, Any]]) -> pd.DataFrame:
    results = []
    for start in range(0, len(leads), 200):
        response = client.post(
            "/v1/score/batch",
            json={"leads": leads[start : start + 200], "reasons": True},
            headers=admin_headers(),
        )
        assert response.status_code == 200, response.text
        results += response.json()["results"]
    return pd.DataFrame(results).set_index("lead_id")


def _assert_equal_to_api(scored: pd.DataFrame, api: pd.DataFrame) -> None:
    scored = scored.set_index("lead_id").loc[api.index]
    for column in NUMBERS:
        np.testing.assert_allclose(
            scored[column].to_numpy(float), api[column].to_numpy(float), rtol=0, atol=1e-9
        )
    assert list(scored["decision"]) == list(api["decision"])
    assert [json.loads(r) for r in scored["reasons"]] == list(api["reasons"])
    assert set(scored["model_version"]) == {str(v["version"]) for v in api["model"]}


def test_spark_scores_equal_the_api(
    spark: Any,
    champion: ScoringJob,
    leads_file: Path,
    leads: list[dict[str, Any]],
    make_client: Callable[..., TestClient],
    tmp_path: Path,
) -> None:
    output = tmp_path / "scores.parquet"
    assert score_spark(champion, leads_file, output, spark) == LEADS
    on_spark = pd.read_parquet(output)
    assert len(on_spark) == LEADS and on_spark["lead_id"].is_unique
    api = _api_answers(make_client(), leads)
    assert api["decision"].nunique() >= 2  # the leads are not all on one side
    _assert_equal_to_api(on_spark, api)
    # and the one-process engine writes the same rows
    local = tmp_path / "local.parquet"
    assert score_local(champion, leads_file, local) == LEADS
    pd.testing.assert_frame_equal(
        pd.read_parquet(local).set_index("lead_id").sort_index(),
        on_spark.set_index("lead_id").sort_index(),
    )


CHILD = """
import json, sys
# the project is not importable: no editable-install finder, no checkout on the path
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
# (the venv may live inside the checkout, as make setup puts it: its packages stay)
sys.path[:] = [
    p for p in sys.path
    if p not in ("", ".") and (not p.startswith({repo!r}) or p.startswith(sys.prefix))
]
import importlib.util
assert importlib.util.find_spec("scoring") is None, "the project is importable"
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model({folder!r})
frame = pd.read_json({frame!r}, orient="split", dtype=False)
for c in ("consent_email", "consent_phone"):
    frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
out = model.predict(frame, params={{"reasons": 2}})
import scoring
assert scoring.__file__.startswith({folder!r}), scoring.__file__
assert not {{"training", "serving", "cli"}} & {{m.split(".")[0] for m in sys.modules}}
print(json.dumps({{"p_won": out["p_won"].tolist(), "reasons": out["reasons"].tolist()}}))
"""


def test_the_model_is_code_and_loads_without_the_project(
    champion: ScoringJob, leads_file: Path, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    folder = champion.model_dir
    assert (folder / "pyfunc_script.py").is_file() and (folder / "code/scoring").is_dir()
    assert not list(folder.rglob("*.pkl")), "a pickled object in the model"
    kinds = input_kinds(folder)
    assert kinds["consent_email"] == kinds["consent_phone"] == "boolean"
    signature = mlflow.models.Model.load(str(folder)).signature
    outputs = {c.name: c.type for c in signature.outputs.inputs}
    assert all(outputs[c] == DataType.double for c in ["p_won", "p_sql", "threshold"])
    assert {p.name: p.dtype for p in signature.params.params}["reasons"] == DataType.long

    from cli.batch_frames import model_input

    rows = model_input(pd.read_parquet(leads_file).head(20), kinds)
    frame_file = tmp_path / "frame.json"
    rows[list(kinds)].to_json(frame_file, orient="split", index=False)
    repo = str(Path(__file__).resolve().parents[2])
    code = CHILD.format(repo=repo, folder=str(folder), frame=str(frame_file))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    child = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr[-3000:]
    answer = json.loads(child.stdout.strip().splitlines()[-1])
    here = mlflow.pyfunc.load_model(str(folder)).predict(rows[list(kinds)], params={"reasons": 2})
    np.testing.assert_allclose(answer["p_won"], here["p_won"], rtol=0, atol=1e-12)
    assert answer["reasons"] == list(here["reasons"])


def test_the_command_scores_a_file_and_names_what_is_wrong(
    registry: Registry, leads_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEADSCORE_TRACKING_URI", registry.tracking_uri)
    runner = CliRunner()
    out = tmp_path / "scores.parquet"
    args = ["score", "--input", str(leads_file), "--output", str(out), "--engine", "local"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    scores = pd.read_parquet(out)
    assert len(scores) == LEADS and "reasons" not in scores
    assert not {"name", "email", "phone"} & set(scores.columns)
    # an existing output is not written over by surprise
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    # a file whose rows have no scoring moment: refused in one line, naming the field
    undated = tmp_path / "undated.csv"
    pd.read_parquet(leads_file).drop(columns=["as_of"]).head(5).to_csv(undated, index=False)
    refused = runner.invoke(
        app, ["score", "--input", str(undated), "--output", str(tmp_path / "u")]
    )
    assert refused.exit_code == 2 and "as_of nor mql_at" in refused.output, refused.output
    dated = runner.invoke(
        app,
        ["score", "--input", str(undated), "--output", str(tmp_path / "u.parquet"),
         "--as-of", "2026-05-01T00:00:00Z"],
    )  # fmt: skip
    assert dated.exit_code == 0, dated.output
    assert set(pd.read_parquet(tmp_path / "u.parquet")["as_of"]) == {"2026-05-01T00:00:00+00:00"}
    vague = runner.invoke(app, [*args[:3], "--output", str(tmp_path / "v"), "--as-of", "yesterday"])
    assert vague.exit_code == 2 and "--as-of" in vague.output, vague.output
    keyless = tmp_path / "keyless.parquet"
    pd.read_parquet(leads_file).drop(columns=["lead_id"]).to_parquet(keyless)
    refused = runner.invoke(
        app, ["score", "--input", str(keyless), "--output", str(tmp_path / "k")]
    )
    assert refused.exit_code == 2 and "no lead_id column" in refused.output, refused.output
