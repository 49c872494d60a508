"""Flat CRM exports (one row per lead or deal) → a :class:`~training.history.CRMHistory`.

Real CRMs rarely export the four tables of the data contract. amoCRM, Bitrix24 and
most lead-scoring datasets give *one* table: a row per lead or deal with its fields,
its current stage and maybe a loss reason. A **mapping** (YAML, see
``training/mappings/`` and ``docs/importing.md``) declares, once per CRM, how such a
file becomes contract data:

* how to read it (csv/xlsx, delimiter, encodings to try, date formats, time zone);
* which column is the lead id, the creation / MQL time, the contract fields
  (``channel``, ``industry``, ``company_size``, ``country`` ...), and which extra
  columns are features of their own (numeric / categorical / boolean / ordinal);
* value mappings (source names → :class:`~scoring.contract.Channel`, "Да"/"No" →
  booleans, stage names → won / lost / still open, loss reasons →
  :class:`~scoring.contract.RejectionReason`) and hidden missing values ("Select");
* which columns are **sales-side**: written by sales after contact (X Education's
  Tags, amoCRM's responsible manager, Olist's closed-deal columns). They describe the
  outcome rather than predict it, so they can never be scoring features; one of them
  may be the *reason* column, i.e. the target of the rejection-reason model.

The result is a history the normal pipeline trains on: ``leads`` (contract columns +
extra feature columns), an empty ``touches`` table, one ``feedback`` row per closed
lead (converted → ``accepted``; not converted → ``rejected`` with the mapped reason or
``other``) and one ``won`` outcome per converted lead. With the ``plain`` label rules
(the default for flat exports, see :meth:`ImportedExport.train_config`) that gives
``y_sql = y_won = converted`` for every closed lead, and no label for open ones.

What the importer decides on its own — ids from row numbers, a renamed feature, open
rows set aside, cells a default marker emptied — is reported in
:attr:`ImportedExport.notes` (docs/importing.md, "What the importer does on its own").

Errors name the mapping key and the file column that does not fit; values are quoted
only from vocabulary columns (stages, reasons, sources) and never when they look like
an e-mail address or a phone number, or come from a column declared personal.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from scoring.contract import (
    COMPANY_SIZES,
    FEEDBACK_COLUMNS,
    LEAD_BOOLEAN_FEATURES,
    LEAD_CATEGORICAL_FEATURES,
    LEAD_COLUMNS,
    LEAD_ORDINAL_FEATURES,
    OUTCOME_COLUMNS,
    PII_COLUMNS,
    TOUCH_COLUMNS,
    Channel,
    Outcome,
    RejectionReason,
    SalesDecision,
)
from scoring.features import LEAD_TIME_FEATURES, TOUCH_FEATURES, FeatureSpec
from scoring.lifecycle import IMPLIED_BY_OUTCOME
from training.history import CRMHistory
from training.threshold import PolicyInputs
from training.train import LGBM_KNOBS, TrainConfig

Kind = Literal["categorical", "numeric", "boolean", "ordinal"]
KINDS: tuple[str, ...] = ("categorical", "numeric", "boolean", "ordinal")
DERIVE: dict[str, tuple[str, ...]] = {
    "month": ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    "weekday": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}
"""Calendar parts a feature can be derived from a date column as (named, not numbered:
a served attribute ``3`` arrives as the float ``3.0`` and would miss a ``"3"`` category)."""

NO_TIME = pd.Timestamp("1970-01-01", tz="UTC")
"""Placeholder ``created_at``/``mql_at`` for files without a time column (the contract
requires one). Such a history is split at random (stratified), never in time."""

DEFAULT_MISSING: frozenset[str] = frozenset(
    {"", "nan", "none", "null", "n/a", "na", "#n/a", "-", "—", "nat"}
)
"""Cell texts that mean "empty" in every column (compared after normalisation)."""

TRUE_WORDS: tuple[str, ...] = ("yes", "y", "true", "1", "да", "д", "истина", "on")
FALSE_WORDS: tuple[str, ...] = ("no", "n", "false", "0", "нет", "н", "ложь", "off")
DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
"""Tried in order, then ISO 8601: CRM exports in Russian use ``dd.mm.yyyy``, re-saved
spreadsheets and most datasets ISO; ``mm/dd`` is never guessed (it is ambiguous)."""

RESERVED_NAMES: frozenset[str] = frozenset(
    {
        *LEAD_COLUMNS,
        *TOUCH_FEATURES,
        *LEAD_TIME_FEATURES,
        "y_sql",
        "y_won",
        "y_won_given_sql",
        "first_decision",
        "first_reason",
        "sql_at",
        "split",
        "touches",
        "attributes",
        "as_of",
        "p_sql_true",
        "p_won_true",
    }
)
"""Names an extra feature may not take: contract columns (declare those under
``contract:``), computed features and the training frame's label columns. A feature
declared with one is renamed ``name_2`` (see :func:`_free_name`), with a note."""

FLAT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.02,
    "num_leaves": 7,
    "min_child_samples": 20,
    "n_estimators": 3000,
    "early_stopping_rounds": 100,
}
"""LightGBM settings for flat exports (a mapping's ``train:`` overrides them). Chosen by
a small grid on X Education with a fold partition (seed 1) *other* than the one the
benchmark reports (seed 0): thousands of leads and a few dozen columns want smaller
trees and a slower rate than the synthetic 20k-lead history the TrainConfig defaults
are for. Early stopping on the validation split decides the number of trees."""

FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")
PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]{7,}$")
TRAIN_KEYS: frozenset[str] = frozenset(
    {
        "label_rules",
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "early_stopping_rounds",
        *LGBM_KNOBS,
        "max_bad_share",
        "policy",
    }
)


class _YAMLLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 reads ``Yes``, ``No``, ``On`` as
    booleans, which would silently turn a CRM's "Yes"/"No" values into ``true``."""


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class MappingError(ValueError):
    """A mapping is malformed, or does not fit the file it is applied to.

    ``column`` is the file column (or mapping key) at fault, so a caller can point at it.
    """

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


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


def builtin_mappings() -> list[str]:
    """Names of the mappings shipped in ``training/mappings``."""
    folder = resources.files("training.mappings")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_mapping(ref: str | Path | CRMMapping) -> CRMMapping:
    """A mapping from a YAML path or a built-in name (``x_education``, ``amocrm`` ...)."""
    if isinstance(ref, CRMMapping):
        return ref
    path = Path(ref)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise MappingError(f"mapping file {path} does not exist")
        return parse_mapping(_read_yaml(path.read_text(encoding="utf-8")), str(path))
    name = str(ref).replace("-", "_")
    resource = resources.files("training.mappings") / f"{name}.yaml"
    if not resource.is_file():
        raise MappingError(
            f"unknown mapping {ref!r}: not a file, and not one of the built-in mappings "
            f"({', '.join(builtin_mappings())})"
        )
    return parse_mapping(_read_yaml(resource.read_text(encoding="utf-8")), f"builtin:{name}")


def _read_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_YAMLLoader)  # a SafeLoader subclass: no object tags
    except yaml.YAMLError as exc:
        raise MappingError(f"the mapping is not valid YAML: {exc}") from exc


