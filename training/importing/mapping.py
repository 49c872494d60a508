"""A checked mapping as the importer uses it: how to read the file, and how each of its
columns becomes contract data (frozen dataclasses; built by ``parse_mapping``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from training.importing.constants import DEFAULT_DATE_FORMATS, FALSE_WORDS, TRUE_WORDS, Kind

# --- the mapping ------------------------------------------------------------------------


@dataclass(frozen=True)
class FileFormat:
    """How to read the file: ``type`` csv/xlsx/auto (by extension), CSV details, sheet."""

    type: Literal["auto", "csv", "xlsx"] = "auto"
    delimiter: str = "auto"
    encodings: tuple[str, ...] = ("utf-8-sig", "cp1251")
    sheet: int | str = 0


@dataclass(frozen=True)
class DateRule:
    """Formats tried in order (then ISO 8601) and the zone naive times are in."""

    formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    timezone: str | None = None


@dataclass(frozen=True)
class Column:
    """One mapped column: where it comes from and how its values become contract values.

    ``values`` maps *normalised* source values to targets. ``other`` decides what an
    unmapped value becomes: ``keep`` (the raw value, for free categoricals), ``error``,
    or a fixed target (``other`` for channels and reasons).
    """

    name: str
    sources: tuple[str, ...]
    kind: Kind = "categorical"
    optional: bool = False
    feature: bool = True
    values: Mapping[str, str] = field(default_factory=dict)
    other: str = "keep"
    match: Literal["exact", "contains"] = "exact"
    case: Literal["keep", "lower"] = "keep"
    missing: frozenset[str] = frozenset()
    not_missing: frozenset[str] = frozenset()
    """File-wide missing markers that are real values in this column (a category "None")."""
    order: tuple[str, ...] = ()
    true_values: frozenset[str] = frozenset(TRUE_WORDS)
    false_values: frozenset[str] = frozenset(FALSE_WORDS)
    derive: str | None = None
    dates: DateRule | None = None
    bands: bool = False
    personal: bool = False
    targets: frozenset[str] = frozenset()
    """Values accepted as they are (a file may already speak the vocabulary)."""

    def markers(self, file_missing: frozenset[str]) -> frozenset[str]:
        """The cell texts that mean "empty" in this column (an empty cell always does)."""
        return (file_missing | self.missing) - (self.not_missing - {""})


@dataclass(frozen=True)
class OutcomeRule:
    """Which column says how the lead ended, and which of its values mean what.

    Either ``column`` with ``won`` / ``lost`` / ``open`` value lists (``other``: what
    any further value means — ``error``, ``open`` or ``lost``), or ``present``: the lead
    converted when that (usually joined) column is non-empty.
    """

    sources: tuple[str, ...] = ()
    won: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()
    open: frozenset[str] = frozenset()
    other: Literal["error", "open", "lost"] = "error"
    present: tuple[str, ...] = ()
    amount: Column | None = None
    closed_at: Column | None = None


@dataclass(frozen=True)
class Join:
    """A second file joined on a key (e.g. Olist's closed deals onto its MQLs)."""

    file: str
    on: str
    right_on: str
    format: FileFormat = field(default_factory=FileFormat)


@dataclass(frozen=True)
class CRMMapping:
    """A parsed, checked mapping file. Build with :func:`load_mapping`."""

    name: str
    description: str
    format: FileFormat
    dates: DateRule
    missing: frozenset[str]
    lead_id: Column | None
    """None: the file has no id column, leads are numbered by row (``row_number: true``)."""
    created_at: Column | None
    mql_at: Column | None
    contract: tuple[Column, ...]
    features: tuple[Column, ...]
    outcome: OutcomeRule
    reason: Column | None
    exclude_reasons: frozenset[str]
    sales_side: tuple[str, ...]
    personal: tuple[str, ...]
    join: Join | None
    train: Mapping[str, Any]
    source: str
    notes: tuple[str, ...] = ()
    """What parsing changed on its own (a feature renamed), reported with the import."""

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return (*self.contract, *self.features)
