"""Real exports as new users bring them: no id column, names that clash with the contract,
unlabelled open rows, "None" as a value, and repeated ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.integration.importing_helpers import (
    _write_csv,
)
from training.importing import (
    import_export,
    parse_mapping,
)
from training.validate import validate_history

# --- real exports: no id, clashing names, open rows, "None" as a value ---------------------


def _generic_export(n: int = 600, seed: int = 8) -> pd.DataFrame:
    """A CRM export as a new user brings it: no id column, a count column called
    ``campaign``, a competitor field whose real answer is "None", open rows whose
    "qualified" date is still empty, and an empty stage for deals nobody closed."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, 9, 0)
    created = [start + timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 300, n))]
    competitor = rng.choice(["None", "Acme", "Globex"], n, p=[0.5, 0.3, 0.2])
    campaigns = rng.integers(0, 6, n)
    won = rng.random(n) < np.where(competitor == "None", 0.55, 0.2) + 0.03 * campaigns
    state = np.where(rng.random(n) < 0.3, "open", np.where(won, "Won", "Lost"))
    stage = np.where(state == "open", np.where(rng.random(n) < 0.5, "", "Negotiation"), state)
    return pd.DataFrame(
        {
            "Created": [d.strftime("%Y-%m-%d %H:%M") for d in created],
            "Qualified": [
                "" if s == "open" else d.strftime("%Y-%m-%d %H:%M")
                for d, s in zip(created, state, strict=True)
            ],
            "utm_campaign": rng.choice(["spring", "b2b"], n),
            "campaign": campaigns,
            "Competitor": competitor,
            "Stage": stage,
        }
    )


GENERIC_MAPPING = {
    "name": "generic",
    "lead_id": {"row_number": True},
    "created_at": "Created",
    "mql_at": "Qualified",
    "contract": {"campaign": "utm_campaign"},
    "features": {
        "campaign": {"column": "campaign", "type": "numeric"},
        "competitor": {"column": "Competitor", "not_missing": ["None"]},
    },
    "outcome": {"column": "Stage", "won": ["Won"], "lost": ["Lost"], "other": "open"},
}


def test_a_file_without_an_id_column_is_numbered_by_row(tmp_path: Path) -> None:
    export = _generic_export()
    path = _write_csv(export, tmp_path / "export.csv", ",", "utf-8")
    imported = import_export(path, parse_mapping(GENERIC_MAPPING))
    leads = imported.history.leads
    kept = (~export["Stage"].isin(["", "Negotiation"])).to_numpy().nonzero()[0]
    assert leads["lead_id"].tolist() == [f"row-{i + 2}" for i in kept]  # spreadsheet rows
    assert set(imported.history.feedback["lead_id"]) <= set(leads["lead_id"])
    assert any("no id column" in note for note in imported.notes)


def test_a_feature_named_like_a_contract_field_is_renamed(tmp_path: Path) -> None:
    path = _write_csv(_generic_export(), tmp_path / "export.csv", ",", "utf-8")
    mapping = parse_mapping(GENERIC_MAPPING)
    assert [c.name for c in mapping.features] == ["campaign_2", "competitor"]
    imported = import_export(path, mapping)
    assert imported.spec.numeric == ("campaign_2",)
    assert "campaign" in imported.spec.categorical  # the contract's utm campaign stays
    leads = imported.history.leads
    assert set(leads["campaign"].dropna()) == {"spring", "b2b"}
    assert leads["campaign_2"].dtype == float and leads["campaign_2"].max() == 5
    assert any("'campaign' renamed 'campaign_2'" in note for note in imported.notes)
    reserved = {**GENERIC_MAPPING, "features": {"y_won": "campaign", "y_won_2": "Competitor"}}
    assert [c.name for c in parse_mapping(reserved).features] == ["y_won_3", "y_won_2"]