def parse_mapping(data: Any, source: str = "<dict>") -> CRMMapping:
    """Check a mapping's structure and vocabulary *before* any file is read."""
    if not isinstance(data, Mapping):
        raise MappingError(f"{source}: a mapping must be a YAML mapping (key: value)")
    _known_keys(
        data,
        {
            "name",
            "description",
            "format",
            "dates",
            "missing_values",
            "lead_id",
            "created_at",
            "mql_at",
            "contract",
            "features",
            "outcome",
            "reason",
            "sales_side",
            "personal",
            "join",
            "train",
        },
        source,
    )
    dates = _date_rule(data.get("dates"), None, f"{source}: dates")
    missing = frozenset(_norm(v) for v in _as_list(data.get("missing_values"), "missing_values"))
    if "lead_id" not in data or "outcome" not in data:
        raise MappingError(f"{source}: a mapping needs at least `lead_id` and `outcome`")
    lead_id = _lead_id(data["lead_id"], source, dates)
    created = (
        _column("created_at", data["created_at"], source, dates, role="date")
        if data.get("created_at")
        else None
    )
    mql = (
        _column("mql_at", data["mql_at"], source, dates, role="date")
        if data.get("mql_at")
        else None
    )

    contract: list[Column] = []
    for name, spec in (data.get("contract") or {}).items():
        contract.append(_contract_column(str(name), spec, source, dates))
    features: list[Column] = []
    notes: list[str] = []
    declared = {str(n) for n in (data.get("features") or {})} | {c.name for c in contract}
    for name, spec in (data.get("features") or {}).items():
        name = str(name)
        if not FEATURE_NAME.match(name):
            raise MappingError(
                f"{source}: feature name {name!r} must be snake_case (a-z, 0-9, _; ≤ 64 chars)",
                column=name,
            )
        if name in RESERVED_NAMES:
            renamed = _free_name(name, declared)
            declared.add(renamed)
            notes.append(
                f"feature {name!r} renamed {renamed!r}: {name!r} is a contract field's or a "
                f"computed column's name (score with attributes.{renamed}; if it is the "
                "contract field itself, declare it under `contract:`)"
            )
            name = renamed
        features.append(_column(name, spec, source, dates, role="feature"))
    names = [c.name for c in (*contract, *features)]
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    if dupes:
        raise MappingError(f"{source}: columns declared twice: {dupes}", column=dupes[0])

    outcome = _outcome(data["outcome"], source, dates)
    reason = None
    exclude: frozenset[str] = frozenset()
    if data.get("reason"):
        spec = dict(data["reason"])
        exclude = frozenset(_as_list(spec.pop("exclude", None), "reason.exclude"))
        spec.setdefault("other", RejectionReason.OTHER.value)
        reason = _column("reason", spec, source, dates, role="reason")
        allowed = {r.value for r in RejectionReason}
        reason = replace(reason, targets=frozenset(allowed))
        bad = sorted({*reason.values.values(), reason.other, *exclude} - allowed - {"error"})
        if bad:
            raise MappingError(
                f"{source}: reason targets {bad} are not rejection reasons "
                f"(allowed: {', '.join(sorted(allowed))})",
                column="reason",
            )
    join = None
    if data.get("join"):
        j = data["join"]
        _known_keys(j, {"file", "on", "right_on", "format"}, f"{source}: join")
        if "file" not in j or "on" not in j:
            raise MappingError(f"{source}: join needs `file` and `on`", column="join")
        join = Join(
            file=str(j["file"]),
            on=str(j["on"]),
            right_on=str(j.get("right_on", j["on"])),
            format=_file_format(j.get("format"), f"{source}: join.format"),
        )
    train = dict(data.get("train") or {})
    unknown = sorted(set(train) - TRAIN_KEYS)
    if unknown:
        raise MappingError(
            f"{source}: unknown train settings {unknown} (allowed: {sorted(TRAIN_KEYS)})",
            column="train",
        )
    return CRMMapping(
        name=str(data.get("name") or Path(source).stem),
        description=str(data.get("description") or "").strip(),
        format=_file_format(data.get("format"), f"{source}: format"),
        dates=dates,
        missing=missing,
        lead_id=lead_id,
        created_at=created,
        mql_at=mql,
        contract=tuple(contract),
        features=tuple(features),
        outcome=outcome,
        reason=reason,
        exclude_reasons=exclude,
        sales_side=tuple(_as_list(data.get("sales_side"), "sales_side")),
        personal=tuple(_as_list(data.get("personal"), "personal")),
        join=join,
        train=train,
        source=source,
        notes=tuple(notes),
    )


def _free_name(name: str, taken: set[str]) -> str:
    """``name_2`` (or the next free number) for a feature whose name is reserved."""
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = name[: 64 - len(suffix)] + suffix
        if candidate not in taken and candidate not in RESERVED_NAMES:
            return candidate
        n += 1


def _lead_id(spec: Any, source: str, dates: DateRule) -> Column | None:
    """The id column, or None for ``{row_number: true}`` (the file has no id column)."""
    if isinstance(spec, Mapping) and "row_number" in spec:
        _known_keys(spec, {"row_number"}, f"{source}: lead_id")
        if spec["row_number"] is not True:
            raise MappingError(
                f"{source}: lead_id: row_number must be true (or give `column:` instead)",
                column="lead_id",
            )
        return None
    return _column("lead_id", spec, source, dates, role="id")


def _known_keys(data: Any, allowed: set[str], where: str) -> None:
    if not isinstance(data, Mapping):
        raise MappingError(f"{where}: expected a mapping (key: value)")
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {unknown} (allowed: {', '.join(sorted(allowed))})",
            column=unknown[0],
        )


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int | float | bool):
        return [_scalar_text(value)]
    if isinstance(value, list | tuple):
        return [_scalar_text(v) for v in value]
    raise MappingError(f"{where}: expected a value or a list of values", column=where)


