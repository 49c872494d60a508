"""Reading an export: CSV (encodings tried in turn, the delimiter sniffed) or XLSX, every
cell as text (None = empty); and the comparison form of headers and values.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from training.importing.errors import MappingError
from training.importing.mapping import FileFormat

# --- reading files ----------------------------------------------------------------------


def _scalar_text(value: Any) -> str:
    """YAML reads ``Yes`` as True and ``1`` as 1: turn them back into the file's text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _norm(value: Any) -> str:
    """Comparison form of a header or value: trimmed, one space, case-folded, ё → е."""
    text = _scalar_text(value) if not isinstance(value, str) else value
    text = text.replace("\ufeff", "").replace("ё", "е").replace("Ё", "Е")
    return " ".join(text.split()).casefold()


def _cell_text(value: Any) -> str | None:
    """A cell as text (None when empty); spreadsheet numbers and dates normalised."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | pd.Timestamp):
        return pd.Timestamp(value).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def read_table(path: Path, fmt: FileFormat) -> pd.DataFrame:
    """Read a CSV or XLSX export as text cells (None = empty), headers stripped."""
    if not path.is_file():
        raise MappingError(f"no such file: {path}")
    kind = fmt.type
    if kind == "auto":
        kind = "xlsx" if path.suffix.lower() in {".xlsx", ".xlsm"} else "csv"
    if kind == "xlsx":
        try:
            raw = pd.read_excel(path, sheet_name=fmt.sheet, dtype=object, header=0)
        except (ValueError, KeyError) as exc:
            raise MappingError(f"{path.name}: cannot read sheet {fmt.sheet!r}: {exc}") from exc
    else:
        data = path.read_bytes()
        text = None
        for encoding in fmt.encodings:
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        if text is None:
            raise MappingError(
                f"{path.name}: not readable as any of the encodings {list(fmt.encodings)}; "
                "set format.encoding in the mapping"
            )
        delimiter = fmt.delimiter if fmt.delimiter != "auto" else _sniff(text)
        raw = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False
        )
    raw.columns = [str(c).replace("\ufeff", "").strip() for c in raw.columns]
    out = pd.DataFrame(
        {c: [_cell_text(v) for v in raw[c].astype(object).tolist()] for c in raw.columns},
        dtype=object,
    )
    return out.reset_index(drop=True)


def _sniff(text: str) -> str:
    """The delimiter of a CSV export: the header line decides (amoCRM uses ``;``)."""
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in ",;\t|"}
        return max(counts, key=counts.__getitem__) if any(counts.values()) else ","
