"""What ``leadscore demo`` shows on first sign-in: recent leads already scored, and keys.

A freshly trained demo used to open on an empty handoff queue and an empty marketing
page: nothing had been scored yet. :func:`prescore` sends the synthetic history's most
recent MQLs through the scoring API — the same validation, scoring and decision log a
CRM's requests go through, in process before the server starts — so the queue and the
marketing page have leads on them. :func:`sign_in_lines` says, per role, where to sign
in and with which key.

Each lead is scored as of its MQL time, as a live system would have scored it: touches
after that moment are left out (they would be ignored anyway), personal data is not sent
(the request is the funnel simulation's, ``training.simulate.weeks.lead_payload``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

DEMO_LEADS = 300
"""How many of the most recent MQLs the demo scores: a few pages of queue, a few seconds."""

ROLE_PAGES: dict[str, str] = {
    "sales": "/ui/queue",
    "marketing": "/ui/marketing",
    "admin": "/ui/queue",
}
"""Where each role lands after signing in (admin may open both pages)."""


class Poster(Protocol):
    """What :func:`prescore` needs of an HTTP client (a TestClient, an httpx.Client)."""

    def post(self, url: str, *, json: Any, headers: Mapping[str, str]) -> Any: ...


def recent_leads(
    history: Any, n: int = DEMO_LEADS, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The ``n`` most recent MQLs of ``history`` (not after ``now``) as score requests.

    Each is what the funnel simulation sends (``training.simulate.weeks.lead_payload``):
    contract fields without personal data, touches before the MQL time, ``as_of`` = the
    MQL time. Oldest first, so the queue (newest first) opens on the most recent lead.
    """
    from training.simulate.weeks import lead_payload

    leads = history.leads
    mql = pd.to_datetime(leads["mql_at"], utc=True)
    cutoff = pd.Timestamp(now or datetime.now(UTC))
    chosen = leads.loc[mql.notna() & (mql <= cutoff)].assign(mql_at=mql)
    chosen = chosen.sort_values(["mql_at", "lead_id"], kind="stable").tail(n)
    touches = history.touches[history.touches["lead_id"].isin(set(chosen["lead_id"]))]
    by_lead = dict(iter(touches.groupby("lead_id", sort=False)))
    none = history.touches.iloc[0:0]
    return [lead_payload(row, by_lead.get(row["lead_id"], none)) for _, row in chosen.iterrows()]


def prescore(
    client: Poster, api_key: str, leads: Sequence[Mapping[str, Any]], batch_size: int = 200
) -> int:
    """Score ``leads`` through ``POST /v1/score/batch``; return how many were scored.

    Any answer but 200 stops with the API's own message (it names the field, never a
    value): the demo should not start on a half-filled queue without saying why.
    """
    scored = 0
    for batch in _chunks(leads, batch_size):
        response = client.post(
            "/v1/score/batch", json={"leads": list(batch)}, headers={"X-API-Key": api_key}
        )
        if response.status_code != 200:
            raise RuntimeError(f"scoring the demo leads failed: {response.status_code} "
                               f"{response.text[:500]}")  # fmt: skip
        scored += len(response.json()["results"])
    return scored


def prescore_in_process(settings: Any, api_key: str, leads: Sequence[Mapping[str, Any]]) -> int:
    """:func:`prescore` against the app of ``settings``, started in this process (its
    lifespan runs: the champion is loaded, the decision log written and flushed on exit),
    before the real server takes the port."""
    with warnings.catch_warnings():  # starlette's note about its HTTP client, not ours
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    from serving.app import create_app

    with TestClient(create_app(settings)) as client:
        return prescore(client, api_key, leads)


def write_leads_file(leads: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """The demo's leads as a Parquet leads file for ``leadscore score`` (the same requests
    the API scored: touches as the JSON array the API takes, times as ISO 8601 text)."""
    import json

    frame = pd.DataFrame([{**lead, "touches": json.dumps(lead.get("touches") or [])}
                          for lead in leads])  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def sign_in_lines(base: str, keys: Mapping[str, str]) -> list[str]:
    """One line per role: the sign-in link (landing on the role's page) and the key.

    The key is pasted into the sign-in form, not put in the link: a key in a URL ends
    up in access logs and the browser's history.
    """
    links = {
        role: f"{base}/ui/login?next={ROLE_PAGES[role]}" for role in keys if role in ROLE_PAGES
    }
    width = max(map(len, links.values()), default=0)
    return [
        f"  {role + ':':<10} {link:<{width}}  key: {keys[role]}" for role, link in links.items()
    ]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