def _scalar_text(value: Any) -> str:
    """YAML reads ``Yes`` as True and ``1`` as 1: turn them back into the file's text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _file_format(data: Any, where: str) -> FileFormat:
    if not data:
        return FileFormat()
    _known_keys(data, {"type", "delimiter", "encoding", "sheet"}, where)
    kind = str(data.get("type", "auto"))
    if kind not in {"auto", "csv", "xlsx"}:
        raise MappingError(f"{where}: type must be auto, csv or xlsx, not {kind!r}")
    encodings = tuple(_as_list(data.get("encoding"), f"{where}.encoding")) or (
        "utf-8-sig",
        "cp1251",
    )
    for enc in encodings:
        try:
            "".encode(enc)
        except LookupError as exc:
            raise MappingError(f"{where}: unknown encoding {enc!r}") from exc
    delimiter = str(data.get("delimiter", "auto"))
    if delimiter == "\\t":
        delimiter = "\t"
    if delimiter != "auto" and len(delimiter) != 1:
        raise MappingError(f"{where}: delimiter must be one character or `auto`")
    return FileFormat(kind, delimiter, encodings, data.get("sheet", 0))  # type: ignore[arg-type]


def _date_rule(data: Any, base: DateRule | None, where: str) -> DateRule:
    base = base or DateRule()
    if not data:
        return base
    _known_keys(data, {"formats", "timezone"}, where)
    formats = tuple(_as_list(data.get("formats"), f"{where}.formats")) or base.formats
    tz = data.get("timezone", base.timezone)
    if tz is not None:
        try:
            pd.Timestamp("2020-01-01").tz_localize(str(tz))
        except Exception as exc:
            raise MappingError(f"{where}: unknown time zone {tz!r}") from exc
    return DateRule(formats, None if tz is None else str(tz))


COLUMN_KEYS = {
    "column",
    "type",
    "optional",
    "feature",
    "values",
    "other",
    "match",
    "case",
    "missing",
    "not_missing",
    "order",
    "true_values",
    "false_values",
    "derive",
    "formats",
    "timezone",
    "bands",
    "personal",
}


def _column(name: str, spec: Any, source: str, dates: DateRule, *, role: str) -> Column:
    """One column declaration: ``"Header"``, ``[alternatives]`` or a mapping with options."""
    where = f"{source}: {name}"
    if isinstance(spec, str | list):
        spec = {"column": spec}
    _known_keys(spec, COLUMN_KEYS, where)
    sources = tuple(_as_list(spec.get("column"), f"{where}.column"))
    if not sources:
        raise MappingError(f"{where}: `column` (the file header, or a list of them) is required")
    kind = str(spec.get("type", "categorical"))
    if kind not in KINDS:
        raise MappingError(f"{where}: type must be one of {KINDS}, not {kind!r}", column=name)
    values: dict[str, str] = {}
    raw_values = spec.get("values") or {}
    if not isinstance(raw_values, Mapping):
        raise MappingError(f"{where}: `values` maps each target to a list of file values")
    for target, originals in raw_values.items():
        for original in _as_list(originals, f"{where}.values"):
            key = _norm(original)
            previous = values.get(key)
            if previous is not None and previous != _scalar_text(target):
                raise MappingError(
                    f"{where}: value {original!r} is mapped to both {previous!r} and "
                    f"{_scalar_text(target)!r}",
                    column=name,
                )
            values[key] = _scalar_text(target)
    derive = spec.get("derive")
    if derive is not None and derive not in DERIVE:
        raise MappingError(f"{where}: derive must be one of {sorted(DERIVE)}", column=name)
    if derive is not None and kind == "ordinal" and "order" not in spec:
        spec = {**spec, "order": list(DERIVE[derive])}  # calendar order: jan < feb < ...
    if derive is not None and kind not in {"categorical", "ordinal"}:
        raise MappingError(f"{where}: a derived calendar part is categorical or ordinal")
    date_spec = {k: spec[k] for k in ("formats", "timezone") if k in spec}
    needs_dates = role == "date" or derive is not None
    other = _scalar_text(spec.get("other", "keep" if kind == "categorical" else "error"))
    match = str(spec.get("match", "exact"))
    case = str(spec.get("case", "keep"))
    if match not in {"exact", "contains"} or case not in {"keep", "lower"}:
        raise MappingError(f"{where}: match is exact|contains, case is keep|lower", column=name)
    column = Column(
        name=name,
        sources=sources,
        kind=kind,  # type: ignore[arg-type]
        optional=bool(spec.get("optional", False)),
        feature=bool(spec.get("feature", True)),
        values=values,
        other=other,
        match=match,  # type: ignore[arg-type]
        case=case,  # type: ignore[arg-type]
        missing=frozenset(_norm(v) for v in _as_list(spec.get("missing"), f"{where}.missing")),
        not_missing=frozenset(
            _norm(v) for v in _as_list(spec.get("not_missing"), f"{where}.not_missing")
        ),
        order=tuple(_as_list(spec.get("order"), f"{where}.order")),
        true_values=frozenset(_norm(v) for v in _as_list(spec.get("true_values"), where))
        or frozenset(TRUE_WORDS),
        false_values=frozenset(_norm(v) for v in _as_list(spec.get("false_values"), where))
        or frozenset(FALSE_WORDS),
        derive=derive,
        dates=_date_rule(date_spec, dates, where) if needs_dates else None,
        bands=bool(spec.get("bands", False)),
        personal=bool(spec.get("personal", False)),
    )
    if kind == "ordinal":
        column = replace(column, targets=frozenset(column.order))
    if kind == "ordinal" and not column.order:
        raise MappingError(f"{where}: an ordinal column needs `order` (lowest first)", column=name)
    if kind == "ordinal":
        bad = sorted(set(values.values()) - set(column.order))
        if bad:
            raise MappingError(f"{where}: targets {bad} are not in `order`", column=name)
    if column.personal and column.feature and role == "feature":
        raise MappingError(f"{where}: a personal-data column cannot be a feature", column=name)
    return column


def _contract_column(name: str, spec: Any, source: str, dates: DateRule) -> Column:
    """A data-contract lead field: its kind and vocabulary come from the contract."""
    where = f"{source}: contract.{name}"
    if name in PII_COLUMNS:
        raise MappingError(
            f"{where}: personal data ({name}) is not imported: it is never a feature and "
            "training does not need it",
            column=name,
        )
    if isinstance(spec, str | list):
        spec = {"column": spec}
    spec = dict(spec)
    if name in LEAD_ORDINAL_FEATURES:
        spec.setdefault("type", "ordinal")
        spec.setdefault("order", list(LEAD_ORDINAL_FEATURES[name]))
        if list(spec["order"]) != list(LEAD_ORDINAL_FEATURES[name]):
            raise MappingError(f"{where}: the contract fixes this order", column=name)
    elif name in LEAD_BOOLEAN_FEATURES:
        spec.setdefault("type", "boolean")
    elif name in LEAD_CATEGORICAL_FEATURES:
        spec.setdefault("type", "categorical")
    else:
        allowed = [*LEAD_CATEGORICAL_FEATURES, *LEAD_ORDINAL_FEATURES, *LEAD_BOOLEAN_FEATURES]
        raise MappingError(
            f"{where}: not a contract lead field; contract fields are {allowed} "
            "(declare other columns under `features:`)",
            column=name,
        )
    if name == "channel":
        spec.setdefault("other", "error")
    column = _column(name, spec, source, dates, role="contract")
    if name == "channel":
        allowed_channels = {c.value for c in Channel}
        column = replace(column, targets=frozenset(allowed_channels))
        bad = sorted({*column.values.values(), column.other} - allowed_channels - {"error"})
        if bad:
            raise MappingError(
                f"{where}: {bad} are not channels (allowed: {', '.join(sorted(allowed_channels))})",
                column=name,
            )
    if name == "company_size" and column.bands and column.values:
        raise MappingError(f"{where}: use either `bands: true` or `values`", column=name)
    return column


def _outcome(spec: Any, source: str, dates: DateRule) -> OutcomeRule:
    where = f"{source}: outcome"
    _known_keys(
        spec, {"column", "won", "lost", "open", "other", "present", "amount", "closed_at"}, where
    )
    sources = tuple(_as_list(spec.get("column"), f"{where}.column"))
    present = tuple(_as_list(spec.get("present"), f"{where}.present"))
    if bool(sources) == bool(present):
        raise MappingError(
            f"{where}: give either `column` (with won/lost/open values) or `present` "
            "(converted when that column is non-empty)",
            column="outcome",
        )
    won = frozenset(_norm(v) for v in _as_list(spec.get("won"), f"{where}.won"))
    lost = frozenset(_norm(v) for v in _as_list(spec.get("lost"), f"{where}.lost"))
    still_open = frozenset(_norm(v) for v in _as_list(spec.get("open"), f"{where}.open"))
    if sources and not won:
        raise MappingError(f"{where}: list the values that mean converted under `won`")
    overlap = sorted((won & lost) | (won & still_open) | (lost & still_open))
    if overlap:
        raise MappingError(f"{where}: values in more than one of won/lost/open: {overlap}")
    other = str(spec.get("other", "error"))
    if other not in {"error", "open", "lost"}:
        raise MappingError(f"{where}: other must be error, open or lost", column="outcome")
    amount = (
        _column(
            "amount",
            {"type": "numeric", **_spec_dict(spec["amount"])},
            source,
            dates,
            role="amount",
        )
        if spec.get("amount")
        else None
    )
    closed = (
        _column("closed_at", spec["closed_at"], source, dates, role="date")
        if spec.get("closed_at")
        else None
    )
    return OutcomeRule(sources, won, lost, still_open, other, present, amount, closed)  # type: ignore[arg-type]


def _spec_dict(spec: Any) -> dict[str, Any]:
    return {"column": spec} if isinstance(spec, str | list) else dict(spec)


# --- reading files ----------------------------------------------------------------------


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


# --- applying a mapping -----------------------------------------------------------------


@dataclass
class ImportedExport:
    """A flat export turned into a history, with the spec and settings to train on it.

    ``sales_side`` holds the raw sales-side columns per lead (in memory only, never saved
    with the history): for analyses such as the benchmark's leak demonstration.
    """

    history: CRMHistory
    spec: FeatureSpec
    mapping: CRMMapping
    has_time: bool
    sales_side: pd.DataFrame
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def train_config(
        self, seed: int = 42, policy: PolicyInputs | None = None, **overrides: Any
    ) -> TrainConfig:
        """The :class:`~training.train.TrainConfig` for this export.

        * one stage, ``won`` (the file has one outcome, not a decision log);
        * ``plain`` label rules unless the mapping says otherwise: a flat export holds
          one final outcome per lead, so the rejection-aware rules' deferral window and
          exclusions have nothing to wait for — plain gives ``y_won = converted``;
        * a time split (the latest 20 % of MQLs test, the 20 % before validation) when
          the file has a time column, else stratified; ``maturity_days=0`` (open leads
          carry no label, so nothing needs to mature);
        * :data:`FLAT_DEFAULTS`, then the mapping's ``train:`` hyperparameters and
          policy, then ``overrides``.
        Without a time column the capacity policy (handoffs *per day*) is meaningless,
        so it falls back to the mapping's policy or ``expected_value``.
        """
        settings = dict(self.mapping.train)
        mapped_policy = settings.pop("policy", None)
        params: dict[str, Any] = {
            "seed": seed,
            "stages": ("won",),
            "split": "time" if self.has_time else "stratified",
            "maturity_days": 0,
            "label_rules": "plain",
            **FLAT_DEFAULTS,
            **settings,
        }
        if self.has_time:
            params.update(_time_windows(self.history))
        chosen = policy
        fallback = PolicyInputs(**mapped_policy) if mapped_policy else None
        if chosen is None:
            chosen = fallback or PolicyInputs(
                method="capacity" if self.has_time else "expected_value"
            )
        elif not self.has_time and chosen.method == "capacity":
            chosen = fallback or replace(chosen, method="expected_value")
            note = (
                f"no time column: the capacity policy needs leads per day; using "
                f"{chosen.method} instead"
            )
            if note not in self.notes:
                self.notes.append(note)
        params["policy"] = chosen
        params.update(overrides)
        valid = {f.name for f in fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in params.items() if k in valid})


def _time_windows(history: CRMHistory) -> dict[str, int]:
    """Test = the latest 20 % of MQLs, validation the 20 % before (in whole days)."""
    mql = history.leads["mql_at"].dropna()
    if mql.empty:
        return {}
    q60, q80 = mql.quantile(0.6), mql.quantile(0.8)
    day = pd.Timedelta(days=1)
    test_days = max(1, math.ceil((history.snapshot_at - q80) / day))
    valid_days = max(1, math.ceil((q80 - q60) / day))
    return {"test_days": test_days, "valid_days": valid_days}


def import_export(path: str | Path, mapping: str | Path | CRMMapping) -> ImportedExport:
    """Read a flat CRM export with a mapping and build the history, spec and summary."""
    path = Path(path)
    m = load_mapping(mapping)
    table = read_table(path, m.format)
    if table.empty:
        raise MappingError(f"{path.name}: the file has no data rows")
    headers = _Headers(table.columns, path.name)
    notes: list[str] = list(m.notes)
    sales_side = {h for s in m.sales_side if (h := headers.find(s)) is not None}
    personal = {h for s in m.personal if (h := headers.find(s)) is not None}
    if m.join is not None:
        table, joined_cols = _apply_join(table, headers, m.join, path)
        headers = _Headers(table.columns, path.name)
        sales_side |= joined_cols - {m.join.right_on}

    id_col = headers.resolve(m.lead_id, "lead_id") if m.lead_id is not None else None
    outcome_col = headers.require_any(m.outcome.sources or m.outcome.present, "outcome")
    reason_col = headers.resolve(m.reason, "reason") if m.reason else None
    used = _feature_sources(m, headers, sales_side, personal, (outcome_col, reason_col), notes)
    missing = DEFAULT_MISSING | m.missing
    if id_col is None:
        lead_ids = _row_ids(table.index)
        notes.append(
            "no id column: leads are named by their spreadsheet row (row-2 is the first data "
            "row); a re-sorted export gets other names"
        )
    else:
        lead_ids = pd.Series(
            [None if _is_missing(v, missing) else str(v) for v in table[id_col]], dtype=object
        )

    created, mql = _lead_times(table, m, headers, missing)
    has_time = created is not None
    if created is None or mql is None:
        created = mql = pd.Series(NO_TIME, index=table.index)
        notes.append("no time column: leads get a placeholder date and a stratified split")
    leads = pd.DataFrame({"lead_id": lead_ids, "created_at": created, "mql_at": mql})
    for column in m.all_columns:
        if column.name in used:
            header = used[column.name]
            leads[column.name] = _convert(table[header], column, header, missing, personal)
            notes.extend(_marker_note(table[header], column, header, m.missing))
    for col in LEAD_COLUMNS:
        if col not in leads.columns and col not in PII_COLUMNS:
            leads[col] = None

    status = _outcome_status(table, m, outcome_col, missing, personal, notes)
    reasons = pd.Series(RejectionReason.OTHER.value, index=table.index, dtype=object)
    tagged = pd.Series(False, index=table.index)
    if m.reason is not None and reason_col is not None:
        mapped = _convert(table[reason_col], m.reason, reason_col, missing, personal)
        tagged = mapped.notna()
        reasons = mapped.where(tagged, RejectionReason.OTHER.value)
    excluded = (status == "lost") & reasons.isin(m.exclude_reasons)
    status = status.where(~excluded, "excluded")
    closed, amount = _closing(table, m, headers, missing, personal, mql)
    aside = _set_aside(leads, status, notes)
    leads = leads[~aside]
    feedback, outcomes = _label_tables(lead_ids, status, reasons, closed, amount)

    stamps = [s for s in (mql.max(), closed.max()) if pd.notna(s)]
    side_cols = sorted(sales_side - {id_col})
    side = pd.DataFrame({"lead_id": lead_ids, **{c: table[c].to_numpy() for c in side_cols}})
    spec = _feature_spec(m, used)
    history = CRMHistory(
        leads=leads,
        touches=_empty_touches(),
        feedback=feedback,
        outcomes=outcomes,
        snapshot_at=max(stamps) if has_time and stamps else NO_TIME,
        extra={
            "import_mapping": m.name,
            "import_file": path.name,
            "time_column": has_time,
            "sales_side_columns": side_cols,
            # a rejection needs a tag to pass validation, so an empty one reads "other"
            # above; the reason model must not learn "no tag" as a reason
            "untagged_rejections": frozenset(lead_ids[(status == "lost") & ~tagged]),
        },
    )
    lost = status == "lost"
    summary = {
        "rows": len(table),
        "won": int((status == "won").sum()),
        "lost": int(lost.sum()),
        "open": int((status == "open").sum()),
        "excluded": int(excluded.sum()),
        "set_aside": int(aside.sum()),
        "reasons": {k: int(v) for k, v in reasons[lost & tagged].value_counts().items()},
        "untagged": int((lost & ~tagged).sum()),
        "features": list(spec.input_columns),
        "sales_side": side_cols,
        "personal_dropped": sorted(personal),
        "time_column": has_time,
    }
    return ImportedExport(history, spec, m, has_time, side, summary, notes)


def _row_ids(index: pd.Index) -> pd.Series:
    """``row-N``: the row a spreadsheet shows for each data row (the header is row 1)."""
    return pd.Series([f"row-{i + 2}" for i in range(len(index))], index=index, dtype=object)


def _set_aside(leads: pd.DataFrame, status: pd.Series, notes: list[str]) -> pd.Series:
    """Unlabelled rows the contract cannot hold: kept out of the history, with a note.

    An open or excluded row has no label, so it teaches the model nothing; without an id
    or a date, with an id another row already has, or qualified before it was created,
    it would only count as a "bad row" and could stop training. A *labelled* row with
    the same gaps stays, and validation reports it: that is a real gap in the export.
    """
    unlabelled = status.isin(["open", "excluded"]).to_numpy()
    ids = leads["lead_id"]
    problems = {
        "no lead_id": ids.isna().to_numpy(),
        "no created_at": leads["created_at"].isna().to_numpy(),
        "no mql_at": leads["mql_at"].isna().to_numpy(),
        "an id another row has": (ids.notna() & ids.duplicated(keep=False)).to_numpy(),
        "mql_at before created_at": (leads["mql_at"] < leads["created_at"]).to_numpy(),
    }
    problems = {what: mask & unlabelled for what, mask in problems.items()}
    aside = np.logical_or.reduce(list(problems.values()))
    if aside.any():
        what = ", ".join(f"{k} {int(n.sum()):,}" for k, n in problems.items() if n.any())
        notes.append(
            f"{int(aside.sum()):,} unlabelled (open or excluded) row(s) the contract cannot "
            f"hold set aside, not training data ({what})"
        )
    return pd.Series(aside, index=leads.index)


def _marker_note(
    raw: pd.Series, column: Column, header: str, declared: frozenset[str]
) -> list[str]:
    """Say when a word such as ``None`` emptied cells of a category column.

    The file-wide markers (``none``, ``null``, ``n/a``, ``-`` ...) are usually export
    artefacts, but "None" can be a real answer ("Competitor: None"): the import keeps
    going, and the note tells how to keep the value. Markers the mapping declared itself
    (``declared``, the column's ``missing:``) are intended and not mentioned.
    """
    if column.kind not in {"categorical", "ordinal"} or column.derive is not None:
        return []
    words = DEFAULT_MISSING - {""} - declared - column.missing - column.not_missing
    hits = Counter(str(v).strip() for v in raw.tolist() if v is not None and _norm(v) in words)
    if not hits:
        return []
    shown = ", ".join(f"{word!r} {n:,}" for word, n in hits.most_common(3))
    example = hits.most_common(1)[0][0]
    return [
        f"column {header!r} ({column.name}): cells read as missing ({shown}); if that is a "
        f"real value, add `not_missing: [{example}]` to the column"
    ]


def _feature_sources(
    m: CRMMapping,
    headers: _Headers,
    sales_side: set[str],
    personal: set[str],
    label_cols: tuple[str, str | None],
    notes: list[str],
) -> dict[str, str]:
    """Each mapped column's file header; optional absent ones are skipped with a note."""
    used: dict[str, str] = {}
    for column in m.all_columns:
        role = "contract" if column in m.contract else "feature"
        header = headers.resolve(column, role)
        if header is None:
            notes.append(f"optional column for {column.name!r} not in the file: skipped")
            continue
        if column.feature:
            _check_feature_source(column, header, sales_side, personal, label_cols)
        used[column.name] = header
    return used


def _lead_times(
    table: pd.DataFrame, m: CRMMapping, headers: _Headers, missing: frozenset[str]
) -> tuple[pd.Series | None, pd.Series | None]:
    """``created_at`` and ``mql_at`` (each defaults to the other), or (None, None)."""
    parsed: dict[str, pd.Series] = {}
    for key, column in (("created_at", m.created_at), ("mql_at", m.mql_at)):
        if column is None:
            continue
        header = headers.resolve(column, key)
        if header is not None:
            parsed[key] = _parse_dates(table[header], column, header, missing)
    created = parsed.get("created_at", parsed.get("mql_at"))
    return created, parsed.get("mql_at", created)


def _closing(
    table: pd.DataFrame,
    m: CRMMapping,
    headers: _Headers,
    missing: frozenset[str],
    personal: set[str],
    mql: pd.Series,
) -> tuple[pd.Series, pd.Series]:
    """When each lead closed (default: its MQL time) and the won amount (default 0)."""
    closed = mql
    if m.outcome.closed_at is not None:
        header = headers.resolve(m.outcome.closed_at, "outcome.closed_at")
        if header is not None:
            parsed = _parse_dates(table[header], m.outcome.closed_at, header, missing)
            closed = parsed.where(parsed.notna(), mql)
    amount = pd.Series(0.0, index=table.index)
    if m.outcome.amount is not None:
        header = headers.resolve(m.outcome.amount, "outcome.amount")
        if header is not None:
            values = _convert(table[header], m.outcome.amount, header, missing, personal)
            amount = pd.to_numeric(values, errors="coerce").fillna(0.0).clip(lower=0.0)
    return closed, amount


def _label_tables(
    lead_ids: pd.Series,
    status: pd.Series,
    reasons: pd.Series,
    closed: pd.Series,
    amount: pd.Series,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One feedback row per closed lead; one ``won`` outcome per converted lead.

    Converted → ``accepted`` (the validator requires an amount for a won deal: 0 when
    the export has none); not converted → ``rejected`` with its reason. Open and
    excluded leads get neither, so every label rule leaves them unlabelled.
    """
    won = (status == "won").to_numpy()
    closed_rows = won | (status == "lost").to_numpy()
    feedback = pd.DataFrame(
        {
            "lead_id": lead_ids[closed_rows].to_numpy(),
            "at": closed[closed_rows].to_numpy(),
            # a won deal implies its acceptance: the lifecycle's rule (scoring.lifecycle)
            "decision": np.where(
                won[closed_rows], IMPLIED_BY_OUTCOME, SalesDecision.REJECTED.value
            ),
            "reason": pd.Series(
                np.where(won[closed_rows], None, reasons[closed_rows].to_numpy()), dtype=object
            ),
            "contact_attempts": np.nan,
            "first_response_hours": np.nan,
            "comment": None,
        },
        columns=list(FEEDBACK_COLUMNS),
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": lead_ids[won].to_numpy(),
            "outcome": Outcome.WON.value,
            "amount": amount[won].to_numpy(dtype=float),
            "closed_at": closed[won].to_numpy(),
            "loss_reason": None,
        },
        columns=list(OUTCOME_COLUMNS),
    )
    return feedback, outcomes


def _empty_touches() -> pd.DataFrame:
    """The touches table with its columns and types, and no rows (no interaction log)."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series(dtype=object),
            "at": pd.Series(dtype="datetime64[ns, UTC]"),
            "type": pd.Series(dtype=object),
            "channel": pd.Series(dtype=object),
        },
        columns=list(TOUCH_COLUMNS),
    )


