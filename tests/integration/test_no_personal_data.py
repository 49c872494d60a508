"""Personal data never leaves the input: not into a run, an artifact, a model, a log or a report.

Issue 11 item 1: every training run used to copy the leads' ``name``, ``email`` and
``phone`` into MLflow (the promotion gate's ``evaluation/test_frame.csv.gz``). Here a
small synthetic history goes through ``leadscore train``, ``promote``, scoring and
feedback through the API (names and phone numbers in the bodies and in the comments),
``leadscore retrain`` and ``leadscore report``; then every file under the home folder
(the MLflow store and artifacts, the registered models, the serving model cache, the
report) and every captured log line is searched for every personal value of the input.
The input files and the serving database are kept outside the home folder: they hold
the personal data by design (their erasure is ``leadscore erase``).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scoring.contract import PII_COLUMNS
from scoring.features import FeatureSpec
from scoring.settings import Settings
from tests.model_fixtures import ADMIN_KEY, Registry, admin_headers
from training.registry import (
    GATE_KEY,
    LEGACY_TEST_FRAME,
    ORACLE_COLUMNS,
    TEST_FRAME,
    _test_frame,
    gate_frame,
    promote,
    use_store,
)
from training.synthetic import generate
from training.train import STAGE_LABELS, build_dataset

# --- finding personal values in bytes ------------------------------------------------------


def personal_values(leads: pd.DataFrame) -> set[str]:
    """Every name, email and phone of ``leads`` (the values a leak would copy)."""
    values: set[str] = set()
    for col in sorted(PII_COLUMNS & set(leads.columns)):
        values.update(str(v) for v in leads[col].dropna() if str(v).strip())
    return values


class Needles:
    """One compiled search for many values, in UTF-8 and as JSON escapes them."""

    def __init__(self, values: Iterable[str]) -> None:
        spellings = set()
        for value in values:
            spellings.add(value.encode())
            spellings.add(json.dumps(value)[1:-1].encode())  # "Müller" as "M\\u00fcller"
        ordered = sorted(spellings, key=len, reverse=True)
        self.pattern = re.compile(b"|".join(re.escape(s) for s in ordered))

    def find(self, data: bytes) -> list[str]:
        return sorted({m.group().decode(errors="replace") for m in self.pattern.finditer(data)})


def readable_forms(path: Path) -> Iterator[bytes]:
    """The file's bytes, plus what compression or a binary format hides from them."""
    data = path.read_bytes()
    yield data
    name = path.name.lower()
    if name.endswith(".gz"):
        yield gzip.decompress(data)
    if name.endswith(".parquet"):
        frame = pd.read_parquet(io.BytesIO(data))
        yield frame.to_csv(index=False).encode()
        yield " ".join(map(str, frame.columns)).encode()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield archive.read(member)


