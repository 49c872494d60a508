"""The mapping file (YAML) as a pydantic model, checked before any export is read.

:class:`MappingFile` is the whole file; its blocks are models too (``format``,
``dates`` and ``join`` in :mod:`.mapping_blocks`; columns, ``lead_id``, ``outcome``
and ``reason`` in :mod:`.mapping_columns`). A model's fields are the keys its block
accepts, so a misspelt key, a wrong type or a value outside a vocabulary fails with
the path to it (``features.stage.type``). :func:`parse_mapping` turns pydantic's
first error into one :class:`MappingError` line that names the key, and a checked
file into the :class:`~training.importing.mapping.CRMMapping` the importer runs on
(values normalised, the data contract's defaults filled in, a reserved feature name
renamed with a note).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
)

from training.importing.constants import (
    FEATURE_NAME,
    RESERVED_NAMES,
    TRAIN_KEYS,
)
from training.importing.errors import MappingError
from training.importing.mapping import Column, CRMMapping, DateRule, FileFormat
from training.importing.mapping_blocks import (
    DatesSpec,
    FormatSpec,
    JoinSpec,
    Text,
    Texts,
    _Block,
    _none_if_empty,
    _normalised,
)
from training.importing.mapping_columns import (
    ColumnSpec,
    LeadIdSpec,
    OptionalColumn,
    OutcomeSpec,
    ReasonSpec,
    _contract_column,
    _contract_kind,
)


class MappingFile(_Block):
    """A whole mapping file: what :func:`parse_mapping` checks before reading any export."""

    name: Text | None = None
    description: Text | None = None
    format: Annotated[FormatSpec | None, BeforeValidator(_none_if_empty)] = None
    dates: Annotated[DatesSpec | None, BeforeValidator(_none_if_empty)] = None
    missing_values: Texts = ()
    lead_id: LeadIdSpec
    created_at: OptionalColumn = None
    mql_at: OptionalColumn = None
    contract: Annotated[dict[Text, ColumnSpec], BeforeValidator(lambda v: v or {})] = Field(
        default_factory=dict
    )
    features: Annotated[dict[Text, ColumnSpec], BeforeValidator(lambda v: v or {})] = Field(
        default_factory=dict
    )
    outcome: OutcomeSpec
    reason: Annotated[ReasonSpec | None, BeforeValidator(_none_if_empty)] = None
    sales_side: Texts = ()
    personal: Texts = ()
    join: Annotated[JoinSpec | None, BeforeValidator(_none_if_empty)] = None
    train: Annotated[dict[str, Any], BeforeValidator(lambda v: v or {})] = Field(
        default_factory=dict
    )

    @field_validator("contract")
    @classmethod
    def _contract_fields(cls, contract: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        for name in contract:
            _contract_kind(name)  # personal data and unknown fields are refused
        return contract

    @field_validator("features")
    @classmethod
    def _feature_names(cls, features: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        for name, spec in features.items():
            if not FEATURE_NAME.match(name):
                raise MappingError(
                    f"feature name {name!r} must be snake_case (a-z, 0-9, _; ≤ 64 chars)",
                    column=name,
                )
            if spec.personal and spec.feature:
                raise MappingError(
                    f"feature {name!r}: a personal-data column cannot be a feature", column=name
                )
        return features

    @field_validator("train")
    @classmethod
    def _train_keys(cls, train: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(train) - TRAIN_KEYS)
        if unknown:
            raise MappingError(
                f"unknown train settings {unknown} (allowed: {sorted(TRAIN_KEYS)})",
                column="train",
            )
        return train

    def build(self, source: str) -> CRMMapping:
        """The importer's mapping: values normalised, contract defaults filled in."""
        dates = self.dates.build(DateRule()) if self.dates else DateRule()
        contract = [_contract_column(n, spec, dates) for n, spec in self.contract.items()]
        features, notes = self._features(dates, {c.name for c in contract})
        names = [c.name for c in (*contract, *features)]
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        if dupes:
            raise MappingError(f"columns declared twice: {dupes}", column=dupes[0])
        lead_id = self.lead_id
        return CRMMapping(
            name=self.name or Path(source).stem,
            description=(self.description or "").strip(),
            format=self.format.build() if self.format else FileFormat(),
            dates=dates,
            missing=_normalised(self.missing_values),
            lead_id=lead_id.build("lead_id", dates, role="id")
            if isinstance(lead_id, ColumnSpec)
            else None,
            created_at=_date_column("created_at", self.created_at, dates),
            mql_at=_date_column("mql_at", self.mql_at, dates),
            contract=tuple(contract),
            features=tuple(features),
            outcome=self.outcome.build(dates),
            reason=self.reason.build_reason(dates) if self.reason else None,
            exclude_reasons=frozenset(self.reason.exclude) if self.reason else frozenset(),
            sales_side=self.sales_side,
            personal=self.personal,
            join=self.join.build() if self.join else None,
            train=dict(self.train),
            source=source,
            notes=tuple(notes),
        )

    def _features(self, dates: DateRule, contract: set[str]) -> tuple[list[Column], list[str]]:
        """Extra feature columns; one with a reserved name is renamed ``name_2``, noted."""
        declared = set(self.features) | contract
        columns: list[Column] = []
        notes: list[str] = []
        for name, spec in self.features.items():
            if name in RESERVED_NAMES:
                renamed = _free_name(name, declared)
                declared.add(renamed)
                notes.append(
                    f"feature {name!r} renamed {renamed!r}: {name!r} is a contract field's or "
                    f"a computed column's name (score with attributes.{renamed}; if it is the "
                    "contract field itself, declare it under `contract:`)"
                )
                name = renamed
            columns.append(spec.build(name, dates, role="feature"))
        return columns, notes