def _feature_spec(m: CRMMapping, used: Mapping[str, str]) -> FeatureSpec:
    """Contract fields first (in the contract's order), then the mapping's own features."""
    active = [c for c in m.all_columns if c.name in used and c.feature]
    by_name = {c.name: c for c in active}
    contract_cat = [n for n in LEAD_CATEGORICAL_FEATURES if n in by_name]
    contract_ord = {n: LEAD_ORDINAL_FEATURES[n] for n in LEAD_ORDINAL_FEATURES if n in by_name}
    contract_bool = [n for n in LEAD_BOOLEAN_FEATURES if n in by_name]
    extras = [c for c in active if c not in m.contract]
    return FeatureSpec(
        categorical=(*contract_cat, *(c.name for c in extras if c.kind == "categorical")),
        ordinal={**contract_ord, **{c.name: c.order for c in extras if c.kind == "ordinal"}},
        boolean=(*contract_bool, *(c.name for c in extras if c.kind == "boolean")),
        numeric=tuple(c.name for c in extras if c.kind == "numeric"),
        use_touches=False,
    )


def _check_feature_source(
    column: Column,
    header: str,
    sales_side: set[str],
    personal: set[str],
    label_cols: tuple[str, str | None],
) -> None:
    """A scoring feature must be known *before* sales touches the lead."""
    if header in sales_side:
        raise MappingError(
            f"column {header!r} (mapped to {column.name!r}) is declared sales-side: it is "
            "written after sales contact and would leak the outcome into the score. It "
            "cannot be a scoring feature; it may be the `reason:` column (the target of "
            "the rejection-reason model)",
            column=header,
        )
    if header in personal:
        raise MappingError(
            f"column {header!r} (mapped to {column.name!r}) is declared personal data: "
            "it is never a feature",
            column=header,
        )
    if header in label_cols:
        raise MappingError(
            f"column {header!r} is the outcome/reason column; using it as the feature "
            f"{column.name!r} would leak the label",
            column=header,
        )


