"""Reports: funnel, rejection reasons, SLA, calibration and drift; HTML and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.report_html import CHARTS, write_html
from serving.reports import (
    DIMENSIONS,
    PSI_ALERT,
    CostInputs,
    build_report,
    drift_report,
    from_history,
    load_costs,
    psi,
    reference_profile,
    section_json,
)
from tests.integration.reports_helpers import _in_unit
from training.history import CRMHistory
from training.synthetic import generate

SEED = 11
SPEND = {"marketing": 60_000.0, "sales": 30_000.0}


@pytest.fixture(scope="module")
def history() -> CRMHistory:
    return generate(3000, seed=SEED)


@pytest.fixture(scope="module")
def costs(history: CRMHistory) -> CostInputs:
    channels = {c: dict(SPEND) for c in sorted(history.leads["channel"].unique())}
    return CostInputs.from_dict({"channels": channels, "retention_multiple": 3.0})


@pytest.fixture(scope="module")
def report(history: CRMHistory, costs: CostInputs) -> dict[str, Any]:
    """The synthetic oracle is a perfectly calibrated predictor: a known answer."""
    oracle = history.oracle
    assert oracle is not None
    predictions = oracle.rename(columns={"p_sql_true": "p_sql", "p_won_true": "p_won"})
    return build_report(from_history(history, predictions=predictions), costs=costs)


def _rows(section: dict[str, Any], dimension: str) -> list[dict[str, Any]]:
    return [r for r in section["rows"] if r["dimension"] == dimension]


# --- pure computation -----------------------------------------------------------------------


def test_report_is_strict_json_with_every_section(report: dict[str, Any]) -> None:
    parsed = json.loads(section_json(report))  # allow_nan=False: no NaN anywhere
    for section in ("funnel", "rejections", "sla", "calibration", "drift"):
        assert parsed[section], section
    assert parsed["group_by"] == list(DIMENSIONS)


def test_funnel_counts_and_rates(report: dict[str, Any], history: CRMHistory) -> None:
    funnel = report["funnel"]
    total = funnel["total"]
    assert total["leads"] == len(history.leads)
    assert total["leads"] >= total["mql"] >= total["sql"] >= total["won"] > 0
    won_leads = history.outcomes.loc[history.outcomes["outcome"] == "won", "lead_id"].nunique()
    assert total["won"] == won_leads
    rate_keys = ("lead_to_mql", "mql_to_sql", "sql_to_won", "win_rate_closed", "mql_to_won")
    for row in [total, *funnel["rows"]]:
        assert all(_in_unit(row[k]) for k in rate_keys), row
    assert 0.25 < total["mql_to_sql"] < 0.5  # the generator's ~38 %
    for dim in DIMENSIONS:
        rows = _rows(funnel, dim)
        assert rows, dim
        assert sum(r["leads"] for r in rows) == total["leads"]
        assert sum(r["won"] for r in rows) == total["won"]


def test_funnel_unit_economics(report: dict[str, Any]) -> None:
    total = report["funnel"]["total"]
    channels = _rows(report["funnel"], "channel")
    marketing = SPEND["marketing"] * len(channels)
    sales = SPEND["sales"] * len(channels)
    assert total["marketing_cost"] == marketing
    assert total["cac"] == pytest.approx((marketing + sales) / total["won"], rel=1e-3)
    assert total["ltv"] == pytest.approx(3.0 * total["revenue"] / total["won"], rel=1e-3)
    assert total["ltv_cac"] == pytest.approx(total["ltv"] / total["cac"], rel=1e-3)
    assert total["romi_pct"] == pytest.approx(
        (total["revenue"] - marketing) / marketing * 100, rel=1e-3
    )
    for row in channels:
        assert row["marketing_cost"] == SPEND["marketing"]
        if row["won"]:
            assert row["cac"] == pytest.approx(sum(SPEND.values()) / row["won"], rel=1e-3)
    # no spend per campaign or segment was given: no CAC there
    assert all(r["cac"] is None for r in _rows(report["funnel"], "industry"))


def test_funnel_without_costs_has_no_unit_economics(history: CRMHistory) -> None:
    result = build_report(from_history(history), sections=["funnel"])
    total = result["funnel"]["total"]
    assert total["cac"] is None and total["romi_pct"] is None and total["ltv"] > 0


def test_rejection_reasons_sum_to_the_rejections(
    report: dict[str, Any], history: CRMHistory
) -> None:
    section = report["rejections"]
    rejected = history.feedback[history.feedback["decision"] == "rejected"]
    assert section["total"]["rejections"] == len(rejected)
    for row in [section["total"], *section["rows"]]:
        counts = [v["count"] for v in row["reasons"].values()]
        assert sum(counts) == row["rejections"]
        if row["rejections"]:
            shares = [v["share"] for v in row["reasons"].values()]
            assert sum(shares) == pytest.approx(1.0, abs=1e-3)
            assert all(_in_unit(s) for s in shares)
        assert _in_unit(row["rejection_rate"])
    for dim in DIMENSIONS:
        assert sum(r["rejections"] for r in _rows(section, dim)) == len(rejected)
    expected = rejected["reason"].value_counts()
    for reason, count in expected.items():
        assert section["total"]["reasons"][reason]["count"] == count


def test_rejection_reasons_show_what_marketing_must_fix(report: dict[str, Any]) -> None:
    """The generator plants low ICP fit in paid social: not_icp is over-represented there."""
    paid_social = next(
        r for r in _rows(report["rejections"], "channel") if r["group"] == "paid_social"
    )
    assert paid_social["reasons"]["not_icp"]["lift"] > 1.2


def test_sla_shares_are_sane(report: dict[str, Any]) -> None:
    sla = report["sla"]
    share_keys = [k for k in sla["total"] if k.endswith("_share")]
    assert len(share_keys) >= 6
    for row in [sla["total"], *sla["rows"]]:
        assert all(_in_unit(row[k]) for k in share_keys), row
    total = sla["total"]
    assert 0.6 < total["within_8h_share"] < 0.95  # the generator's ~80 %
    assert total["first_contact_within_24h_share"] >= total["within_8h_share"]
    assert total["no_response_3plus_attempts_share"] == 1.0  # the generator keeps the rule
    assert 0 < total["nurtured_after_rejection_share"] <= 1
    assert sum(sla["response_hours_histogram"]["counts"]) == total["decided"]


def test_sla_on_a_hand_made_history(tmp_path: Path) -> None:
    """Four leads with known answers, including the fallbacks."""
    t0 = pd.Timestamp("2026-01-05 09:00", tz="UTC")
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "created_at": [t0] * 4,
            "mql_at": [t0] * 4,
            "channel": ["seo", "seo", "event $1 $_", "event $1 $_"],  # "$": no chart mathtext
            "campaign": ["$ave 50% <b>now</b>"] * 4,  # hostile names render as text
        }
    )
    feedback = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "at": [t0 + pd.Timedelta(hours=h) for h in (2, 30, 5, 60)],
            "decision": ["accepted", "rejected", "rejected", "returned_to_nurture"],
            "reason": [None, "no_response", "no_response", None],
            "contact_attempts": [1, 3, 2, None],
            # b: no first_response_hours, so decision time − handoff (30 h) is used
            "first_response_hours": [2.0, None, 5.0, 10.0],
            "comment": ["call me at jane@example.com", None, None, None],
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": ["a"],
            "outcome": ["won"],
            "amount": [50_000.0],
            "closed_at": [t0 + pd.Timedelta(days=90)],
            "loss_reason": [None],
        }
    )
    history = CRMHistory(
        leads=leads,
        touches=pd.DataFrame({"lead_id": [], "at": [], "type": [], "channel": []}),
        feedback=feedback,
        outcomes=outcomes,
        snapshot_at=t0 + pd.Timedelta(days=120),
    )
    result = build_report(from_history(history), group_by=["channel"], sections=["sla"])
    total = result["sla"]["total"]
    assert total["within_8h_share"] == 0.5  # a (2 h), c (5 h) of a, b, c, d
    assert total["first_contact_within_24h_share"] == 0.75  # b took 30 h
    assert total["no_response_rejections"] == 2
    assert total["no_response_3plus_attempts_share"] == 0.5
    assert total["no_response_under_3_attempts"] == 1
    assert total["returned_to_nurture_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert total["nurtured_after_rejection_share"] is None  # no touches at all
    event = next(r for r in result["sla"]["rows"] if r["group"] == "event $1 $_")
    assert event["within_8h_share"] == 0.5
    assert "jane@example.com" not in section_json(result)
    assert any("fewer than 3 contact attempts" in w for w in result["warnings"])
    full = build_report(from_history(history), group_by=["channel", "campaign"])
    html = write_html(full, tmp_path).read_text()
    assert "&lt;b&gt;now&lt;/b&gt;" in html and "<b>now</b>" not in html


def test_calibration_of_the_oracle_is_good(report: dict[str, Any]) -> None:
    calibration = report["calibration"]
    assert calibration["available"]
    for stage in ("sql", "won"):
        data = calibration["stages"][stage]
        assert data["n"] > 500
        assert data["ece"] < 0.06, (stage, data["ece"])
        assert sum(b["n"] for b in data["bands"]) == data["n"]
        for band in data["bands"]:
            assert _in_unit(band["predicted"]) and _in_unit(band["observed"])
            assert band["lo"] <= band["predicted"] <= band["hi"]
    assert calibration["stages"]["won"]["mature_only"]


def test_psi_is_zero_for_identical_data(history: CRMHistory) -> None:
    data = from_history(history)
    assert data.current is not None
    result = drift_report(data.current, data.current)
    assert result["features"]
    assert all(f["psi"] == pytest.approx(0.0, abs=1e-12) for f in result["features"])
    assert result["status"] == "ok" and not result["warnings"]
    assert psi([0.2, 0.8], [0.2, 0.8]) == 0.0


def test_psi_flags_the_planted_drift() -> None:
    drifted = generate(3000, seed=SEED, drift=True)
    result = build_report(
        from_history(drifted, reference_end="2026-01-01"), sections=["drift"], group_by=[]
    )
    drift = result["drift"]
    industry = next(f for f in drift["features"] if f["feature"] == "industry")
    assert industry["psi"] > PSI_ALERT and industry["status"] == "alert"
    assert "crypto" in industry["new_values"]
    assert drift["status"] == "alert"
    assert any("industry" in w and "crypto" in w for w in result["warnings"])
    # the stable fields stay below the alert line
    channel = next(f for f in drift["features"] if f["feature"] == "channel")
    assert channel["psi"] < PSI_ALERT


def test_a_stored_profile_gives_the_same_psi_as_the_frame(history: CRMHistory) -> None:
    data = from_history(history)
    assert isinstance(data.reference, pd.DataFrame) and data.current is not None
    profile = json.loads(json.dumps(reference_profile(data.reference)))  # JSON round trip
    from_frame = drift_report(data.current, data.reference)
    from_profile = drift_report(data.current, profile)
    assert [(f["feature"], f["psi"]) for f in from_frame["features"]] == [
        (f["feature"], f["psi"]) for f in from_profile["features"]
    ]


def test_date_range_selects_a_cohort(history: CRMHistory) -> None:
    result = build_report(
        from_history(history), start="2025-06-01", end="2025-09-01", sections=["funnel"]
    )
    created = pd.to_datetime(history.leads["created_at"], utc=True)
    expected = int(((created >= "2025-06-01") & (created < "2025-09-01")).sum())
    assert result["funnel"]["total"]["leads"] == expected > 0


def test_costs_file_formats(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(
        json.dumps({"channels": {"seo": {"marketing": 10, "sales": 5}}, "gross_margin": 0.8})
    )
    (tmp_path / "c.csv").write_text("channel,marketing,sales\nseo,10,5\nevent,3,\n")
    (tmp_path / "c.yaml").write_text("channels:\n  seo: {marketing: 10, sales: 5}\n")
    assert load_costs(tmp_path / "c.json").gross_margin == 0.8
    assert load_costs(tmp_path / "c.csv").spend("channel", "event") == (3.0, 0.0)
    assert load_costs(tmp_path / "c.yaml").spend("channel", None) == (10.0, 5.0)
    with pytest.raises(ValueError):
        CostInputs.from_dict({"channels": {"seo": {"marketing": -1}}})


# --- HTML and the command -------------------------------------------------------------------


def _assert_page(page: Path, history: CRMHistory) -> None:
    html = page.read_text()
    for anchor in ('id="funnel"', 'id="rejections"', 'id="sla"', 'id="calibration"', 'id="drift"'):
        assert anchor in html
    for chart in CHARTS:
        png = page.parent / chart
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart
        assert chart in html
    # personal data never reaches a report
    text = html + (page.parent / "index.json").read_text()
    for column in ("email", "phone", "name"):
        sample = history.leads[column].dropna().astype(str).head(50)
        assert not any(value in text for value in sample), column


def test_html_renders_every_section(
    report: dict[str, Any], history: CRMHistory, tmp_path: Path
) -> None:
    page = write_html(report, tmp_path)
    _assert_page(page, history)
    html = page.read_text()
    assert "no budget" in html and "LTV:CAC" in html and "PSI" in html
    assert "no_budget" not in html and "hand_to_sales" not in html  # words, not codes


def test_report_command(history: CRMHistory, tmp_path: Path) -> None:
    from cli.app import app

    data = history.save(tmp_path / "history")
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps({"channels": {"seo": {"marketing": 1000, "sales": 500}}}))
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["report", "--out", str(out), "--data", str(data), "--costs", str(costs)]
    )
    assert result.exit_code == 0, result.output
    _assert_page(out / "index.html", history)
    saved = json.loads((out / "index.json").read_text())
    assert saved["calibration"]["available"]  # a model was fitted on the earlier months
    assert saved["drift"]["score"] is not None  # P(won) drift against the training months
    seo = next(r for r in saved["funnel"]["rows"] if r["group"] == "seo")
    assert seo["marketing_cost"] == 1000


def test_report_on_generated_history_fits_no_model_and_says_what_it_does(
    tmp_path: Path,
) -> None:
    from cli.app import app

    out = tmp_path / "report"
    args = ["report", "--out", str(out), "--leads", "1500", "--months", "12", "--lang", "ru"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "index.html")  # stdout: the page written
    steps = result.stderr
    assert "generating a synthetic history: 1,500 leads" in steps
    assert "drawing the charts (ru)" in steps and "fitting" not in steps
    saved = json.loads((out / "index.json").read_text())
    assert not saved["calibration"]["available"]  # no model trained on invented data
    assert any("--fit-model" in note for note in saved["notes"])
    assert 'lang="ru"' in (out / "index.html").read_text()
    bad = CliRunner().invoke(app, ["report", "--out", str(out), "--lang", "de"])
    assert bad.exit_code != 0 and "--lang" in bad.output
