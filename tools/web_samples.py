"""Write the web-analytics sample files in ``training/samples/`` (docs/web-analytics.md).

    PYTHONPATH=. python -m tools.web_samples            # rewrite them (same seed, same bytes)

A small synthetic CRM history (``training.synthetic``, 200 leads) is split the way a
company with two sites sees it: the leads of the Russian site were tracked by Yandex
Metrika, those of the international site by GA4. Their web touches (page views, pricing
page views, downloads, forms, demo requests) leave the CRM's ``touches.csv`` and become
rows of a Metrika Logs API export (``metrika_visits.tsv``, ``metrika_hits.tsv``) or of a
GA4 BigQuery export (``ga4_events.jsonl``), in the documented field names and shapes,
with UTM tags from each touch's channel. What the CRM keeps: e-mail, webinar, chat and
call touches. Visitors who never became leads, goals and events the mapping does not list
and leads whose form did not capture a client id are there too, as in a real export.
The synthetic generator plants the real link between engagement and conversion, so a
model trained with the joined touches has something to find in them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from training.synthetic import generate

OUT = Path(__file__).resolve().parent.parent / "training" / "samples"
SEED = 16
N_LEADS = 200
WEB_TYPES = ("page_view", "pricing_page_view", "content_download", "form_submit", "demo_request")
MSK = ZoneInfo("Europe/Moscow")
COUNTER_ID = "52871034"
GOALS = {
    "demo_request": "318467201",
    "form_submit": "318467202",
    "content_download": "318467203",
}
UNLISTED_GOAL = "318467299"  # "3 pages viewed": a goal the mapping does not list
GA4_EVENTS = {
    "demo_request": "generate_lead",
    "form_submit": "form_submit",
    "content_download": "file_download",
}
PAGES = ["/", "/product/", "/product/integrations/", "/blog/lead-scoring-101/", "/customers/"]
LANDING = {
    "pricing_page_view": "/pricing/",
    "content_download": "/resources/whitepaper-b2b-funnel/",
    "form_submit": "/contacts/",
    "demo_request": "/demo/",
}
UTM = {  # touch channel -> (utm_source, utm_medium) or the Metrika traffic source alone
    "paid_search": ("yandex", "cpc"),
    "paid_social": ("vk", "cpc"),
    "email": ("sendsay", "email"),
    "webinar": ("webinar", "webinar"),
    "partner": ("partner_portal", "partner"),
    "content": ("habr", "social"),
}
NO_UTM = {"seo": "organic", "direct": "direct", "referral": "referral", "event": "direct"}
GA4_NO_UTM = {"seo": ("google", "organic"), "referral": ("partner-blog.com", "referral")}


def main() -> None:
    rng = np.random.default_rng(SEED)
    history = generate(N_LEADS, months=12, seed=SEED)
    leads = history.leads.copy()
    n = len(leads)
    site = np.where(rng.random(n) < 0.5, "ru", "com")
    captured = rng.random(n) < 0.85  # the form's hidden field got the client id
    leads["ym_client_id"] = [
        _ym_client_id(rng, t) if s == "ru" and c else ""
        for s, c, t in zip(site, captured, leads["created_at"], strict=True)
    ]
    leads["ga_client_id"] = [
        _ga_client_id(rng, t) if s == "com" and c else ""
        for s, c, t in zip(site, captured, leads["created_at"], strict=True)
    ]
    leads["user_id"] = [
        f"u-{10000 + i}" if s == "com" and c and rng.random() < 0.6 else ""
        for i, (s, c) in enumerate(zip(site, captured, strict=True))
    ]
    touches = history.touches.merge(leads[["lead_id", "mql_at", "created_at"]], on="lead_id")
    age = (touches["mql_at"] - touches["at"]).dt.days
    web = touches["type"].isin(WEB_TYPES)
    kept_web = touches[web & (age <= 60) & (age >= -14)].sort_values("at")
    crm = history.touches[~web.to_numpy()]
    by_id = leads.set_index("lead_id")
    visits: list[dict[str, Any]] = []
    hits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    first_seen: set[str] = set()
    for lead_id, at, kind, channel in zip(
        kept_web["lead_id"], kept_web["at"], kept_web["type"], kept_web["channel"], strict=True
    ):
        lead = by_id.loc[str(lead_id)]
        assert isinstance(lead, pd.Series)  # lead ids are unique
        when, kind, channel = pd.Timestamp(at), str(kind), str(channel)
        if lead["ym_client_id"]:
            _metrika_visit(rng, visits, hits, lead["ym_client_id"], when, kind, channel, lead)
        elif lead["ga_client_id"]:
            _ga4_session(rng, events, first_seen, lead, when, kind, channel)
    # visitors who never became leads (most of a site's traffic)
    lo, hi = kept_web["at"].min(), min(kept_web["at"].max(), history.snapshot_at)
    for _ in range(len(visits) // 4):
        at = lo + (hi - lo) * rng.random()
        kind = str(rng.choice(["page_view", "pricing_page_view", "form_submit"], p=[0.7, 0.2, 0.1]))
        channel = str(rng.choice(["seo", "paid_search", "direct"]))
        _metrika_visit(rng, visits, hits, _ym_client_id(rng, at), at, kind, channel, None)
    for _ in range(len(events) // 12):
        at = lo + (hi - lo) * rng.random()
        fake = pd.Series(
            {
                "ga_client_id": _ga_client_id(rng, at),
                "user_id": "",
                "email": "",
                "created_at": None,
            },
            dtype=object,
        )
        fake["created_at"] = at + pd.Timedelta(days=365)
        _ga4_session(rng, events, first_seen, fake, at, "page_view", "seo")
    OUT.mkdir(parents=True, exist_ok=True)
    history.leads = leads
    history.oracle = None
    history.touches = crm.reset_index(drop=True)
    history.save(OUT / "crm")
    _write_tsv(OUT / "metrika_visits.tsv", sorted(visits, key=lambda r: r["ym:s:dateTime"]))
    _write_tsv(OUT / "metrika_hits.tsv", sorted(hits, key=lambda r: r["ym:pv:dateTime"]))
    events.sort(key=lambda e: int(e["event_timestamp"]))
    with (OUT / "ga4_events.jsonl").open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(
        f"wrote {OUT}: {n} leads, {len(crm)} CRM touches, {len(visits)} visits, "
        f"{len(hits)} hits, {len(events)} GA4 events"
    )


def _ym_client_id(rng: np.random.Generator, at: pd.Timestamp) -> str:
    """Metrika's ClientID (the _ym_uid cookie): first-visit Unix time + random digits."""
    first = int(at.timestamp()) - int(rng.integers(86400 * 90, 86400 * 150))
    return f"{first}{rng.integers(10**8, 10**9)}"