class _Headers:
    """Finds a mapping's header alternatives among a file's headers (case, ё, spaces)."""

    def __init__(self, columns: Iterable[Any], file_name: str) -> None:
        self.columns = [str(c) for c in columns]
        self.by_norm: dict[str, str] = {}
        for col in self.columns:
            self.by_norm.setdefault(_norm(col), col)
        self.file_name = file_name

    def find(self, name: str) -> str | None:
        return self.by_norm.get(_norm(name))

    def resolve(self, column: Column, role: str) -> str | None:
        for name in column.sources:
            if (found := self.find(name)) is not None:
                return found
        if column.optional:
            return None
        raise self._missing(column.sources, f"{role} {column.name!r}", column.name)

    def require(self, column: Column, role: str) -> str:
        found = self.resolve(replace(column, optional=False), role)
        assert found is not None
        return found

    def require_any(self, names: Sequence[str], role: str) -> str:
        for name in names:
            if (found := self.find(name)) is not None:
                return found
        raise self._missing(names, role, role)

    def _missing(self, names: Sequence[str], role: str, key: str) -> MappingError:
        shown = ", ".join(repr(n) for n in names)
        have = ", ".join(repr(c) for c in self.columns[:40])
        more = f" (+{len(self.columns) - 40} more)" if len(self.columns) > 40 else ""
        return MappingError(
            f"{self.file_name}: column for {role} not found; the mapping looks for {shown}. "
            f"The file's columns are: {have}{more}",
            column=names[0] if names else key,
        )


