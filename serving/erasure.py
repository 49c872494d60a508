"""Erasing a lead everywhere leadscore keeps it (``docs/privacy.md``).

The API (``DELETE /v1/leads/{id}``) and the command line (``leadscore erase``) both call
:func:`erase`: it removes the lead's rows from the CRM history files under the home
folder, then deletes its decisions and feedback from the store and records the erasure
there (:meth:`serving.storage.Store.erase_leads`).

The erasure record keeps a keyed hash of the lead id (:func:`lead_key`), never the id:
retraining uses it to leave out an erased lead that a CRM export outside the home folder
still holds (:class:`ErasedLeads`), and without the secret nobody can test a guessed id
against the table. The secret comes from ``LEADSCORE_ERASURE_SECRET`` or, by default,
a random key created once in ``home/erasure.key`` (0600).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import tempfile
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from scoring.settings import Settings
from serving.host_secret import read_or_create_secret
from serving.storage import Store
from serving.tables import ErasureReason

HISTORY_FOLDER = "data"
"""Under the home folder: the CRM history folders ``leadscore demo`` writes and
``leadscore retrain`` reads by default."""


def lead_key(secret: bytes, lead_id: str) -> str:
    """HMAC-SHA256 (hex) of a lead id: what an erasure record keeps instead of the id."""
    return hmac.new(secret, lead_id.encode("utf-8"), hashlib.sha256).hexdigest()


def erasure_secret(settings: Settings) -> bytes:
    """The HMAC key of erasure records: the setting, or ``home/erasure.key``, made once."""
    if settings.erasure_secret is not None:
        return settings.erasure_secret.get_secret_value().encode()
    return read_or_create_secret(settings.erasure_secret_file, "erasure secret")


class ErasedLeads(Container[str]):
    """The erased leads, as a container of lead ids (``lead_id in erased``).

    Holds only keys; a lead id is hashed with the secret to be looked up. Retraining
    leaves these out of the base CRM history (``training.retrain``).
    """

    def __init__(self, secret: bytes, keys: Iterable[str]) -> None:
        self._secret = secret
        self._keys = frozenset(keys)

    @classmethod
    def load(cls, store: Store, settings: Settings) -> ErasedLeads:
        return cls(erasure_secret(settings), store.erased_lead_keys())

    def __contains__(self, lead_id: object) -> bool:
        return (
            bool(self._keys)
            and isinstance(lead_id, str)
            and lead_key(self._secret, lead_id) in self._keys
        )

    def __len__(self) -> int:
        return len(self._keys)


@dataclass
class ErasureSummary:
    """What one erasure run removed: totals, no lead ids (safe to print and log)."""

    leads: int = 0
    decisions: int = 0
    feedback: int = 0
    history_rows: int = 0
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def erase(
    store: Store,
    settings: Settings,
    lead_ids: Iterable[str],
    *,
    actor: str,
    reason: ErasureReason = ErasureReason.REQUEST,
) -> ErasureSummary:
    """Erase ``lead_ids`` from the home's history files and the store; record each one.

    The files go first: if the store then fails, running the erasure again finishes it
    (both steps are idempotent).
    """
    ids = list(dict.fromkeys(lead_ids))
    removed, files = scrub_history_files(settings.home / HISTORY_FOLDER, set(ids))
    if settings.is_local_store:  # a tracking server's artifacts are its own (docs/privacy.md)
        files += scrub_run_frames(settings.artifact_root, set(ids))
    secret = erasure_secret(settings)
    records = store.erase_leads(
        ids,
        lead_key=lambda lead_id: lead_key(secret, lead_id),
        actor=actor,
        reason=reason,
        history_rows=removed,
    )
    return ErasureSummary(
        leads=len(records),
        decisions=sum(r["decisions"] for r in records),
        feedback=sum(r["feedback"] for r in records),
        history_rows=sum(r["history_rows"] for r in records),
        files=[str(f) for f in files],
    )


def erase_inactive(
    store: Store, settings: Settings, days: int, *, now: datetime, actor: str
) -> ErasureSummary:
    """The retention rule: erase every lead with no score and no feedback for ``days``."""
    if days < 1:
        raise ValueError("days must be at least 1")
    stale = store.leads_inactive_since(now - timedelta(days=days))
    return erase(store, settings, stale, actor=actor, reason=ErasureReason.RETENTION)


def scrub_history_files(root: Path, lead_ids: set[str]) -> tuple[dict[str, int], list[Path]]:
    """Remove the rows of ``lead_ids`` from every CSV table with a ``lead_id`` column.

    ``root`` is the home's history folder (``home/data``): the demo's synthetic history
    and any export copied there. Each changed file is rewritten atomically (a temporary
    file, then a rename); other rows are written back unchanged. Returns the rows removed
    per lead and the files changed.
    """
    removed: dict[str, int] = {}
    changed: list[Path] = []
    if not lead_ids or not root.is_dir():
        return removed, changed
    for path in sorted(root.rglob("*.csv")):
        text = path.read_text(encoding="utf-8")
        if len(lead_ids) <= 100 and not any(i in text for i in lead_ids):
            continue  # the common case, without parsing the file
        rows = list(csv.reader(io.StringIO(text, newline="")))
        if not rows or "lead_id" not in rows[0]:
            continue
        col = rows[0].index("lead_id")
        kept = [rows[0]]
        for row in rows[1:]:
            if len(row) > col and row[col] in lead_ids:
                removed[row[col]] = removed.get(row[col], 0) + 1
            else:
                kept.append(row)
        if len(kept) == len(rows):
            continue
        _write_rows(path, kept)
        changed.append(path)
    return removed, changed


GATE_FRAMES = ("test_frame.parquet", "test_frame.csv.gz")
"""File names of the promotion gate's test frame in a run's artifacts, as
``training.registry`` logs them (``TEST_FRAME``, and ``LEGACY_TEST_FRAME`` of runs
logged before the frame was Parquet)."""


def scrub_run_frames(root: Path, lead_ids: set[str]) -> list[Path]:
    """Remove the rows of ``lead_ids`` from every gate test frame under ``root``.

    ``root`` is the local MLflow artifact store (``home/mlartifacts``). The gate's frame is
    the one artifact that keeps a lead id (``docs/privacy.md``); a challenger's frame
    without the erased lead still serves its gate. Each changed file is replaced
    atomically. Returns the files changed.
    """
    import pandas as pd

    changed: list[Path] = []
    if not lead_ids or not root.is_dir():
        return changed
    for name in GATE_FRAMES:
        for path in sorted(root.rglob(name)):
            parquet = name.endswith(".parquet")
            if parquet:
                frame = pd.read_parquet(path)
            else:  # as registry._test_frame reads it: region "NA" stays "NA"
                frame = pd.read_csv(
                    path, dtype={"lead_id": str}, keep_default_na=False, na_values=[""]
                )
            if "lead_id" not in frame:
                continue
            gone = frame["lead_id"].astype(str).isin(lead_ids)
            if not gone.any():
                continue
            kept = frame[~gone]
            if parquet:
                _replace_atomically(path, partial(kept.to_parquet, index=False))
            else:
                _replace_atomically(path, partial(kept.to_csv, index=False, compression="gzip"))
            changed.append(path)
    return changed


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    """Replace ``path`` with ``rows`` as CSV, atomically (the way pandas writes CSV)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)

    _replace_atomically(path, write)


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` anew through ``write(temporary file)``, synced, then renamed over it:
    a reader (or a crash) sees the old file or the new one, never half of either."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
