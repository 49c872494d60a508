"""Writing and reading a history in row chunks (issue 15, memory at a million leads) gives
the files and the frames that one pass gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.histories import synthetic_history
from training import history as history_module
from training.csv_text import write_csv
from training.history import CRMHistory


def test_chunked_save_and_load_match_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = synthetic_history(300, months=6, seed=5)
    whole = history.save(tmp_path / "whole")
    monkeypatch.setattr(history_module, "_CSV_CHUNK_ROWS", 7)
    monkeypatch.setattr(history_module, "_TOUCH_CHUNK_ROWS", 5)
    chunked = history.save(tmp_path / "chunked")
    for name in ("leads", "touches", "feedback", "outcomes", "oracle"):
        assert (whole / f"{name}.csv").read_bytes() == (chunked / f"{name}.csv").read_bytes()
        # pandas' own writer, without the fast timestamp text: the same bytes too
        frame = history.oracle if name == "oracle" else history.tables()[name]
        assert (whole / f"{name}.csv").read_text() == frame.to_csv(index=False)
    loaded = CRMHistory.load(chunked)
    monkeypatch.undo()
    for name, frame in CRMHistory.load(whole).tables().items():
        pd.testing.assert_frame_equal(loaded.tables()[name], frame)


def test_arrow_csv_text_is_pandas_text(tmp_path: Path) -> None:
    """Every spelling ``training.csv_text`` builds itself — quoting, doubled quotes,
    missing cells, floats, booleans, integers, timestamps — against pandas' writer, and
    a row slice (the chunks ``save`` writes) against the same slice."""
    frame = pd.DataFrame(
        {
            "text": pd.array(
                ["a,b", 'say "hi"', "two\nlines", "", None, " padded ", "tab\there", "plain"],
                dtype="str",
            ),
            "plain": pd.array(["x", "y", "z", "", None, "é", "w", "v"], dtype="str"),
            "number": [1e-05, 100.0, float("nan"), 1e16, 0.1, -0.0, 1 / 3, 123456789.123],
            "flag": [True, False] * 4,
            "count": [0, -3, 10**12, 7, 1, 2, 3, 4],
            "at": pd.to_datetime(["2025-01-09 01:36:08"] * 7 + [None], utc=True),
        }
    )
    for rows in (slice(0, 8), slice(3, 8), slice(0, 0)):
        part = frame.iloc[rows]
        write_csv(part, tmp_path / "part.csv", header=True, append=False)
        assert (tmp_path / "part.csv").read_bytes() == part.to_csv(index=False).encode()


def test_arrow_csv_text_hands_what_it_does_not_spell_to_pandas(tmp_path: Path) -> None:
    """A carriage return (quoted or not depending on the Python version), an object
    column and a one-column frame are written by pandas itself: the same text still."""
    for frame in (
        pd.DataFrame({"a": pd.array(["x\ry", "z"], dtype="str"), "b": [1, 2]}),
        pd.DataFrame({"a": pd.Series([{"k": 1}, None], dtype=object), "b": [1.5, 2.0]}),
        pd.DataFrame({"a": pd.array(["", "z"], dtype="str")}),
    ):
        write_csv(frame, tmp_path / "t.csv", header=True, append=False)
        assert (tmp_path / "t.csv").read_bytes() == frame.to_csv(index=False).encode()
