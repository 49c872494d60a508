"""The report's charts as a reader sees them (issue 13, item 8): size bands smallest first,
shares as percentages, values in words rather than codes, in the chosen language."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scoring.contract import COMPANY_SIZES
from serving.report_charts import draw_charts, write_charts
from serving.reports import build_report, from_history
from training.synthetic import generate


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    history = generate(2000, seed=5)
    oracle = history.oracle
    assert oracle is not None
    predictions = oracle.rename(columns={"p_sql_true": "p_sql", "p_won_true": "p_won"})
    return build_report(from_history(history, predictions=predictions))


def _ticks(axis: Any) -> list[str]:
    return [label.get_text() for label in axis.get_ticklabels()]


def test_size_bands_are_in_their_natural_order(report: dict[str, Any]) -> None:
    rows = [r["group"] for r in report["funnel"]["rows"] if r["dimension"] == "company_size"]
    assert len(rows) >= 5
    assert rows == [band for band in COMPANY_SIZES if band in rows]  # the report's table too
    _, by_size = draw_charts(report)["funnel_segments.png"].axes
    drawn = _ticks(by_size.xaxis)
    assert drawn == rows and drawn != sorted(drawn)  # 1-10, 11-50, ... not 1-10, 1001-5000


def test_shares_are_percentages(report: dict[str, Any]) -> None:
    charts = draw_charts(report)
    _, by_size = charts["funnel_segments.png"].axes
    charts["funnel_segments.png"].canvas.draw()  # tick labels are made when drawn
    ticks = [t for t in _ticks(by_size.yaxis) if t]
    assert ticks and all(re.fullmatch(r"\d+(\.\d)?%", t) for t in ticks), ticks
    # each tick says its own value: 7.5 % is not rounded to "8%"
    values = [float(t.rstrip("%")) / 100 for t in ticks]
    assert values == pytest.approx(list(by_size.get_yticks()[: len(values)]))
    bar_labels = [t.get_text() for t in by_size.texts]
    assert bar_labels and all(re.fullmatch(r"\d+\.\d%", t) for t in bar_labels), bar_labels
    (rejections,) = charts["rejections.png"].axes
    charts["rejections.png"].canvas.draw()
    assert "100%" in _ticks(rejections.xaxis) and "1.0" not in _ticks(rejections.xaxis)


def test_values_are_words_not_codes(report: dict[str, Any]) -> None:
    (rejections,) = draw_charts(report)["rejections.png"].axes
    legend = [t.get_text() for t in rejections.get_legend().get_texts()]
    assert "no budget" in legend and "not ICP" in legend
    assert not any("_" in t for t in legend), legend
    channels = _ticks(rejections.yaxis)
    assert "paid search" in channels and "paid_search" not in channels


def test_charts_come_in_russian(report: dict[str, Any], tmp_path: Path) -> None:
    charts = draw_charts(report, "ru")
    (rejections,) = charts["rejections.png"].axes
    assert rejections.get_title() == "Причины отказов по каналам"
    assert "нет бюджета" in [t.get_text() for t in rejections.get_legend().get_texts()]
    assert rejections.get_xlabel() == "доля отказов"
    funnel, _ = charts["funnel.png"].axes
    assert funnel.get_title() == "Воронка (все лиды)"
    for name, fig in charts.items():  # every title in Cyrillic, not English
        for ax in fig.axes:
            title = ax.get_title()
            assert not title or re.search("[а-яА-Я]", title), (name, title)
    (drift,) = charts["drift.png"].axes
    features = _ticks(drift.yaxis)
    assert "размер компании" in features and "company_size" not in features
    assert not any("_" in f for f in features), features  # n_email_open: «email открыт (число)»
    drawn = write_charts(report, tmp_path, lang="ru")
    assert all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in drawn.values())