def leaks_in_tree(root: Path, needles: Needles) -> dict[str, list[str]]:
    """``{relative path: personal values found}`` over every file under ``root``."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hits = sorted({hit for form in readable_forms(path) for hit in needles.find(form)})
        if hits:
            found[str(path.relative_to(root))] = hits[:5]
    return found


def test_the_search_finds_what_a_leak_would_look_like(tmp_path: Path) -> None:
    """The scanner itself: a value hidden in a .gz, a Parquet file and a JSON escape."""
    needles = Needles({"Jürgen Weiß", "+49-555-000-1234", "a.b@example.org"})
    frame = pd.DataFrame({"x": ["nothing", "+49-555-000-1234"]})
    frame.to_csv(tmp_path / "frame.csv.gz", index=False)
    frame.to_parquet(tmp_path / "frame.parquet")
    (tmp_path / "card.json").write_text(json.dumps({"who": "Jürgen Weiß"}))
    (tmp_path / "clean.txt").write_text("Jürgen W. and a.b at example.org")
    found = leaks_in_tree(tmp_path, needles)
    assert found == {
        "card.json": ["J\\u00fcrgen Wei\\u00df"],
        "frame.csv.gz": ["+49-555-000-1234"],
        "frame.parquet": ["+49-555-000-1234"],
    }


# --- the gate's frame ------------------------------------------------------------------------


def test_gate_frame_holds_only_the_key_features_and_labels() -> None:
    """Personal data, free text and any unknown column stay out; Parquet keeps the types."""
    history = generate(400, months=6, seed=3)
    frame = build_dataset(history).assign(notes="called the lead's mobile")
    frame["campaign"] = frame["campaign"].astype(object)
    frame.loc[0, "campaign"] = 3.0  # a served feature that came back as a number
    spec = FeatureSpec()
    gate = gate_frame(frame, spec)

    allowed = {
        GATE_KEY,
        *spec.input_columns,
        *spec.numeric_columns,
        *STAGE_LABELS.values(),
        *ORACLE_COLUMNS,
    }
    assert set(gate.columns) <= allowed
    assert not set(gate.columns) & (PII_COLUMNS | {"job_title", "notes", "created_at"})
    assert {GATE_KEY, "y_won", *spec.input_columns} <= set(gate.columns)
    assert not leaks_frame(gate, personal_values(history.leads))

    buffer = io.BytesIO()
    gate.to_parquet(buffer, index=False)
    back = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    assert back.loc[0, "campaign"] == "3"  # spelled as the encoder spells it
    assert (back["region"] == "NA").sum() == (frame["region"] == "NA").sum()  # not NaN
    assert back["consent_email"].dtype == bool
    assert back["lead_age_days"].equals(frame["lead_age_days"])
    assert back[GATE_KEY].tolist() == frame[GATE_KEY].tolist()


def leaks_frame(frame: pd.DataFrame, values: set[str]) -> set[str]:
    cells = {str(v) for col in frame.columns for v in frame[col].dropna()}
    return values & cells


# --- a training run, a retrain and a report, end to end ----------------------------------------

API_LEADS = 6


def api_lead(i: int, now: pd.Timestamp) -> dict[str, Any]:
    """A lead as a CRM integration sends it: with the contact's personal data."""
    return {
        "lead_id": f"api-{i}",
        "created_at": (now - pd.Timedelta(days=12)).isoformat(),
        "channel": "webinar",
        "industry": "software",
        "company_size": "201-500",
        "country": "DE",
        "seniority": "director",
        "name": f"Zebulon Quackenbush{i}",
        "email": f"zebulon.quackenbush{i}@personal-mail.example",
        "phone": f"+7-999-404-{i:04d}",
        "touches": [{"at": (now - pd.Timedelta(days=5)).isoformat(), "type": "pricing_page_view"}],
        "as_of": (now - pd.Timedelta(days=3)).isoformat(),
    }


