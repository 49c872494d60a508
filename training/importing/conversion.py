"""Applying a mapping to a file: headers found, lead times, labels (feedback and
outcome rows), the feature spec, and the notes on what the importer decided itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import (
    FEEDBACK_COLUMNS,
    LEAD_BOOLEAN_FEATURES,
    LEAD_CATEGORICAL_FEATURES,
    LEAD_COLUMNS,
    LEAD_ORDINAL_FEATURES,
    OUTCOME_COLUMNS,
    PII_COLUMNS,
    TOUCH_COLUMNS,
    Outcome,
    RejectionReason,
    SalesDecision,
)
from scoring.features import FeatureSpec
from scoring.lifecycle import IMPLIED_BY_OUTCOME
from training.history import CRMHistory
from training.importing.builtin import load_mapping
from training.importing.constants import DEFAULT_MISSING, NO_TIME
from training.importing.errors import MappingError
from training.importing.export import ImportedExport
from training.importing.mapping import Column, CRMMapping, Join
from training.importing.readers import _norm, read_table
from training.importing.values import _convert, _is_missing, _outcome_status, _parse_dates


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
    leads, mql, has_time = _leads(table, m, headers, id_col, used, missing, personal, notes)
    lead_ids = leads["lead_id"].rename(None)
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
    feedback, outcomes = _label_tables(lead_ids, status, reasons, closed, amount)

    stamps = [s for s in (mql.max(), closed.max()) if pd.notna(s)]
    side_cols = sorted(sales_side - {id_col})
    side = pd.DataFrame({"lead_id": lead_ids, **{c: table[c].to_numpy() for c in side_cols}})
    spec = _feature_spec(m, used)
    history = CRMHistory(
        leads=leads[~aside],
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
    counts = {"rows": len(table), "excluded": int(excluded.sum()), "set_aside": int(aside.sum())}
    summary = _summary(counts, status, reasons, tagged, spec, side_cols, personal, has_time)
    return ImportedExport(history, spec, m, has_time, side, summary, notes)


def _leads(
    table: pd.DataFrame,
    m: CRMMapping,
    headers: _Headers,
    id_col: str | None,
    used: Mapping[str, str],
    missing: frozenset[str],
    personal: set[str],
    notes: list[str],
) -> tuple[pd.DataFrame, pd.Series, bool]:
    """The leads table (ids, times, mapped columns), the MQL times, whether times exist."""
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
    return leads, mql, has_time


def _summary(
    counts: dict[str, int],
    status: pd.Series,
    reasons: pd.Series,
    tagged: pd.Series,
    spec: FeatureSpec,
    side_cols: list[str],
    personal: set[str],
    has_time: bool,
) -> dict[str, Any]:
    """What the import found, for the command line and the benchmark (no cell values)."""
    lost = status == "lost"
    return {
        "rows": counts["rows"],
        "won": int((status == "won").sum()),
        "lost": int(lost.sum()),
        "open": int((status == "open").sum()),
        "excluded": counts["excluded"],
        "set_aside": counts["set_aside"],
        "reasons": {k: int(v) for k, v in reasons[lost & tagged].value_counts().items()},
        "untagged": int((lost & ~tagged).sum()),
        "features": list(spec.input_columns),
        "sales_side": side_cols,
        "personal_dropped": sorted(personal),
        "time_column": has_time,
    }


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