def _apply_join(
    table: pd.DataFrame, headers: _Headers, join: Join, path: Path
) -> tuple[pd.DataFrame, set[str]]:
    """Left-join a second export; its columns are returned so they become sales-side."""
    other_path = path.parent / join.file
    if not other_path.is_file():
        raise MappingError(
            f"join: the mapping needs {join.file!r} next to {path.name} ({other_path} not found)",
            column=join.file,
        )
    other = read_table(other_path, join.format)
    left = headers.find(join.on)
    right = _Headers(other.columns, other_path.name).find(join.right_on)
    if left is None or right is None:
        missing_in = path.name if left is None else other_path.name
        raise MappingError(
            f"join: key column {join.on if left is None else join.right_on!r} not found in "
            f"{missing_in}",
            column=join.on if left is None else join.right_on,
        )
    if other[right].duplicated().any():
        raise MappingError(f"join: {other_path.name} has repeated {right!r} keys", column=right)
    clash = (set(other.columns) & set(table.columns)) - {right}
    other = other.rename(columns={c: f"{c} (joined)" for c in clash})
    merged = table.merge(other, how="left", left_on=left, right_on=right, suffixes=("", "_r"))
    if right != left and right in merged.columns:
        merged = merged.drop(columns=[right])
    joined = set(merged.columns) - set(table.columns)
    return merged.astype(object).where(merged.notna(), None), joined


