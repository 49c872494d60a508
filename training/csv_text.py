"""A frame written as CSV the way ``DataFrame.to_csv(index=False)`` writes it, in Arrow.

pandas' CSV writer turns every cell into a Python object and hands the rows to the
``csv`` module: for a million synthetic leads (ten million touches) that was ~27 of the
~41 seconds ``leadscore generate`` took, even with the timestamps spelled beforehand
(``training.csv_times``). :func:`write_csv` spells each column as pandas would — as an
Arrow string column — joins the columns of every row with Arrow's compute kernels and
writes the resulting buffer, so no Python object is made per cell and the bytes are the
same (``tests/unit/test_history_csv.py`` compares them with pandas' own).

Only the column types whose spelling is settled here take this path: text (pandas'
Arrow-backed ``str``), booleans, integers, floats (NumPy's shortest round-trip repr,
which is what pandas prints) and UTC timestamps of whole seconds. Any other column, or
text that holds a carriage return (whether the ``csv`` module quotes it depends on the
Python version), makes :func:`write_csv` hand the frame to pandas instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.csv_times import utc_seconds_as_text

__all__ = ["write_csv"]

# what makes the csv module (QUOTE_MINIMAL, lineterminator "\n") quote a field
_NEEDS_QUOTES = '[,"\n]'


def write_csv(frame: pd.DataFrame, path: Path, *, header: bool, append: bool) -> None:
    """``frame.to_csv(path, index=False, header=header, mode="a" if append else "w")``,
    the same bytes, built in Arrow when every column allows it (see the module doc)."""
    lines = _csv_lines(frame) if len(frame.columns) > 1 else None
    if lines is None:
        # one column: the csv module quotes an empty field of a one-field row
        text = _with_text_times(frame)
        text.to_csv(path, index=False, header=header, mode="a" if append else "w")
        return
    with path.open("ab" if append else "wb") as out:
        if header:
            out.write((",".join(_quoted(str(c)) for c in frame.columns) + "\n").encode())
        out.write(lines)


def _with_text_times(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its UTC timestamp columns already spelled as ``to_csv`` would spell
    them (:func:`training.csv_times.utc_seconds_as_text`), for pandas' writer: the same
    file, written without a ``strftime`` per value. The other columns are shared."""
    texts = {}
    for col in frame.columns:
        text = utc_seconds_as_text(frame[col])
        if text is not None:
            texts[col] = text
    return frame.assign(**texts) if texts else frame


def _csv_lines(frame: pd.DataFrame) -> memoryview | None:
    """Every row of ``frame`` as CSV text, each ending in a newline; None when a column
    is not one this module spells (pandas then writes the frame)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in frame.columns:
        text = _column_text(frame[name])
        if text is None:
            return None
        columns.append(text)
    if not len(frame):
        return memoryview(b"")
    comma = pa.scalar(",", pa.large_string())
    rows = pc.binary_join_element_wise(
        *columns, comma, null_handling="replace", null_replacement=""
    )
    # a last, empty column: every row then ends in the separator "\n", and the rows are
    # one contiguous buffer, the file's text
    empty = pa.scalar("", pa.large_string())
    lines = pc.binary_join_element_wise(rows, empty, pa.scalar("\n", pa.large_string()))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, stop = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[start:stop]


def _column_text(values: pd.Series) -> Any:
    """One column as pandas' CSV writer spells it, an Arrow large string array (null =
    empty cell), or None when this module does not know the spelling."""
    import pyarrow as pa

    text = _spelled(values)
    return None if text is None else text.cast(pa.large_string())


def _spelled(values: pd.Series) -> Any:
    """:func:`_column_text` in whichever Arrow string type is at hand."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        stamps = utc_seconds_as_text(values)
        return None if stamps is None else _arrow(stamps)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        strings = _arrow(values)
        text = _text_bytes(strings)
        if b"\r" in text:
            return None
        if not any(c in text for c in (b",", b'"', b"\n")):  # memchr: no regex per row
            return strings
        quote = pc.match_substring_regex(strings, _NEEDS_QUOTES)
        if not pc.any(quote).as_py():
            return strings
        doubled = pc.replace_substring(strings, '"', '""')
        mark = pa.scalar('"', doubled.type)
        escaped = pc.binary_join_element_wise(mark, doubled, mark, pa.scalar("", doubled.type))
        return pc.if_else(quote, escaped, strings)
    if dtype == np.bool_:
        flags = values.to_numpy()
        return pa.array(np.where(flags, "True", "False"), type=pa.string())
    if dtype == np.int64 or dtype == np.int32:
        return pc.cast(pa.array(values.to_numpy()), pa.string())
    if dtype == np.float64:
        numbers = values.to_numpy()
        # NumPy's str() of a float is the shortest text that reads back the same: pandas
        # prints floats with it; Arrow's own cast spells 100.0 as "100"
        return pa.array(numbers.astype(str), type=pa.string(), mask=np.isnan(numbers))
    return None


def _text_bytes(strings: Any) -> bytes:
    """The characters of every value of an Arrow string array, back to back."""
    import pyarrow as pa

    offsets_buffer, data = strings.buffers()[1:3]
    if data is None or not len(strings):
        return b""
    large = pa.types.is_large_string(strings.type)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64 if large else np.int32)
    start, stop = int(offsets[strings.offset]), int(offsets[strings.offset + len(strings)])
    return bytes(memoryview(data)[start:stop])


def _arrow(values: pd.Series) -> Any:
    """The Arrow array behind an Arrow-backed pandas column (one chunk)."""
    import pyarrow as pa

    array = pa.array(values.array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def _quoted(text: str) -> str:
    """One header cell as the csv module writes it."""
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