def test_unlabelled_open_rows_are_set_aside_not_bad_rows(tmp_path: Path) -> None:
    """Open rows without a qualification date used to be "bad rows" (required mql_at
    missing) — 30 % of the file, so validation refused to train."""
    export = _generic_export()
    path = _write_csv(export, tmp_path / "export.csv", ",", "utf-8")
    imported = import_export(path, parse_mapping(GENERIC_MAPPING))
    still_open = export["Stage"].isin(["", "Negotiation"])
    assert imported.summary["open"] == int(still_open.sum())
    assert imported.summary["set_aside"] == int(still_open.sum())
    assert len(imported.history.leads) == int((~still_open).sum())
    assert any("set aside" in note and "mql_at" in note for note in imported.notes)
    assert any("empty outcome column 'Stage'" in note for note in imported.notes)
    checked = validate_history(imported.history)
    assert checked.report.empty, checked.report.head()
    # a *labelled* row without its date is still a problem validation reports
    export.loc[(~still_open).to_numpy().nonzero()[0][:3], "Qualified"] = ""
    broken = import_export(_write_csv(export, tmp_path / "b.csv", ",", "utf-8"),
                           parse_mapping(GENERIC_MAPPING))  # fmt: skip
    report = validate_history(broken.history).report
    leads_problems = report[report["table"] == "leads"]
    assert leads_problems["column"].tolist() == ["mql_at"] * 3


def test_missing_markers_are_per_column(tmp_path: Path) -> None:
    export = _generic_export()
    path = _write_csv(export, tmp_path / "export.csv", ",", "utf-8")
    kept = import_export(path, parse_mapping(GENERIC_MAPPING)).history.leads
    closed = ~export["Stage"].isin(["", "Negotiation"])
    assert kept["competitor"].tolist() == export.loc[closed, "Competitor"].tolist()
    assert not any("cells read as missing" in n for n in import_export(
        path, parse_mapping(GENERIC_MAPPING)).notes)  # fmt: skip
    default = {**GENERIC_MAPPING, "features": {"competitor": "Competitor"}}
    imported = import_export(path, parse_mapping(default))
    assert set(imported.history.leads["competitor"].dropna()) == {"Acme", "Globex"}
    note = next(n for n in imported.notes if "cells read as missing" in n)
    assert "'Competitor'" in note and "('None' " in note and "`not_missing: [None]`" in note
    # an explicit marker of the mapping is intended: no note
    declared = {**default, "missing_values": ["None"]}
    assert not any("cells read as missing" in n for n in import_export(
        path, parse_mapping(declared)).notes)  # fmt: skip


@pytest.mark.slow
def test_cli_trains_on_a_generic_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """All four frictions in one file, as a new user meets them: it trains and registers."""
    import yaml

    from cli.app import app

    path = _write_csv(_generic_export(2500, seed=9), tmp_path / "export.csv", ",", "utf-8")
    mapping = tmp_path / "generic.yaml"
    mapping.write_text(yaml.safe_dump(GENERIC_MAPPING, allow_unicode=True))
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    assert "renamed 'campaign_2'" in result.output and "set aside" in result.output
    assert "validated: all rows valid" in result.output
    assert "registered leadscore v1" in result.output


def test_open_rows_repeating_an_id_are_set_aside(tmp_path: Path) -> None:
    """A deal exported again while still open (same id) is not a "duplicate lead_id"
    bad row: the open copy is set aside; two *closed* copies stay a validation problem."""
    frame = pd.DataFrame(
        {
            "ID": ["a", "a", "b", "c", "c", "d"],
            "Created": [f"2024-01-0{d}" for d in (1, 1, 2, 3, 3, 4)],
            "Stage": ["Won", "Talking", "Lost", "Won", "Lost", "Talking"],
        }
    )
    path = _write_csv(frame, tmp_path / "dupes.csv", ",", "utf-8")
    outcome = {"column": "Stage", "won": ["Won"], "lost": ["Lost"], "other": "open"}
    mapping = {"lead_id": "ID", "created_at": "Created", "outcome": outcome}
    imported = import_export(path, parse_mapping(mapping))
    assert imported.history.leads["lead_id"].tolist() == ["a", "b", "c", "c", "d"]
    assert imported.summary["set_aside"] == 1
    assert any("an id another row has 1" in note for note in imported.notes)
    report = validate_history(imported.history, max_bad_share=1.0).report
    assert report[report["table"] == "leads"]["problem"].tolist() == ["duplicate lead_id"]
