"""The small blocks of a mapping file and the field types every block shares.

``_Block`` is the base of every model of the file: only its own keys (a misspelt one is
named with the keys allowed), a bare value where a block has a shorthand key. ``Text``
and ``Texts`` read YAML scalars back as the file's text (``1`` → ``"1"``).
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    field_validator,
    model_validator,
)

from training.importing.errors import MappingError
from training.importing.mapping import DateRule, FileFormat, Join
from training.importing.readers import _norm, _scalar_text

DEFAULT_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1251")


def _text(value: Any) -> Any:
    """A YAML scalar as the file's text (YAML reads ``1`` as 1); other input untouched."""
    return _scalar_text(value) if isinstance(value, str | int | float | bool) else value


def _text_list(value: Any) -> Any:
    """One value or a list of them, as a tuple of texts (``None``: none)."""
    if value is None:
        return ()
    if isinstance(value, str | int | float | bool):
        return (_scalar_text(value),)
    if isinstance(value, list | tuple):
        return tuple(_text(v) for v in value)
    raise ValueError("expected a value or a list of values")


Text = Annotated[str, BeforeValidator(_text)]
Texts = Annotated[tuple[str, ...], BeforeValidator(_text_list)]


def _normalised(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_norm(v) for v in values)


class _Block(BaseModel):
    """A block of the file: only its own keys, each checked; empty means "not given"."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shorthand: ClassVar[str | None] = None
    """The key a bare value or list stands for (``lead_id: ID`` = ``{column: ID}``)."""

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if cls.shorthand and isinstance(data, str | list):
            return {cls.shorthand: data}
        if isinstance(data, Mapping):
            unknown = sorted(set(map(str, data)) - set(cls.model_fields))
            if unknown:
                raise MappingError(
                    f"unknown key(s) {unknown} (allowed: {', '.join(sorted(cls.model_fields))})",
                    column=unknown[0],
                )
        return data


def _none_if_empty(value: Any) -> Any:
    """``created_at:`` or ``join: {}`` mean the block is absent, as an omitted key does."""
    return value if value else None


class FormatSpec(_Block):
    """``format:`` how to read the file (``type`` by extension unless given)."""

    type: Literal["auto", "csv", "xlsx"] = "auto"
    delimiter: Text = "auto"
    encoding: Texts = ()
    sheet: int | str = 0

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        value = "\t" if value == "\\t" else value
        if value != "auto" and len(value) != 1:
            raise ValueError("delimiter must be one character or `auto`")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encodings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for encoding in value:
            try:
                codecs.lookup(encoding)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {encoding!r}") from exc
        return value

    def build(self) -> FileFormat:
        return FileFormat(self.type, self.delimiter, self.encoding or DEFAULT_ENCODINGS, self.sheet)


def _known_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            pd.Timestamp("2020-01-01").tz_localize(value)
        except Exception as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
    return value


Zone = Annotated[
    str | None,
    BeforeValidator(lambda v: None if v is None else _text(v)),
    AfterValidator(_known_zone),
]
"""A time zone name pandas knows (``Europe/Moscow``)."""


class DatesSpec(_Block):
    """``dates:`` formats tried in order (then ISO 8601) and the zone of naive times."""

    formats: Texts = ()
    timezone: Zone = None

    def build(self, base: DateRule) -> DateRule:
        timezone = self.timezone if "timezone" in self.model_fields_set else base.timezone
        return DateRule(self.formats or base.formats, timezone)


class JoinSpec(_Block):
    """``join:`` a second file joined on a key (e.g. Olist's closed deals onto its MQLs)."""

    file: Text
    on: Text
    right_on: Text | None = None
    format: Annotated[FormatSpec | None, BeforeValidator(_none_if_empty)] = None

    def build(self) -> Join:
        fmt = self.format.build() if self.format else FileFormat()
        return Join(self.file, self.on, self.right_on or self.on, fmt)
