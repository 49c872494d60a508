"""Writing and reading a history in row chunks (issue 15, memory at a million leads) gives
the files and the frames that one pass gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.histories import synthetic_history
from training import history as history_module
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
