"""``leadscore benchmark --data FILE --mapping M`` on exports nobody prepared for it.

A small generated export (a lead source and a company size that carry signal, a column
the mapping does not mention, gaps) written to ``tmp_path`` with a custom mapping file:
dated (out-of-time protocol) and undated (cross-validated), a semicolon-separated file
with a byte-order mark, 150 rows, and a single class. Every case either measures or
says in one line why it cannot — never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cli.app import app
from training.benchmark import BenchmarkError, benchmark_export, paired_difference
from training.benchmark_report import to_markdown, write_markdown

FAST = {"learning_rate": 0.1, "early_stopping_rounds": 20, "n_estimators": 300}

MAPPING = {
    "name": "tiny_crm",
    "lead_id": "Deal ID",
    "created_at": "Created",
    "features": {
        "source": "Source",
        "employees": {"column": "Employees", "type": "numeric"},
    },
    "outcome": {"column": "Stage", "won": ["Won"], "lost": ["Lost"], "other": "open"},
}


def _export(n: int, seed: int = 3, *, dated: bool = True) -> pd.DataFrame:
    """Leads whose conversion depends on their source and size, with gaps and noise."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["web", "referral", "ads", "event"], n, p=[0.4, 0.2, 0.3, 0.1])
    employees = np.round(np.exp(rng.normal(3.5, 1.2, n)))
    logit = -1.2 + np.select([source == "referral", source == "ads"], [1.6, -1.0], 0.0)
    logit = logit + 0.5 * (np.log(employees) - 3.5)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    stage = np.where(won, "Won", "Lost").astype(object)
    stage[rng.random(n) < 0.05] = "Negotiation"  # open: no label
    frame = pd.DataFrame(
        {
            "Deal ID": [f"D-{i}" for i in range(n)],
            "Source": source,
            "Employees": employees,
            "Stage": stage,
            "Manager notes": rng.choice(["call back", "", "sent offer"], n),  # not mapped
        }
    )
    frame.loc[rng.random(n) < 0.1, "Employees"] = np.nan
    frame.loc[rng.random(n) < 0.05, "Source"] = ""
    if dated:
        start = pd.Timestamp("2024-01-01")
        frame["Created"] = [
            (start + pd.Timedelta(days=float(d))).strftime("%Y-%m-%d")
            for d in np.sort(rng.uniform(0, 540, n))
        ]
    return frame


def _files(
    tmp_path: Path, n: int, *, dated: bool = True, sep: str = ",", encoding: str = "utf-8"
) -> tuple[Path, Path]:
    frame = _export(n, dated=dated)
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False, sep=sep, encoding=encoding)
    mapping = {k: v for k, v in MAPPING.items() if dated or k != "created_at"}
    mapping_path = tmp_path / "tiny_crm.yaml"
    mapping_path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return path, mapping_path


def test_dated_export_is_measured_out_of_time(tmp_path: Path) -> None:
    path, mapping = _files(tmp_path, 1500)
    result = benchmark_export(path, mapping, config_overrides=FAST)
    (v,) = result.variants
    assert v.protocol == "time" and v.test_period
    assert 0.2 * 1400 < v.test_rows < 0.2 * 1500 + 10  # the latest fifth of labelled leads
    for model, score in v.scores.items():
        assert score.mean("roc_auc") > 0.62, model  # the signal is real and found
        assert score.std("roc_auc") > 0  # bootstrap spread, not a single number
        assert 0 < v.ece_floor[model] < 0.2
    diff, sd = paired_difference(v, "leadscore", "logistic")
    assert abs(diff) < 0.1 and 0 < sd < 0.1
    text = to_markdown(result)
    assert "out of time: test" in text and "--mapping" in text and "bootstrap" in text


def test_undated_export_is_cross_validated(tmp_path: Path) -> None:
    path, mapping = _files(tmp_path, 800, dated=False)
    result = benchmark_export(path, mapping, folds=3, config_overrides=FAST)
    (v,) = result.variants
    assert v.protocol == "cv" and result.folds == 3
    assert all(len(s.folds) == 3 for s in v.scores.values())
    assert v.test_rows == v.rows  # every labelled lead tested once
    assert v.scores["logistic"].mean("roc_auc") > 0.6


def test_time_is_refused_without_dates_and_both_runs_both(tmp_path: Path) -> None:
    path, mapping = _files(tmp_path, 600, dated=False)
    result = benchmark_export(path, mapping, protocol="time", folds=2, models=("logistic",))
    assert [v.protocol for v in result.variants] == ["cv"]
    assert any("no date column" in n for n in result.notes)
    (tmp_path / "dated").mkdir()
    dated, dated_mapping = _files(tmp_path / "dated", 600)
    both = benchmark_export(dated, dated_mapping, protocol="both", folds=2, models=("logistic",))
    assert [v.protocol for v in both.variants] == ["cv", "time"]


def test_semicolons_and_bom_and_150_rows(tmp_path: Path) -> None:
    """A small European-Excel export: fewer folds, a fallback to CV, never a traceback."""
    path, mapping = _files(tmp_path, 150, sep=";", encoding="utf-8-sig")
    result = benchmark_export(path, mapping, folds=5, config_overrides=FAST)
    v = result.variants[0]
    assert v.rows > 130
    assert set(v.scores) == {"logistic", "lightgbm_default", "leadscore"}
    assert all(np.isfinite(s.mean("roc_auc")) for s in v.scores.values())


def test_cli_writes_the_section_and_refuses_one_class(tmp_path: Path) -> None:
    path, mapping = _files(tmp_path, 400, dated=False)
    doc = tmp_path / "bench.md"
    doc.write_text("# Benchmarks\n", encoding="utf-8")
    args = ["benchmark", "--data", str(path), "--mapping", str(mapping), "--folds", "2"]
    run = CliRunner().invoke(app, [*args, "--write", str(doc)])
    assert run.exit_code == 0, run.output
    text = doc.read_text(encoding="utf-8")
    assert "<!-- benchmark:export:start -->" in text and "2-fold CV" in text
    assert "ECE (floor)" in text

    one_class = _export(300, dated=False).assign(Stage="Lost")
    one_class.to_csv(path, index=False)
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 2
    assert "0 won" in run.output and "Traceback" not in run.output
    assert len(run.output.strip().splitlines()) == 1

    run = CliRunner().invoke(app, ["benchmark", "--data", str(path)])
    assert run.exit_code == 2 and "--mapping" in run.output


def test_too_few_leads_is_one_clear_error(tmp_path: Path) -> None:
    path, mapping = _files(tmp_path, 30, dated=False)
    with pytest.raises(BenchmarkError, match="needs at least 10 of each"):
        benchmark_export(path, mapping)


def test_write_markdown_replaces_only_its_own_section(tmp_path: Path) -> None:
    path, mapping = _files(tmp_path, 300, dated=False)
    result = benchmark_export(path, mapping, folds=2, models=("logistic",))
    doc = tmp_path / "bench.md"
    doc.write_text("intro\n<!-- benchmark:other:start -->\nkeep\n<!-- benchmark:other:end -->\n")
    write_markdown(result, doc)
    write_markdown(result, doc)
    text = doc.read_text()
    assert text.count("<!-- benchmark:export:start -->") == 1 and "keep" in text