def _is_missing(value: Any, missing: frozenset[str]) -> bool:
    return value is None or _norm(value) in missing


def _shown(values: Iterable[str], personal: bool, limit: int = 8) -> str:
    """Quote unmapped values for an error, but never personal-looking ones."""
    counts = Counter(values)
    parts = []
    for value, n in counts.most_common(limit):
        text = str(value)
        if personal or EMAIL_LIKE.search(text) or PHONE_LIKE.match(text):
            text = "<redacted: looks like personal data>"
        elif len(text) > 60:
            text = text[:57] + "..."
        parts.append(f"{text!r} ({n} row{'s' if n != 1 else ''})")
    extra = len(counts) - limit
    return ", ".join(parts) + (f" and {extra} more" if extra > 0 else "")


def _convert(
    raw: pd.Series, column: Column, header: str, missing: frozenset[str], personal: set[str]
) -> pd.Series:
    """One file column → the mapped column's values (object series, None = missing)."""
    local_missing = column.markers(missing)
    is_personal = column.personal or header in personal
    values = [None if _is_missing(v, local_missing) else str(v) for v in raw.tolist()]
    if column.derive is not None:
        assert column.dates is not None
        stamps = _parse_dates(pd.Series(values, dtype=object), column, header, local_missing)
        names = DERIVE[column.derive]
        part = stamps.dt.month - 1 if column.derive == "month" else stamps.dt.weekday
        return pd.Series(
            [None if pd.isna(p) else names[int(p)] for p in part], index=raw.index, dtype=object
        )
    if column.kind == "numeric":
        return _numbers(values, raw.index, column, header, is_personal)
    if column.kind == "boolean":
        out: list[bool | None] = []
        bad: list[str] = []
        for v in values:
            if v is None:
                out.append(None)
            elif (key := _norm(v)) in column.true_values:
                out.append(True)
            elif key in column.false_values:
                out.append(False)
            else:
                out.append(None)
                bad.append(v)
        if bad:
            raise MappingError(
                f"column {header!r} ({column.name}, boolean): values that are neither true nor "
                f"false: {_shown(bad, is_personal)}; add them to `true_values:`/"
                "`false_values:` or `missing:`",
                column=header,
            )
        return pd.Series(out, index=raw.index, dtype=object)
    if column.name == "company_size" and column.bands:
        return _size_bands(values, raw.index, column, header, is_personal)
    return _categories(values, raw.index, column, header, is_personal)


def _categories(
    values: list[str | None], index: pd.Index, column: Column, header: str, personal: bool
) -> pd.Series:
    out: list[str | None] = []
    unmapped: list[str] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        target = _lookup(v, column)
        if target is None:
            if column.other == "keep" and column.kind == "categorical":
                target = v.lower() if column.case == "lower" else v
            elif column.other == "error":
                unmapped.append(v)
            else:
                target = column.other
        out.append(target)
    if unmapped:
        allowed = f" (targets: {', '.join(column.order)})" if column.order else ""
        raise MappingError(
            f"column {header!r} ({column.name}): unmapped values {_shown(unmapped, personal)}; "
            f"add them under `values:`{allowed} or set `other:`",
            column=header,
        )
    return pd.Series(out, index=index, dtype=object)


def _lookup(value: str, column: Column) -> str | None:
    key = _norm(value)
    target = column.values.get(key)
    if target is None and key in column.targets:
        return key
    if target is not None or column.match == "exact":
        return target
    for needle, candidate in column.values.items():
        if needle and needle in key:
            return candidate
    return None


NUMBER_NOISE = re.compile(r"[\s\u00a0\u202f'’]")
NUMBER_TEXT = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def _parse_number(text: str) -> float | None:
    """``1 500 000,50 ₽``, ``$1,500.00``, ``1.5e3`` → float; None when it is not a number."""
    t = NUMBER_NOISE.sub("", text)
    t = re.sub(r"^[^\d+\-.,]+|[^\d]+$", "", t)  # currency before/after ("руб.", "₽")
    if "," in t and "." in t:
        t = (
            t.replace(".", "").replace(",", ".")
            if t.rfind(",") > t.rfind(".")
            else t.replace(",", "")
        )
    elif t.count(",") == 1:
        t = t.replace(",", ".")
    elif t.count(",") > 1:
        t = t.replace(",", "")
    if not NUMBER_TEXT.match(t):
        return None
    return float(t)


