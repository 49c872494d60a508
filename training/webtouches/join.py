"""Analytics touches + a CRM history → the history with the touches joined to its leads.

Each analytics touch carries up to three keys (``key_client_id``, ``key_user_id``,
``key_email_sha256``); the chosen key is looked up in the lead column the mapping names
for that export (Metrika's and GA4's client ids are different cookies, so each has its
own column). A lead that no analytics row matches keeps exactly its CRM touches; an
analytics row that matches no lead is counted in the :class:`JoinReport`, never an
error (most site visitors never become leads). A key shared by several leads (one browser
that filled in two forms) gives the touch to each of them, and the report says how often.

With ``email_sha256`` the leads' hashes come from their ``email_sha256`` column or, if the
file has none, from their ``email`` hashed here (:func:`~training.webtouches.frame.email_sha256`);
the hashes live only in memory for the join and are never written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from scoring.contract import TOUCH_COLUMNS, TOUCH_UTM_COLUMNS
from training.history import CRMHistory
from training.webtouches.frame import JOIN_KEYS, WebTouchesError, email_sha256
from training.webtouches.mapping import TouchMapping


@dataclass
class SourceCounts:
    """What one export gave: touches made, joined, unmatched (and their distinct ids)."""

    touches: int = 0
    joined: int = 0
    unmatched: int = 0
    unmatched_ids: int = 0
    without_key: int = 0
    after_snapshot: int = 0
    leads_matched: int = 0


@dataclass
class JoinReport:
    key: str
    leads: int
    leads_with_key: int
    leads_matched: int
    sources: dict[str, SourceCounts] = field(default_factory=dict)
    shared_keys: int = 0
    read: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The report as lines for the command line (counts only: no id is quoted)."""
        out = [
            f"join key {self.key}: {self.leads_with_key:,} of {self.leads:,} leads have one; "
            f"{self.leads_matched:,} matched analytics touches (the others keep their CRM "
            "touches only)"
        ]
        for name, c in self.sources.items():
            out.append(
                f"{name}: {c.touches:,} touches, {c.joined:,} joined to {c.leads_matched:,} "
                f"leads; {c.unmatched:,} from {c.unmatched_ids:,} ids that match no lead; "
                f"{c.without_key:,} without a {self.key}; {c.after_snapshot:,} after the "
                "history's snapshot (dropped)"
            )
        if self.shared_keys:
            out.append(f"{self.shared_keys:,} {self.key} values belong to several leads")
        if self.read:
            out.append("read: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.read.items())))
        return out


def lead_keys(leads: pd.DataFrame, key: str, source: str, mapping: TouchMapping) -> pd.Series:
    """The leads' values of ``key`` for ``source`` (index: lead_id), None where empty."""
    cols = mapping.leads
    if key == "client_id":
        column = cols.metrika_client_id if source == "metrika" else cols.ga4_client_id
    elif key == "user_id":
        column = cols.user_id
    elif key == "email_sha256":
        if cols.email_sha256 in leads.columns:
            values = [_clean(v, lower=True) for v in leads[cols.email_sha256]]
            return pd.Series(values, index=leads["lead_id"].astype(str), dtype=object)
        if cols.email not in leads.columns:
            raise WebTouchesError(
                f"join key email_sha256: the leads have neither a {cols.email_sha256!r} nor an "
                f"{cols.email!r} column"
            )
        hashes = [email_sha256(v) for v in leads[cols.email]]
        return pd.Series(hashes, index=leads["lead_id"].astype(str), dtype=object)
    else:
        raise WebTouchesError(f"join key {key!r}: use one of {', '.join(JOIN_KEYS)}")
    if column not in leads.columns:
        raise WebTouchesError(
            f"join key {key} for {source}: the leads have no {column!r} column (set "
            "leads.* in the touch mapping to the column that holds it)"
        )
    if pd.api.types.is_float_dtype(leads[column]):
        raise WebTouchesError(
            f"join key {key}: the leads' {column!r} column was read as numbers, which loses "
            "the digits of long ids; read it as text (see read_history)"
        )
    values = [_clean(v) for v in leads[column]]
    return pd.Series(values, index=leads["lead_id"].astype(str), dtype=object)


def _clean(value: object, lower: bool = False) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return (text.lower() if lower else text) or None


def read_history(folder: Path, mapping: TouchMapping) -> CRMHistory:
    """:meth:`CRMHistory.load` with the leads' key columns read as text.

    A Metrika ClientID has 19-20 digits: read as a number it becomes a float and no
    longer matches the export's. Only the key columns are re-read; every other column
    is exactly what ``CRMHistory.load`` gives."""
    history = CRMHistory.load(folder)
    names = set(mapping.leads.model_dump().values()) - {"lead_id"}
    present = [c for c in history.leads.columns if c in names]
    if present:
        text = pd.read_csv(
            Path(folder) / "leads.csv", dtype=str, keep_default_na=False, usecols=present
        )
        leads = history.leads.copy()
        for col in present:
            leads[col] = text[col].to_numpy()
        history = replace(history, leads=leads)
    return history


def join_touches(
    history: CRMHistory,
    analytics: dict[str, pd.DataFrame],
    key: str,
    mapping: TouchMapping,
    read: Counter[str] | None = None,
) -> tuple[CRMHistory, JoinReport]:
    """The history with each export's touches joined to its leads by ``key``.

    ``analytics`` maps a source name (``metrika``, ``ga4``) to the frame its reader gave.
    The new touches table is the CRM's touches, then the joined ones, with the UTM columns.
    """
    if key not in JOIN_KEYS:
        raise WebTouchesError(f"join key {key!r}: use one of {', '.join(JOIN_KEYS)}")
    leads = history.leads
    report = JoinReport(key=key, leads=len(leads), leads_with_key=0, leads_matched=0)
    report.read.update(read or {})
    with_key: set[str] = set()
    matched: set[str] = set()
    shared_keys: set[str] = set()  # one count per value, though two exports may use it
    joined: list[pd.DataFrame] = []
    for source, frame in analytics.items():
        counts = SourceCounts(touches=len(frame))
        report.sources[source] = counts
        keys = lead_keys(leads, key, source, mapping).dropna()
        with_key.update(keys.index)
        by_key = pd.DataFrame({"lead_id": keys.index, "k": keys.to_numpy()})
        shared = by_key["k"].value_counts()
        shared_keys.update(shared.index[shared > 1])
        values = pd.Series(
            [_clean(v, lower=key == "email_sha256") for v in frame[f"key_{key}"]],
            index=frame.index,
            dtype=object,
        )
        counts.without_key = int(values.isna().sum())
        keyed = frame.assign(k=values)[values.notna()]
        merged = keyed.merge(by_key, on="k", how="left")
        hit = merged["lead_id"].notna()
        counts.unmatched = int((~hit).sum())
        counts.unmatched_ids = int(merged.loc[~hit, "k"].nunique())
        rows = merged[hit]
        late = rows["at"] > history.snapshot_at
        counts.after_snapshot = int(late.sum())
        rows = rows[~late]
        counts.joined = len(rows)
        counts.leads_matched = int(rows["lead_id"].nunique())
        matched.update(rows["lead_id"])
        joined.append(rows[[*TOUCH_COLUMNS, *TOUCH_UTM_COLUMNS]])
    report.leads_with_key = len(with_key)
    report.shared_keys = len(shared_keys)
    report.leads_matched = len(matched)
    crm = history.touches.copy()
    for col in TOUCH_UTM_COLUMNS:
        if col not in crm.columns:
            crm[col] = None
    parts = [crm[[*TOUCH_COLUMNS, *TOUCH_UTM_COLUMNS]], *joined]
    touches = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    touches["lead_id"] = touches["lead_id"].astype(str)
    touches["at"] = pd.to_datetime(touches["at"], utc=True)
    return replace(history, touches=touches), report
