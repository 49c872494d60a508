"""The mapping file (YAML) checked before any export is read: structure, vocabulary,
and the contract's rules (personal data never a feature, contract field kinds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

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
    FEATURE_NAME,
    KINDS,
    RESERVED_NAMES,
    TRAIN_KEYS,
    TRUE_WORDS,
)
from training.importing.errors import MappingError
from training.importing.mapping import Column, CRMMapping, DateRule, FileFormat, Join, OutcomeRule
from training.importing.readers import _norm, _scalar_text


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