def _numbers(
    values: list[str | None], index: pd.Index, column: Column, header: str, personal: bool
) -> pd.Series:
    out = np.full(len(values), np.nan)
    bad: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        number = _parse_number(v)
        if number is None:
            bad.append(v)
        else:
            out[i] = number
    if bad:
        raise MappingError(
            f"column {header!r} ({column.name}, numeric): {len(bad)} value(s) are not numbers: "
            f"{_shown(bad, personal, limit=3)}; add them to `missing:` if they mean empty",
            column=header,
        )
    return pd.Series(out, index=index, dtype=float)


def _size_bands(
    values: list[str | None], index: pd.Index, column: Column, header: str, personal: bool
) -> pd.Series:
    """Company size as a contract band from a band, a head count or a range ("11-50")."""
    out: list[str | None] = []
    bad: list[str] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if v.strip() in COMPANY_SIZES:
            out.append(v.strip())
            continue
        numbers = [n for part in re.split(r"[-–—]", v) if (n := _parse_number(part)) is not None]
        if not numbers:
            numbers = [float(d) for d in re.findall(r"\d+", NUMBER_NOISE.sub("", v))]
        if numbers:
            out.append(_size_band(max(numbers)))
        else:
            out.append(None)
            bad.append(v)
    if bad:
        raise MappingError(
            f"column {header!r} ({column.name}): not a head count, a range or one of "
            f"{list(COMPANY_SIZES)}: {_shown(bad, personal, limit=3)}",
            column=header,
        )
    return pd.Series(out, index=index, dtype=object)


def _size_band(employees: float) -> str | None:
    """An employee count → the contract's company-size band."""
    if not np.isfinite(employees) or employees < 1:
        return None
    uppers = (10, 50, 200, 500, 1000, 5000)
    for band, upper in zip(COMPANY_SIZES, uppers, strict=False):
        if employees <= upper:
            return band
    return COMPANY_SIZES[-1]


def _parse_dates(raw: pd.Series, column: Column, header: str, missing: frozenset[str]) -> pd.Series:
    """Dates in the mapping's formats (then ISO 8601), made UTC; unparseable → error."""
    rule = column.dates or DateRule()
    text = pd.Series(
        [None if _is_missing(v, column.markers(missing)) else str(v) for v in raw.tolist()],
        index=raw.index,
        dtype=object,
    )
    result = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    todo = text.notna()
    for fmt in rule.formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        result[todo] = parsed.astype("datetime64[ns]")
        todo = text.notna() & result.isna()
    if todo.any():
        iso = pd.to_datetime(text[todo], format="ISO8601", errors="coerce", utc=True)
        result[todo] = iso.dt.tz_localize(None).astype("datetime64[ns]")
        todo = text.notna() & result.isna()
    if todo.any():
        examples = _shown(text[todo].tolist(), False, limit=3)
        raise MappingError(
            f"column {header!r} ({column.name}): {int(todo.sum())} value(s) are not dates in "
            f"the formats {list(rule.formats)} or ISO 8601: {examples}; set `formats:`",
            column=header,
        )
    if rule.timezone:
        return result.dt.tz_localize(
            rule.timezone, ambiguous="NaT", nonexistent="shift_forward"
        ).dt.tz_convert("UTC")
    return result.dt.tz_localize("UTC")


def _outcome_status(
    table: pd.DataFrame,
    m: CRMMapping,
    header: str,
    missing: frozenset[str],
    personal: set[str],
    notes: list[str],
) -> pd.Series:
    """Per row: ``won``, ``lost`` or ``open`` (open rows get no label).

    An empty outcome cell is ``open`` — no outcome recorded yet, so no label — unless the
    mapping lists ``""`` under won/lost itself; ``outcome.other`` is for unlisted *values*.
    """
    o = m.outcome
    if o.present:
        present = [not _is_missing(v, missing) for v in table[header].tolist()]
        return pd.Series(np.where(present, "won", "lost"), index=table.index, dtype=object)
    status: list[str] = []
    unmapped: list[str] = []
    empty = 0
    for v in table[header].tolist():
        key = "" if _is_missing(v, missing) else _norm(v)
        if key in o.won:
            status.append("won")
        elif key in o.lost:
            status.append("lost")
        elif key in o.open:
            status.append("open")
        elif not key:  # nothing recorded yet
            status.append("open")
            empty += 1
        elif o.other == "error":
            status.append("open")
            unmapped.append(str(v))
        else:
            status.append(o.other)
    if empty:
        notes.append(f"{empty:,} row(s) with an empty outcome column {header!r}: open, no label")
    if unmapped:
        raise MappingError(
            f"outcome column {header!r}: values not mapped to won/lost/open: "
            f"{_shown(unmapped, header in personal)}; list them under outcome.won/lost/open "
            "or set outcome.other",
            column=header,
        )
    return pd.Series(status, index=table.index, dtype=object)


# --- the command line's entry point ----------------------------------------------------


def training_inputs(
    data: Path | None,
    mapping: str | Path,
    *,
    seed: int = 42,
    policy: PolicyInputs | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[CRMHistory, FeatureSpec, TrainConfig, str]:
    """``leadscore train --data FILE --mapping M``: history, spec, config and a source label."""
    if data is None:
        raise MappingError("--mapping needs --data: the CRM export file to import")
    imported = import_export(data, mapping)
    config = imported.train_config(seed=seed, policy=policy)
    if progress is not None:
        progress(describe(imported))
        progress(
            f"training one stage ({', '.join(config.stages)}), {config.split} split, "
            f"label rules {config.label_rules}, policy {config.policy.method}"
        )
    return imported.history, imported.spec, config, f"{Path(data).name} ({imported.mapping.name})"


def describe(imported: ImportedExport) -> str:
    """A one-paragraph import report for the command line (no cell values)."""
    s = imported.summary
    reasons = ", ".join(f"{k} {v}" for k, v in s["reasons"].items()) or "none"
    lines = [
        f"imported {s['rows']:,} rows with mapping {imported.mapping.name!r}: "
        f"won {s['won']:,}, lost {s['lost']:,}, open {s['open']:,} (no label), "
        f"excluded {s['excluded']:,}",
        f"loss reasons: {reasons}; no tag (not a reason): {s['untagged']:,}",
        f"features ({len(s['features'])}): {', '.join(s['features'])}",
        f"sales-side, never features: {', '.join(s['sales_side']) or 'none'}",
        *imported.notes,
    ]
    return "\n".join(lines)


__all__ = [
    "NO_TIME",
    "CRMMapping",
    "Column",
    "ImportedExport",
    "MappingError",
    "builtin_mappings",
    "describe",
    "import_export",
    "load_mapping",
    "parse_mapping",
    "read_table",
    "training_inputs",
]
