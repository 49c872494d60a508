"""Expected command-line mistakes end in one line (what, where, how to fix) and exit 2.

A missing folder, an unknown mapping, a mapping that does not fit its file, an export too
broken to train on, a wrong option: each used to print a 40–96-line traceback. A real
bug still raises (and keeps its traceback).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))


def _fails_in_one_line(args: list[str], *expected: str) -> str:
    result = CliRunner().invoke(app, args, prog_name="leadscore")
    # MLflow logs its store's creation ("INFO mlflow.store.db.utils") on first use
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and " INFO mlflow." not in ln]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output  # progress lines before it go to stdout
    assert "Traceback" not in result.output
    line = lines[0]
    assert line.startswith(f"leadscore {args[0]}: error: "), line
    for text in expected:
        assert text in line, line
    return line


def test_a_missing_data_folder(tmp_path: Path) -> None:
    _fails_in_one_line(
        ["train", "--data", str(tmp_path / "nope" / "history")],
        f"no such file or folder: {tmp_path / 'nope'}",
    )
    (tmp_path / "empty").mkdir()
    _fails_in_one_line(
        ["train", "--data", str(tmp_path / "empty")],
        f"no leads.csv in {tmp_path / 'empty'}",
        "leadscore generate",
    )


def test_a_flat_file_without_a_mapping(tmp_path: Path) -> None:
    export = tmp_path / "deals.csv"
    export.write_text("id,stage\n1,won\n")
    _fails_in_one_line(
        ["train", "--data", str(export)], f"{export} is a file where a folder", "--mapping"
    )


def test_a_wrong_mapping_name_and_a_mapping_that_does_not_fit(tmp_path: Path) -> None:
    export = tmp_path / "deals.csv"
    export.write_text("Deal,Stage\n1,won\n2,lost\n")
    _fails_in_one_line(
        ["train", "--data", str(export), "--mapping", "amocmr"],
        "unknown mapping 'amocmr'",
        "amocrm",
    )
    _fails_in_one_line(
        ["train", "--data", str(export), "--mapping", "amocrm"],
        "deals.csv: column for lead_id 'lead_id' not found",
        "'Deal', 'Stage'",
        "docs/importing.md",
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("lead_id: Deal\noutcome: {column: Stage, won: [won]}\nfeatures: {x: 1: 2}\n")
    _fails_in_one_line(["train", "--data", str(export), "--mapping", str(broken)], "not valid YAML")


def test_an_export_too_broken_to_train_on(tmp_path: Path) -> None:
    from training.synthetic import generate

    folder = generate(300, months=6, seed=1).save(tmp_path / "history")
    leads = pd.read_csv(folder / "leads.csv", dtype=str, keep_default_na=False)
    leads.loc[: len(leads) // 4, "mql_at"] = "someday"
    leads.to_csv(folder / "leads.csv", index=False)
    _fails_in_one_line(
        ["train", "--data", str(folder)],
        "too many bad rows to train",
        "leads.mql_at required value missing (76 rows)",
        "max_bad_share",
    )


def test_usage_mistakes_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _fails_in_one_line(["train", "--label-rules", "awre"], "'--label-rules'", "aware")
    _fails_in_one_line(["retrain"], "--data", "leadscore generate")
    _fails_in_one_line(["evaluate", "--leads", "300"], "not found in the MLflow registry")
    monkeypatch.setenv("LEADSCORE_PROMOTION_MARGIN", "-1")
    _fails_in_one_line(["promote"], "promotion_margin", "LEADSCORE_")


def test_a_real_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import training.synthetic

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(training.synthetic, "generate", broken)
    result = CliRunner().invoke(app, ["generate", "--leads", "10"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
