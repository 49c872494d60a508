"""A CRM history: the four canonical tables plus the moment the export was taken."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scoring.contract import TABLES, TOUCH_UTM_COLUMNS
from training.csv_text import write_csv


@dataclass
class CRMHistory:
    """The four tables of ``scoring.contract`` as pandas frames.

    ``snapshot_at`` is when the export was taken: outcomes after it are unknown, which
    decides which leads are mature enough to label. ``oracle`` is only set by the
    synthetic generator: per lead, the true probabilities the generator drew from
    (``p_sql_true``, ``p_won_true``), so evaluation can report how close a model gets.
    """

    leads: pd.DataFrame
    touches: pd.DataFrame
    feedback: pd.DataFrame
    outcomes: pd.DataFrame
    snapshot_at: pd.Timestamp
    oracle: pd.DataFrame | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "leads": self.leads,
            "touches": self.touches,
            "feedback": self.feedback,
            "outcomes": self.outcomes,
        }

    def save(self, folder: Path) -> Path:
        """Write the tables as Parquet-free CSV files (readable by any CRM or spreadsheet)."""
        folder.mkdir(parents=True, exist_ok=True)
        tables = dict(self.tables())
        if self.oracle is not None:
            tables["oracle"] = self.oracle
        for name, frame in tables.items():
            # a quarter of a million rows at a time: each chunk's text is built whole
            # (training.csv_text), and ten million touches' text is ~0.6 GB
            path = folder / f"{name}.csv"
            for start in range(0, max(len(frame), 1), _CSV_CHUNK_ROWS):
                part = frame.iloc[start : start + _CSV_CHUNK_ROWS]
                write_csv(part, path, header=start == 0, append=start > 0)
        (folder / "SNAPSHOT").write_text(self.snapshot_at.isoformat() + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> CRMHistory:
        """Read a folder written by :meth:`save` (or laid out the same way by hand)."""
        frames: dict[str, pd.DataFrame] = {}
        for name, columns in TABLES.items():
            path = folder / f"{name}.csv"
            frame = _read_table(path, touches=name == "touches")
            if name != "leads":  # leads may carry a flat export's extra feature columns
                known = (*columns, *TOUCH_UTM_COLUMNS) if name == "touches" else columns
                frame = frame[[c for c in known if c in frame.columns]]
            frames[name] = frame
        oracle_path = folder / "oracle.csv"
        oracle = pd.read_csv(oracle_path, dtype={"lead_id": str}) if oracle_path.exists() else None
        snapshot_file = folder / "SNAPSHOT"
        if snapshot_file.exists():
            snapshot = pd.Timestamp(snapshot_file.read_text().strip())
        else:
            snapshot = max(frames["leads"]["mql_at"].max(), frames["touches"]["at"].max())
        if snapshot.tzinfo is None:
            snapshot = snapshot.tz_localize("UTC")
        return cls(oracle=oracle, snapshot_at=snapshot, **frames)


_TIME_COLUMNS = ("created_at", "mql_at", "at", "closed_at")
_CSV_CHUNK_ROWS = 250_000
_TOUCH_CHUNK_ROWS = 1_000_000


def _read_table(path: Path, *, touches: bool = False) -> pd.DataFrame:
    """One CSV table with its time columns parsed (UTC; an unparseable cell is missing).

    Only an empty cell is missing: region "NA" is North America, not NaN. The touches,
    ten per lead, are read a million rows at a time with every column but ``at`` as
    text: parsing ten million rows at once held every cell as a Python string and then
    every timestamp as text, 2.4 GB for a million leads; a chunk at a time, the table
    is the largest thing in memory.
    """
    options: dict[str, Any] = {"keep_default_na": False, "na_values": [""]}
    if not touches:
        return _parse_times(pd.read_csv(path, dtype={"lead_id": str}, **options))
    columns = pd.read_csv(path, nrows=0).columns
    text = {c: str for c in columns if c != "at"}
    chunks = pd.read_csv(path, dtype=text, chunksize=_TOUCH_CHUNK_ROWS, **options)
    return pd.concat([_parse_times(chunk) for chunk in chunks], ignore_index=True)


def _parse_times(frame: pd.DataFrame) -> pd.DataFrame:
    for col in _TIME_COLUMNS:
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce")
    return frame