@pytest.mark.slow
def test_train_retrain_and_report_leave_no_personal_data(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from fastapi.testclient import TestClient
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from cli.app import app
    from serving.app import create_app

    caplog.set_level(logging.DEBUG)
    history = generate(3_000, months=18, seed=1)
    base = history.save(tmp_path / "base")  # the input: outside the home folder
    home = tmp_path / "home"
    database = f"sqlite:///{tmp_path / 'serving.db'}"  # the serving store: outside it too
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", database)
    monkeypatch.delenv("LEADSCORE_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADSCORE_REGISTRY_URI", raising=False)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    bodies = [api_lead(i, now) for i in range(API_LEADS)]
    values = personal_values(history.leads) | personal_values(pd.DataFrame(bodies))
    runner = CliRunner()
    outputs: list[str] = []

    def leadscore(*args: str) -> str:
        result = runner.invoke(app, list(args))
        outputs.append(result.output)
        assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
        return result.output

    assert "registered leadscore v1" in leadscore("train", "--data", str(base), "--seed", "1")
    assert "first model" in leadscore("promote")

    settings = Settings(model_poll_seconds=0, bootstrap_admin_key=ADMIN_KEY)
    with TestClient(create_app(settings)) as client:
        for i, body in enumerate(bodies):
            scored = client.post("/v1/score", json=body, headers=admin_headers())
            assert scored.status_code == 200, scored.text
            kind = "accepted" if i % 2 else "rejected"
            feedback = {
                "lead_id": body["lead_id"],
                "kind": kind,
                "at": (now - pd.Timedelta(days=2)).isoformat(),
                "comment": f"spoke to {body['name']} on {body['phone']}, {body['email']}",
                **({"reason": "no_budget"} if kind == "rejected" else {}),
            }
            sent = client.post(
                "/v1/feedback",
                json=feedback,
                headers={**admin_headers(), "Idempotency-Key": f"pii-feedback-{i:04d}"},
            )
            assert sent.status_code == 201, sent.text
        client.app.state.decision_log.flush()

    retrained = leadscore("retrain", "--data", str(base), "--seed", "1")
    assert "registered leadscore v2" in retrained
    # the gate compared v2 with v1 on v2's Parquet frame (no "first model" shortcut)
    assert "champion v1" in retrained, retrained
    report_dir = home / "report"
    leadscore(
        "report",
        "--data",
        str(base),
        "--out",
        str(report_dir),
        "--from-store",
        "--model",
        "champion",
    )

    needles = Needles(values)
    leaks = leaks_in_tree(home, needles)
    assert not leaks, leaks
    files = {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()}
    # the scan covers what matters: not vacuous
    assert sum(f.endswith(TEST_FRAME) for f in files) == 2
    assert not any(f.endswith(LEGACY_TEST_FRAME) for f in files)
    assert any(f.endswith("input_example.json") for f in files)
    assert any(f.endswith("scorer.json") for f in files)
    assert any(f.endswith("mlflow.db") for f in files)
    assert (report_dir / "index.html").is_file()

    client_ml = MlflowClient(Settings().resolved_tracking_uri, Settings().resolved_registry_uri)
    recorded: list[str] = []
    for experiment in client_ml.search_experiments():
        for run in client_ml.search_runs([experiment.experiment_id]):
            recorded += [*run.data.params.items(), *run.data.tags.items()]
            recorded += [*run.data.metrics]
            frame = _test_frame(client_ml, run.info.run_id)
            assert not set(frame.columns) & PII_COLUMNS
    for version in client_ml.search_model_versions(f"name='{Settings().model_name}'"):
        recorded += [*version.tags.items()]
    assert not needles.find(repr(recorded).encode())

    captured = capfd.readouterr()
    logged = [
        *(record.getMessage() for record in caplog.records),
        *(str(record.exc_info) for record in caplog.records if record.exc_info),
        captured.out,
        captured.err,
        *outputs,
    ]
    assert len(caplog.records) > 0
    assert not needles.find("\n".join(logged).encode())


# --- a challenger registered before the Parquet frame ------------------------------------------


@pytest.mark.slow
def test_gate_still_reads_a_run_logged_with_the_old_csv_frame(registry: Registry) -> None:
    """A challenger registered before the upgrade: its run has only the CSV of whole rows.

    The gate reads it as before (region "NA" is a region, lead ids stay strings), drops
    its personal columns on reading, and measures the same model exactly as it measures
    it on the new Parquet frame of the same rows.
    """
    import mlflow

    settings = registry.settings(registry.root / "trainer")
    client = use_store(settings)
    parquet_version = registry.register_again()
    parquet_run = client.get_model_version(settings.model_name, parquet_version).run_id

    result = registry.result
    test_rows = result.frame[result.split == "test"]
    legacy_dir = registry.root / "legacy"
    legacy_dir.mkdir(exist_ok=True)
    legacy_csv = legacy_dir / "test_frame.csv.gz"
    test_rows.to_csv(legacy_csv, index=False)  # exactly what the old log_and_register wrote
    source = client.get_model_version(settings.model_name, parquet_version)
    with mlflow.start_run(run_name="legacy-frame") as run:
        mlflow.log_artifact(str(legacy_csv), "evaluation")
    legacy_version = client.create_model_version(
        settings.model_name, source.source, run_id=run.info.run_id, await_creation_for=60
    ).version

    legacy = _test_frame(client, run.info.run_id)
    current = _test_frame(client, parquet_run)
    assert not set(legacy.columns) & PII_COLUMNS
    assert legacy["lead_id"].tolist() == current["lead_id"].tolist()
    assert (legacy["region"] == "NA").sum() == (current["region"] == "NA").sum() > 0
    matrix_legacy, _ = result.scorer.encoder.encode(legacy)
    matrix_current, _ = result.scorer.encoder.encode(current)
    assert (pd.DataFrame(matrix_legacy).fillna(-1) == pd.DataFrame(matrix_current).fillna(-1)).all(
        axis=None
    )

    by_parquet = promote(settings, challenger=parquet_version, actor="test")
    by_legacy = promote(settings, challenger=str(legacy_version), actor="test")
    assert by_parquet.scores and by_legacy.scores
    assert by_legacy.scores == by_parquet.scores
    assert by_legacy.evidence == by_parquet.evidence
    assert not by_legacy.promoted  # the same model as the champion: never "better"