def _ga_client_id(rng: np.random.Generator, at: pd.Timestamp) -> str:
    """GA4's user_pseudo_id on the web (the _ga cookie): random number.first-visit time."""
    first = int(at.timestamp()) - int(rng.integers(86400 * 90, 86400 * 150))
    return f"{rng.integers(10**8, 2 * 10**9)}.{first}"


def _utm(channel: str, lead: pd.Series | None) -> tuple[str, str, str]:
    source, medium = UTM.get(channel, ("", ""))
    campaign = ""
    same = lead is not None and lead.get("channel") == channel
    if source and same and lead is not None and isinstance(lead.get("campaign"), str):
        campaign = lead["campaign"]
    elif source:
        campaign = f"{channel}_always_on"
    return source, medium, campaign


def _url(host: str, path: str, utm: tuple[str, str, str]) -> str:
    source, medium, campaign = utm
    query = f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}" if source else ""
    return f"https://{host}{path}{query}"


def _msk(at: pd.Timestamp) -> str:
    return at.tz_convert(MSK).strftime("%Y-%m-%d %H:%M:%S")


def _metrika_visit(
    rng: np.random.Generator,
    visits: list[dict[str, Any]],
    hits: list[dict[str, Any]],
    client: str,
    at: pd.Timestamp,
    kind: str,
    channel: str,
    lead: pd.Series | None,
) -> None:
    """One visit around a touch: its landing hit, maybe a second page, maybe a goal."""
    utm = _utm(channel, lead)
    start = at - pd.Timedelta(seconds=int(rng.integers(20, 400))) if kind in GOALS else at
    landing = LANDING.get(kind, str(rng.choice(PAGES)))
    if kind in GOALS and rng.random() < 0.5:
        landing = str(rng.choice(PAGES))  # came in elsewhere, then went to the form
    pages = [landing]
    if kind in GOALS and landing != LANDING[kind]:
        pages.append(LANDING[kind])
    elif rng.random() < 0.3:
        pages.append(str(rng.choice(PAGES)))
    watch_ids = []
    visit_id = str(rng.integers(10**18, 9 * 10**18))
    for i, path in enumerate(pages):
        when = start + pd.Timedelta(seconds=40 * i)
        watch = str(rng.integers(10**18, 9 * 10**18))
        watch_ids.append(watch)
        tags = utm if i == 0 else ("", "", "")
        hits.append(
            {
                "ym:pv:watchID": watch,
                "ym:pv:counterID": COUNTER_ID,
                "ym:pv:date": _msk(when)[:10],
                "ym:pv:dateTime": _msk(when),
                "ym:pv:title": _title(path),
                "ym:pv:URL": _url("example.ru", path, tags),
                "ym:pv:referer": "" if i == 0 else _url("example.ru", pages[i - 1], ("", "", "")),
                "ym:pv:UTMSource": tags[0],
                "ym:pv:UTMMedium": tags[1],
                "ym:pv:UTMCampaign": tags[2],
                "ym:pv:clientID": client,
                "ym:pv:isPageView": "1",
                "ym:pv:goalsID": "[]",
            }
        )
    goals: list[tuple[str, pd.Timestamp]] = []
    if kind in GOALS:
        goals.append((GOALS[kind], at))
    if len(pages) >= 2 and rng.random() < 0.5:
        goals.append((UNLISTED_GOAL, start + pd.Timedelta(seconds=45)))
    for goal, when in goals:  # a reachGoal call is a hit too, not a page view
        hits.append(
            {
                "ym:pv:watchID": str(rng.integers(10**18, 9 * 10**18)),
                "ym:pv:counterID": COUNTER_ID,
                "ym:pv:date": _msk(when)[:10],
                "ym:pv:dateTime": _msk(when),
                "ym:pv:title": "",
                "ym:pv:URL": f"goal://example.ru/{goal}",
                "ym:pv:referer": _url("example.ru", pages[-1], ("", "", "")),
                "ym:pv:UTMSource": "",
                "ym:pv:UTMMedium": "",
                "ym:pv:UTMCampaign": "",
                "ym:pv:clientID": client,
                "ym:pv:isPageView": "0",
                "ym:pv:goalsID": f"[{goal}]",
            }
        )
    duration = 40 * (len(pages) - 1) + int(rng.integers(5, 200))
    visits.append(
        {
            "ym:s:visitID": visit_id,
            "ym:s:counterID": COUNTER_ID,
            "ym:s:watchIDs": "[" + ",".join(watch_ids) + "]",
            "ym:s:date": _msk(start)[:10],
            "ym:s:dateTime": _msk(start),
            "ym:s:isNewUser": "0",
            "ym:s:startURL": _url("example.ru", pages[0], utm),
            "ym:s:endURL": _url("example.ru", pages[-1], ("", "", "")),
            "ym:s:pageViews": str(len(pages)),
            "ym:s:visitDuration": str(duration),
            "ym:s:bounce": "1" if len(pages) == 1 and duration < 15 else "0",
            "ym:s:clientID": client,
            "ym:s:goalsID": "[" + ",".join(g for g, _ in goals) + "]",
            "ym:s:goalsDateTime": "[" + ",".join(f"'{_msk(w)}'" for _, w in goals) + "]",
            "ym:s:lastTrafficSource": "ad" if utm[1] == "cpc" else NO_UTM.get(channel, "referral"),
            "ym:s:UTMSource": utm[0],
            "ym:s:UTMMedium": utm[1],
            "ym:s:UTMCampaign": utm[2],
            "ym:s:deviceCategory": str(rng.choice(["1", "2"], p=[0.7, 0.3])),
        }
    )


