"""``leadscore import-touches``: the sample exports joined to the sample CRM folder through
the command line, a folder ``train`` / ``retrain --data`` read, and one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from scoring.contract import TOUCH_COLUMNS, TOUCH_UTM_COLUMNS
from training.history import CRMHistory

SAMPLES = Path(__file__).resolve().parents[2] / "training" / "samples"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["import-touches", *args], prog_name="leadscore")
    return result.exit_code, result.stdout, result.stderr


def test_import_touches_writes_a_history_folder(tmp_path: Path) -> None:
    out = tmp_path / "joined"
    code, stdout, stderr = _run(
        "--data", str(SAMPLES / "crm"), "--out", str(out),
        "--metrika-visits", str(SAMPLES / "metrika_visits.tsv"),
        "--metrika-hits", str(SAMPLES / "metrika_hits.tsv"),
        "--ga4", str(SAMPLES / "ga4_events.jsonl"),
        "--join-key", "client_id",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    report = stdout + stderr
    assert "join key client_id" in report and "match no lead" in report
    crm = CRMHistory.load(SAMPLES / "crm")
    joined = CRMHistory.load(out)
    assert list(joined.touches.columns) == [*TOUCH_COLUMNS, *TOUCH_UTM_COLUMNS]
    assert len(joined.touches) > len(crm.touches) + 500
    added = joined.touches.iloc[len(crm.touches) :]
    assert added["utm_source"].notna().mean() > 0.3
    assert set(added["type"]) >= {"page_view", "pricing_page_view", "demo_request", "form_submit"}
    # the other tables are copied byte for byte
    for name in ("leads.csv", "feedback.csv", "outcomes.csv", "SNAPSHOT"):
        assert (out / name).read_bytes() == (SAMPLES / "crm" / name).read_bytes()
    # the report's counts are the join's: no identifier or address is printed
    leads = pd.read_csv(SAMPLES / "crm" / "leads.csv", dtype=str, keep_default_na=False)
    for value in [*leads["ym_client_id"][:20], *leads["email"][:20]]:
        assert not value or value not in report


def test_import_touches_mistakes_end_in_one_line(tmp_path: Path) -> None:
    code, _, stderr = _run("--data", str(SAMPLES / "crm"), "--out", str(tmp_path / "o"))
    assert code == 2 and "give --metrika-visits, --ga4 or both" in stderr
    bad = tmp_path / "visits.tsv"
    shutil.copyfile(SAMPLES / "ga4_events.jsonl", bad)
    code, _, stderr = _run(
        "--data", str(SAMPLES / "crm"), "--out", str(tmp_path / "o"), "--metrika-visits", str(bad)
    )
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr
    assert "visits.tsv: no ym:s:* column" in lines[0] and "docs/web-analytics.md" in lines[0]
    code, _, stderr = _run(
        "--data", str(SAMPLES / "crm"), "--out", str(tmp_path / "o"),
        "--ga4", str(SAMPLES / "ga4_events.jsonl"), "--join-key", "phone",
    )  # fmt: skip
    assert code == 2 and "join key 'phone': use one of client_id, user_id, email_sha256" in stderr
