"""The column blocks of a mapping file: a column and its options, the lead id, the
outcome, the loss reason, and the data contract's rules for its own lead fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from scoring.contract import (
    LEAD_BOOLEAN_FEATURES,
    LEAD_CATEGORICAL_FEATURES,
    LEAD_ORDINAL_FEATURES,
    PII_COLUMNS,
    Channel,
    RejectionReason,
)
from training.importing.constants import (
    DERIVE,
    FALSE_WORDS,
    TRUE_WORDS,
    Kind,
)
from training.importing.errors import MappingError
from training.importing.mapping import Column, DateRule, OutcomeRule
from training.importing.mapping_blocks import (
    DatesSpec,
    Text,
    Texts,
    Zone,
    _Block,
    _none_if_empty,
    _normalised,
)
from training.importing.readers import _norm


class ColumnSpec(_Block):
    """One column: ``"Header"``, ``[alternatives]`` or a block with these options."""

    shorthand: ClassVar[str | None] = "column"
    column: Texts
    type: Kind = "categorical"
    optional: bool = False
    feature: bool = True
    values: dict[Text, Texts] = Field(default_factory=dict)
    other: Text | None = None
    match: Literal["exact", "contains"] = "exact"
    case: Literal["keep", "lower"] = "keep"
    missing: Texts = ()
    not_missing: Texts = ()
    order: Texts = ()
    true_values: Texts = ()
    false_values: Texts = ()
    derive: Literal["month", "weekday"] | None = None
    formats: Texts = ()
    timezone: Zone = None
    bands: bool = False
    personal: bool = False

    @field_validator("column")
    @classmethod
    def _some_header(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("`column` (the file header, or a list of them) is required")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.derive is not None and self.type not in {"categorical", "ordinal"}:
            raise ValueError("a derived calendar part is categorical or ordinal")
        self.value_map()  # one target per file value
        return self

    def value_map(self) -> dict[str, str]:
        """Normalised file value → target; a value mapped to two targets is an error."""
        mapped: dict[str, str] = {}
        for target, originals in self.values.items():
            for original in originals:
                previous = mapped.setdefault(_norm(original), target)
                if previous != target:
                    raise ValueError(
                        f"value {original!r} is mapped to both {previous!r} and {target!r}"
                    )
        return mapped

    def build(self, name: str, dates: DateRule, *, role: str, kind: Kind | None = None) -> Column:
        """The importer's column; ``kind`` overrides the type (the contract's own kind)."""
        kind = kind or self.type
        calendar = DERIVE[self.derive] if self.derive and kind == "ordinal" else ()
        order = self.order or calendar  # a derived ordinal: jan < feb < ...
        values = self.value_map()
        if kind == "ordinal":
            if not order:
                raise MappingError(
                    f"{name}: an ordinal column needs `order` (lowest first)", column=name
                )
            bad = sorted(set(values.values()) - set(order))
            if bad:
                raise MappingError(f"{name}: targets {bad} are not in `order`", column=name)
        needs_dates = role == "date" or self.derive is not None
        date_spec = DatesSpec(formats=self.formats, timezone=self.timezone)
        if "timezone" not in self.model_fields_set:
            date_spec = DatesSpec(formats=self.formats)
        return Column(
            name=name,
            sources=self.column,
            kind=kind,
            optional=self.optional,
            feature=self.feature,
            values=values,
            other=self.other or ("keep" if kind == "categorical" else "error"),
            match=self.match,
            case=self.case,
            missing=_normalised(self.missing),
            not_missing=_normalised(self.not_missing),
            order=order,
            true_values=_normalised(self.true_values) or frozenset(TRUE_WORDS),
            false_values=_normalised(self.false_values) or frozenset(FALSE_WORDS),
            derive=self.derive,
            dates=date_spec.build(dates) if needs_dates else None,
            bands=self.bands,
            personal=self.personal,
            targets=frozenset(order) if kind == "ordinal" else frozenset(),
        )


OptionalColumn = Annotated[ColumnSpec | None, BeforeValidator(_none_if_empty)]


class RowNumberSpec(_Block):
    """``lead_id: {row_number: true}``: the file has no id column, rows are numbered."""

    row_number: Any

    @field_validator("row_number")
    @classmethod
    def _true(cls, value: Any) -> bool:
        if value is not True:
            raise ValueError("row_number must be true (or give `column:` instead)")
        return True


def _lead_id_kind(value: Any) -> str:
    return "rows" if isinstance(value, Mapping) and "row_number" in value else "column"


LeadIdSpec = Annotated[
    Annotated[RowNumberSpec, Tag("rows")] | Annotated[ColumnSpec, Tag("column")],
    Discriminator(_lead_id_kind),
]


class AmountSpec(ColumnSpec):
    """``outcome.amount``: a numeric column unless said otherwise."""

    type: Kind = "numeric"


class OutcomeSpec(_Block):
    """``outcome:`` either ``column`` with won/lost/open values, or ``present``."""

    column: Texts = ()
    won: Texts = ()
    lost: Texts = ()
    open: Texts = ()
    other: Literal["error", "open", "lost"] = "error"
    present: Texts = ()
    amount: Annotated[AmountSpec | None, BeforeValidator(_none_if_empty)] = None
    closed_at: OptionalColumn = None

    @model_validator(mode="after")
    def _one_way(self) -> OutcomeSpec:
        if bool(self.column) == bool(self.present):
            raise ValueError(
                "give either `column` (with won/lost/open values) or `present` "
                "(converted when that column is non-empty)"
            )
        if self.column and not self.won:
            raise ValueError("list the values that mean converted under `won`")
        won, lost, still_open = (_normalised(v) for v in (self.won, self.lost, self.open))
        overlap = sorted((won & lost) | (won & still_open) | (lost & still_open))
        if overlap:
            raise ValueError(f"values in more than one of won/lost/open: {overlap}")
        return self

    def build(self, dates: DateRule) -> OutcomeRule:
        return OutcomeRule(
            sources=self.column,
            won=_normalised(self.won),
            lost=_normalised(self.lost),
            open=_normalised(self.open),
            other=self.other,
            present=self.present,
            amount=self.amount.build("amount", dates, role="amount") if self.amount else None,
            closed_at=(
                self.closed_at.build("closed_at", dates, role="date") if self.closed_at else None
            ),
        )


REASONS: frozenset[str] = frozenset(r.value for r in RejectionReason)
CHANNELS: frozenset[str] = frozenset(c.value for c in Channel)


class ReasonSpec(ColumnSpec):
    """``reason:`` the loss-reason column (sales-side), mapped to rejection reasons."""

    other: Text | None = RejectionReason.OTHER.value
    exclude: Texts = ()

    @model_validator(mode="after")
    def _reasons(self) -> ReasonSpec:
        targets = {*self.value_map().values(), self.other or "", *self.exclude}
        bad = sorted(targets - REASONS - {"error"})
        if bad:
            raise MappingError(
                f"reason targets {bad} are not rejection reasons "
                f"(allowed: {', '.join(sorted(REASONS))})",
                column="reason",
            )
        return self

    def build_reason(self, dates: DateRule) -> Column:
        return replace(self.build("reason", dates, role="reason"), targets=REASONS)


def _contract_kind(name: str) -> Kind:
    """The kind the data contract gives a lead field (personal data is never imported)."""
    if name in PII_COLUMNS:
        raise MappingError(
            f"personal data ({name}) is not imported: it is never a feature and "
            "training does not need it",
            column=name,
        )
    if name in LEAD_ORDINAL_FEATURES:
        return "ordinal"
    if name in LEAD_BOOLEAN_FEATURES:
        return "boolean"
    if name in LEAD_CATEGORICAL_FEATURES:
        return "categorical"
    allowed = [*LEAD_CATEGORICAL_FEATURES, *LEAD_ORDINAL_FEATURES, *LEAD_BOOLEAN_FEATURES]
    raise MappingError(
        f"{name!r} is not a contract lead field; contract fields are {allowed} "
        "(declare other columns under `features:`)",
        column=name,
    )


def _contract_column(name: str, spec: ColumnSpec, dates: DateRule) -> Column:
    """A data-contract lead field: its kind and vocabulary come from the contract."""
    given = spec.model_fields_set
    kind = spec.type if "type" in given else _contract_kind(name)
    if name in LEAD_ORDINAL_FEATURES:
        order = tuple(LEAD_ORDINAL_FEATURES[name])
        if "order" in given and spec.order != order:
            raise MappingError(f"contract.{name}: the contract fixes this order", column=name)
        spec = spec.model_copy(update={"order": order})
    if name == "channel" and "other" not in given:
        spec = spec.model_copy(update={"other": "error"})
    column = spec.build(name, dates, role="contract", kind=kind)
    if name == "channel":
        column = replace(column, targets=CHANNELS)
        bad = sorted({*column.values.values(), column.other} - CHANNELS - {"error"})
        if bad:
            raise MappingError(
                f"contract.{name}: {bad} are not channels (allowed: {', '.join(sorted(CHANNELS))})",
                column=name,
            )
    if name == "company_size" and column.bands and column.values:
        raise MappingError(f"contract.{name}: use either `bands: true` or `values`", column=name)
    return column