def _title(path: str) -> str:
    return {
        "/": "Главная",
        "/pricing/": "Тарифы",
        "/demo/": "Заказать демо",
        "/contacts/": "Контакты",
    }.get(path, path.strip("/").split("/")[-1].replace("-", " ").capitalize())


def _param(key: str, value: Any) -> dict[str, Any]:
    """One ``event_params`` entry with only the value field that is set (the reader takes
    the NULL ones present too, as Parquet has them); INT64 as a JSON string, as
    BigQuery's JSON export writes it."""
    if isinstance(value, int):
        return {"key": key, "value": {"int_value": str(value)}}
    return {"key": key, "value": {"string_value": value}}


_FIRST_TOUCH: dict[str, dict[str, str]] = {}
_COUNTRIES = ("Germany", "United States", "United Kingdom", "Canada", "France")


def _ga4_session(
    rng: np.random.Generator,
    events: list[dict[str, Any]],
    first_seen: set[str],
    lead: pd.Series,
    at: pd.Timestamp,
    kind: str,
    channel: str,
) -> None:
    """session_start + page_view (+ the conversion event) around one touch."""
    pseudo = str(lead["ga_client_id"])
    session_id = int(at.timestamp()) - int(rng.integers(30, 400))
    start = pd.Timestamp(session_id, unit="s", tz="UTC")
    utm = _utm(channel, lead if "campaign" in lead else None)
    tags = utm if utm[0] else (*GA4_NO_UTM.get(channel, ("(direct)", "(none)")), "")
    path = LANDING.get(kind, str(rng.choice(PAGES))) if kind != "form_submit" else "/contacts/"
    known = at >= lead["created_at"]  # user id and e-mail hash exist once the lead signed up
    props = []
    if known and isinstance(lead.get("email"), str) and lead["email"]:
        digest = hashlib.sha256(lead["email"].strip().lower().encode()).hexdigest()
        micros = str(int(lead["created_at"].timestamp() * 1e6))
        props.append(
            {
                "key": "email_sha256",
                "value": {"string_value": digest, "set_timestamp_micros": micros},
            }
        )
    user_id = lead["user_id"] if known and lead.get("user_id") else None
    number = 1 if pseudo not in first_seen else int(rng.integers(2, 9))
    if pseudo not in _FIRST_TOUCH:
        _FIRST_TOUCH[pseudo] = {"name": tags[2] or "(direct)", "medium": tags[1], "source": tags[0]}
    first_touch = _FIRST_TOUCH[pseudo]
    country = _COUNTRIES[sum(map(ord, pseudo)) % len(_COUNTRIES)]
    names = ["session_start", "page_view"]
    if pseudo not in first_seen:
        names.insert(0, "first_visit")
        first_seen.add(pseudo)
    if kind in GA4_EVENTS:
        names.append(GA4_EVENTS[kind])
    for i, name in enumerate(names):
        when = start + pd.Timedelta(milliseconds=350 * i) if name != GA4_EVENTS.get(kind) else at
        landing = name in ("page_view", "session_start", "first_visit")
        params = [
            _param("ga_session_id", session_id),
            _param("page_location", _url("example.com", path, utm if landing else ("", "", ""))),
        ]
        if name == "page_view":
            params += [_param("ga_session_number", number), _param("page_title", _title(path))]
        if landing and utm[0]:
            params += [
                _param("source", utm[0]),
                _param("medium", utm[1]),
                _param("campaign", utm[2]),
            ]
        if name == "file_download":
            params.append(_param("file_name", "/files/b2b-funnel.pdf"))
        event: dict[str, Any] = {
            "event_date": when.strftime("%Y%m%d"),
            "event_timestamp": str(int(when.timestamp() * 1e6)),
            "event_name": name,
            "event_params": params,
            "user_id": user_id,
            "user_pseudo_id": pseudo,
            "user_properties": props,
            "device": {
                "category": "desktop",
                "operating_system": "Windows",
                "web_info": {"browser": "Chrome", "hostname": "example.com"},
            },
            "geo": {"country": country, "city": ""},
            "traffic_source": first_touch,  # user-scoped: how the user first arrived
            "collected_traffic_source": (
                {"manual_source": utm[0], "manual_medium": utm[1], "manual_campaign_name": utm[2]}
                if landing and utm[0]
                else None
            ),
            "stream_id": "4178093215",
            "platform": "WEB",
            "is_active_user": True,
        }
        events.append({k: v for k, v in event.items() if v is not None})


def _write_tsv(path: Path, rows: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(rows)
    frame.to_csv(path, sep="\t", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
