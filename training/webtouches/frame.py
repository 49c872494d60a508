"""The shape both readers return, and the one error they raise."""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

import pandas as pd

from scoring.contract import TOUCH_UTM_COLUMNS

JoinKey = Literal["client_id", "user_id", "email_sha256"]
JOIN_KEYS: tuple[str, ...] = get_args(JoinKey)
"""How analytics rows find their lead: the browser's client id (Metrika ``ClientID``,
GA4 ``user_pseudo_id``), the site's own user id (GA4 ``user_id``), or the SHA-256 of the
trimmed, lower-cased e-mail address."""

ANALYTICS_COLUMNS: tuple[str, ...] = (
    "source",  # "metrika" or "ga4"
    "row",  # 1-based data row of the file the touch came from (header not counted)
    *(f"key_{k}" for k in JOIN_KEYS),
    "at",
    "type",
    "channel",
    *TOUCH_UTM_COLUMNS,
)
"""Columns of an analytics touch frame, before the join gives each a ``lead_id``."""


class WebTouchesError(ValueError):
    """An export or touch mapping that does not fit; the message names the file and field
    and never quotes a cell (an analytics export holds URLs, ids and e-mail hashes)."""


def email_sha256(email: object) -> str | None:
    """SHA-256 (hex) of the trimmed, lower-cased address; None for an empty value.

    The usual normalisation for matching hashed e-mails (Google's and Yandex's
    customer-match uploads ask for the same). The address itself is never kept."""
    if email is None or (isinstance(email, float) and pd.isna(email)):
        return None
    text = str(email).strip().lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None


def finish(frame: pd.DataFrame) -> pd.DataFrame:
    """The readers' common output: :data:`ANALYTICS_COLUMNS` in order, text as Python
    objects with None where empty (whatever pandas would infer), ``at`` UTC."""
    out = frame[list(ANALYTICS_COLUMNS)].reset_index(drop=True)
    for col in ANALYTICS_COLUMNS:
        if col not in ("row", "at"):
            values = out[col].astype(object)
            out[col] = values.where(values.notna(), None)
    out["row"] = out["row"].astype("int64")
    out["at"] = pd.to_datetime(out["at"], utc=True)
    return out


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in ANALYTICS_COLUMNS})
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["row"] = frame["row"].astype("int64")
    return frame