def _date_column(name: str, spec: ColumnSpec | None, dates: DateRule) -> Column | None:
    return spec.build(name, dates, role="date") if spec else None


def _free_name(name: str, taken: set[str]) -> str:
    """``name_2`` (or the next free number) for a feature whose name is reserved."""
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = name[: 64 - len(suffix)] + suffix
        if candidate not in taken and candidate not in RESERVED_NAMES:
            return candidate
        n += 1


def _one_line(exc: ValidationError, source: str) -> MappingError:
    """pydantic's first error as one line that names the key (and how many more there are).

    Values are quoted only from the mapping itself (a type, an encoding), never from an
    export: the mapping is checked before any file is read.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = list(first["loc"])
    if loc[:1] == ["lead_id"] and len(loc) > 1 and loc[1] in {"rows", "column"}:
        del loc[1]  # the tag of lead_id's two forms, not a key of the file
    path = [str(p) for p in loc]
    cause = (first.get("ctx") or {}).get("error")
    named = path[1] if path[:1] in (["features"], ["contract"]) and len(path) > 1 else None
    column = getattr(cause, "column", None) or named or (path[-1] if path else None)
    if first["type"] == "missing":
        key = path.pop()
        message = f"`{key}` is required"
        if not path:
            message = f"a mapping needs at least `lead_id` and `outcome` ({message})"
    elif isinstance(cause, BaseException):
        message = str(cause)
    else:
        message = first["msg"]
        if first["type"] == "literal_error":
            message += f", not {first['input']!r}"
    where = ".".join(path)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return MappingError(f"{source}: {where + ': ' if where else ''}{message}{more}", column=column)


def parse_mapping(data: Any, source: str = "<dict>") -> CRMMapping:
    """Check a mapping's structure and vocabulary *before* any file is read."""
    if not isinstance(data, Mapping):
        raise MappingError(f"{source}: a mapping must be a YAML mapping (key: value)")
    try:
        return MappingFile.model_validate(data).build(source)
    except ValidationError as exc:
        raise _one_line(exc, source) from None
    except MappingError as exc:
        raise MappingError(f"{source}: {exc}", column=exc.column) from None
