"""Web-analytics touches: the Metrika and GA4 sample exports import into typed, timed
touches with their UTM tags, join to leads by each key, count what matches no lead, and a
model trained on the joined history uses them (issue 16, item 3).

Expected values are recomputed from the sample files themselves (a goal's time from its
``ym:s:goalsDateTime`` cell, a user id from the leads file), never copied from a run.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.contract import TOUCH_COLUMNS, TOUCH_UTM_COLUMNS
from training.history import CRMHistory
from training.validate import validate_history
from training.webtouches import (
    WebTouchesError,
    join_touches,
    load_touch_mapping,
    read_ga4,
    read_history,
    read_metrika,
)
from training.webtouches.ga4 import param_values
from training.webtouches.metrika import parse_array

SAMPLES = Path(__file__).resolve().parents[2] / "training" / "samples"
VISITS = SAMPLES / "metrika_visits.tsv"
HITS = SAMPLES / "metrika_hits.tsv"
GA4 = SAMPLES / "ga4_events.jsonl"
MSK = "Europe/Moscow"


@pytest.fixture(scope="module")
def mapping():  # type: ignore[no-untyped-def]
    return load_touch_mapping()


@pytest.fixture(scope="module")
def visits_tsv() -> pd.DataFrame:
    return pd.read_csv(VISITS, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def hits_tsv() -> pd.DataFrame:
    return pd.read_csv(HITS, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def events() -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in GA4.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def metrika(mapping) -> tuple[pd.DataFrame, Counter[str]]:  # type: ignore[no-untyped-def]
    stats: Counter[str] = Counter()
    return read_metrika(VISITS, HITS, mapping, stats), stats


@pytest.fixture(scope="module")
def ga4(mapping) -> tuple[pd.DataFrame, Counter[str]]:  # type: ignore[no-untyped-def]
    stats: Counter[str] = Counter()
    return read_ga4(GA4, mapping, stats), stats


@pytest.fixture(scope="module")
def history(mapping) -> CRMHistory:  # type: ignore[no-untyped-def]
    return read_history(SAMPLES / "crm", mapping)


def _msk_to_utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_localize(MSK).tz_convert("UTC")


# --- Metrika ---------------------------------------------------------------------------


def test_metrika_goals_become_typed_touches_at_their_goal_time(metrika, visits_tsv, mapping):  # type: ignore[no-untyped-def]
    frame, stats = metrika
    goals = frame[frame["type"].isin(["demo_request", "form_submit", "content_download"])]
    expected = []
    unlisted = 0
    for i, row in visits_tsv.iterrows():
        for goal, when in zip(
            parse_array(row["ym:s:goalsID"]), parse_array(row["ym:s:goalsDateTime"]), strict=True
        ):
            if goal in mapping.metrika.goals:
                touch = mapping.metrika.goals[goal].value
                utm = (row["ym:s:UTMSource"] or None, row["ym:s:UTMCampaign"] or None)
                expected.append((i + 1, touch, _msk_to_utc(when), *utm))
            else:
                unlisted += 1
    got = [
        (r.row, r.type, r.at, r.utm_source, r.utm_campaign)
        for r in goals.itertuples()
        if r.row in {e[0] for e in expected}
    ]
    assert len(expected) > 50 and sorted(got) == sorted(expected)
    assert stats["metrika goals not in the mapping"] == unlisted > 0
    assert frame["at"].dt.tz is not None and str(frame["at"].dt.tz) == "UTC"


def test_metrika_hits_give_page_views_with_their_visits_utm(metrika, hits_tsv, visits_tsv):  # type: ignore[no-untyped-def]
    frame, stats = metrika
    pages = frame[frame["type"].isin(["page_view", "pricing_page_view"])]
    page_hits = hits_tsv[hits_tsv["ym:pv:isPageView"] == "1"]
    assert len(pages) == len(page_hits)
    assert stats["metrika hits that are not page views"] == int(
        (hits_tsv["ym:pv:isPageView"] == "0").sum()
    )
    pricing = page_hits["ym:pv:URL"].str.contains("/pricing/")
    assert (pages["type"] == "pricing_page_view").sum() == pricing.sum() > 0
    # a second page of a tagged visit carries no UTM of its own: it gets the visit's
    visit_of = {
        w: row for _, row in visits_tsv.iterrows() for w in parse_array(row["ym:s:watchIDs"])
    }
    later = page_hits[
        (page_hits["ym:pv:UTMSource"] == "")
        & page_hits["ym:pv:watchID"].map(lambda w: visit_of[w]["ym:s:UTMSource"] != "")
    ]
    assert len(later) > 5
    by_row = pages.set_index("row")
    for pos, hit in later.iterrows():
        visit = visit_of[hit["ym:pv:watchID"]]
        touch = by_row.loc[pos + 1]
        assert (touch["utm_source"], touch["utm_medium"], touch["utm_campaign"]) == (
            visit["ym:s:UTMSource"],
            visit["ym:s:UTMMedium"],
            visit["ym:s:UTMCampaign"],
        )
        assert touch["at"] == _msk_to_utc(hit["ym:pv:dateTime"])


def test_metrika_without_hits_counts_each_visit_once_by_its_landing_page(mapping, visits_tsv):  # type: ignore[no-untyped-def]
    frame = read_metrika(VISITS, None, mapping)
    pages = frame[frame["type"].isin(["page_view", "pricing_page_view"])]
    assert len(pages) == len(visits_tsv)
    landing_pricing = visits_tsv["ym:s:startURL"].str.contains("/pricing/")
    assert (pages["type"] == "pricing_page_view").sum() == landing_pricing.sum()
    untagged = visits_tsv["ym:s:UTMSource"] == ""
    organic = untagged & (visits_tsv["ym:s:lastTrafficSource"] == "organic")
    assert (pages.loc[organic.to_numpy(), "channel"] == "seo").all() and organic.any()


def test_metrika_export_missing_a_field_is_named(tmp_path: Path, mapping, visits_tsv) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "visits.tsv"
    visits_tsv.drop(columns=["ym:s:startURL"]).head(5).to_csv(path, sep="\t", index=False)
    with pytest.raises(WebTouchesError, match=r"visits.tsv: missing ym:s:startURL"):
        read_metrika(path, None, mapping)


# --- GA4 --------------------------------------------------------------------------------


def test_ga4_events_become_touches_with_session_utm(ga4, events, mapping):  # type: ignore[no-untyped-def]
    frame, stats = ga4
    names = Counter(e["event_name"] for e in events)
    assert (frame["type"] == "demo_request").sum() == names["generate_lead"] > 0
    assert (frame["type"] == "content_download").sum() == names["file_download"] > 0
    assert frame["type"].isin(["page_view", "pricing_page_view"]).sum() == names["page_view"]
    not_touches = sum(v for k, v in names.items() if k not in {"page_view", *mapping.ga4.events})
    assert stats["ga4 events that are not touches"] == not_touches >= names["session_start"] > 0
    by_row = frame.set_index("row")
    sessions: dict[tuple[str, str], str] = {}
    checked = 0
    for row, event in enumerate(events, start=1):
        params = param_values(event["event_params"])
        session = (event["user_pseudo_id"], str(params["ga_session_id"]))
        if "source" in params:
            sessions.setdefault(session, params["source"])
        if event["event_name"] != "generate_lead":
            continue
        touch = by_row.loc[row]
        assert touch["at"] == pd.Timestamp(int(event["event_timestamp"]), unit="us", tz="UTC")
        assert touch["key_client_id"] == event["user_pseudo_id"]
        assert "collected_traffic_source" not in event  # the tag is only on the landing
        expected = sessions.get(session)
        if expected is None:
            assert pd.isna(touch["utm_source"])
        else:
            assert touch["utm_source"] == expected
            checked += 1
    assert checked > 3


def test_ga4_parquet_reads_the_same_as_ndjson(tmp_path: Path, ga4, events, mapping) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "events_20250101.parquet"
    # the schema from every row (from_pylist would take the first row's keys only)
    pq.write_table(pa.Table.from_struct_array(pa.array(events)), path)
    from_parquet = read_ga4(path, mapping)
    pd.testing.assert_frame_equal(from_parquet, ga4[0])


def test_ga4_line_that_is_not_json_is_named(tmp_path: Path, mapping) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "events.jsonl"
    path.write_text(GA4.read_text("utf-8").splitlines()[0] + "\n{broken\n", "utf-8")
    with pytest.raises(WebTouchesError, match=r"events.jsonl, line 2: not JSON"):
        read_ga4(path, mapping)


# --- the join ----------------------------------------------------------------------------


def test_client_id_join_matches_each_export_to_its_own_column(history, metrika, ga4, mapping):  # type: ignore[no-untyped-def]
    joined, report = join_touches(
        history, {"metrika": metrika[0], "ga4": ga4[0]}, "client_id", mapping
    )
    leads = history.leads
    ym = dict(zip(leads["ym_client_id"], leads["lead_id"], strict=True))
    ga = dict(zip(leads["ga_client_id"], leads["lead_id"], strict=True))
    ym.pop("", None), ga.pop("", None)
    m_ids, g_ids = metrika[0]["key_client_id"], ga4[0]["key_client_id"]
    assert report.sources["metrika"].joined == int(m_ids.isin(ym).sum()) > 100
    assert report.sources["ga4"].joined == int(g_ids.isin(ga).sum()) > 100
    assert report.sources["metrika"].unmatched == int((~m_ids.isin(ym)).sum()) > 0
    assert report.sources["metrika"].unmatched_ids == m_ids[~m_ids.isin(ym)].nunique()
    assert report.sources["ga4"].unmatched_ids == g_ids[~g_ids.isin(ga)].nunique() > 0
    assert report.leads_matched == len(set(ym.values()) & set(joined.touches["lead_id"])) + len(
        {ga[k] for k in set(g_ids) & set(ga)}
    )
    # leads no analytics row matched keep exactly their CRM touches
    web = joined.touches.iloc[len(history.touches) :]
    untouched = set(leads["lead_id"]) - set(web["lead_id"])
    assert len(untouched) > 20
    before = history.touches[history.touches["lead_id"].isin(untouched)].reset_index(drop=True)
    after = joined.touches[joined.touches["lead_id"].isin(untouched)].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        after[list(TOUCH_COLUMNS)], before[list(TOUCH_COLUMNS)], check_dtype=False
    )
    # every joined touch keeps its UTM columns; tagged ones come with a contract channel
    assert list(joined.touches.columns) == [*TOUCH_COLUMNS, *TOUCH_UTM_COLUMNS]
    tagged = web[web["utm_medium"] == "cpc"]
    assert len(tagged) and tagged["channel"].isin(["paid_search", "paid_social"]).all()


def test_user_id_and_email_keys(history, metrika, ga4, mapping):  # type: ignore[no-untyped-def]
    analytics = {"metrika": metrika[0], "ga4": ga4[0]}
    leads = history.leads
    by_user = dict(zip(leads["user_id"], leads["lead_id"], strict=True))
    by_user.pop("", None)
    joined, report = join_touches(history, analytics, "user_id", mapping)
    web = joined.touches.iloc[len(history.touches) :]
    users = ga4[0]["key_user_id"]
    assert report.sources["ga4"].joined == int(users.isin(by_user).sum()) == len(web) > 20
    assert report.sources["metrika"].without_key == len(metrika[0])  # Metrika has no user id
    assert set(web["lead_id"]) == {by_user[u] for u in users.dropna()}

    hashed: dict[str, set[str]] = {}  # a duplicate lead shares its e-mail with another
    for e, i in zip(leads["email"], leads["lead_id"], strict=True):
        hashed.setdefault(hashlib.sha256(e.strip().lower().encode()).hexdigest(), set()).add(i)
    by_mail, mail_report = join_touches(history, analytics, "email_sha256", mapping)
    web = by_mail.touches.iloc[len(history.touches) :]
    hashes = ga4[0]["key_email_sha256"].dropna()
    assert mail_report.sources["ga4"].joined == len(web) >= int(hashes.isin(hashed).sum()) > 20
    assert set(web["lead_id"]) == set().union(*(hashed[h] for h in hashes if h in hashed))
    assert mail_report.shared_keys == sum(len(v) > 1 for v in hashed.values()) > 0
    # the leads may carry the hash instead of the address: same touches, no address needed
    pre_hashed = history.leads.assign(
        email_sha256=[
            hashlib.sha256(e.strip().lower().encode()).hexdigest() for e in leads["email"]
        ]
    ).drop(columns=["email"])
    again, _ = join_touches(
        CRMHistory(
            pre_hashed, history.touches, history.feedback, history.outcomes, history.snapshot_at
        ),
        analytics,
        "email_sha256",
        mapping,
    )
    pd.testing.assert_frame_equal(again.touches, by_mail.touches)
    assert not any("@" in str(v) for v in by_mail.touches.to_numpy().ravel())
    # the hashes were only for the join: the leads table is the one given, nothing added
    pd.testing.assert_frame_equal(by_mail.leads, history.leads)


def test_unknown_key_column_is_named(history, ga4, mapping) -> None:  # type: ignore[no-untyped-def]
    leads = history.leads.drop(columns=["ga_client_id"])
    bare = CRMHistory(
        leads, history.touches, history.feedback, history.outcomes, history.snapshot_at
    )
    with pytest.raises(WebTouchesError, match=r"no 'ga_client_id' column"):
        join_touches(bare, {"ga4": ga4[0]}, "client_id", mapping)
    with pytest.raises(WebTouchesError, match=r"join key 'phone'"):
        join_touches(history, {"ga4": ga4[0]}, "phone", mapping)


def test_touch_mapping_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("name: site\nga4: {events: {generate_lead: lead_magnet}}\n", "utf-8")
    with pytest.raises(WebTouchesError, match=r"ga4\.events\.generate_lead"):
        load_touch_mapping(path)
    path.write_text("name: site\npages: [{pattern: '(', touch: page_view}]\n", "utf-8")
    with pytest.raises(WebTouchesError, match=r"pages\.0\.pattern"):
        load_touch_mapping(path)


def test_utm_columns_are_saved_but_never_reach_training(tmp_path: Path, history, ga4, mapping):  # type: ignore[no-untyped-def]
    joined, _ = join_touches(history, {"ga4": ga4[0]}, "client_id", mapping)
    loaded = CRMHistory.load(joined.save(tmp_path / "h"))
    assert list(loaded.touches.columns) == [*TOUCH_COLUMNS, *TOUCH_UTM_COLUMNS]
    assert loaded.touches["utm_source"].notna().sum() == joined.touches["utm_source"].notna().sum()
    checked = validate_history(loaded).history
    assert list(checked.touches.columns) == list(TOUCH_COLUMNS)


# --- a model trained on the joined touches uses them ----------------------------------


def test_training_on_joined_touches_uses_them(history, metrika, ga4, mapping):  # type: ignore[no-untyped-def]
    from training.train import TrainConfig, train

    joined, report = join_touches(
        history, {"metrika": metrika[0], "ga4": ga4[0]}, "client_id", mapping
    )
    config = TrainConfig(
        seed=0,
        stages=("sql",),
        maturity_days=0,
        test_days=90,
        valid_days=60,
        min_class_rows=10,
        min_child_samples=10,
        n_estimators=150,
        calibration_folds=3,
    )
    web = ["n_page_view", "n_pricing_page_view", "n_content_download", "n_form_submit"]
    results = {}
    for name, h in (("crm", history), ("joined", joined)):
        result = train(h, config, force=True)
        assert result.info["model_kind"] == "learned"
        stage = result.scorer.stages[0]
        names = result.scorer.feature_names
        importance = {f: float(stage.importance()[names.index(f)]) for f in web}
        results[name] = (result, importance)
    crm, joined_result = results["crm"][0], results["joined"][0]
    # without the analytics the CRM has no web touches: those columns are all zero
    assert (crm.frame[web].to_numpy() == 0).all()
    assert all(v < 1e-9 for v in results["crm"][1].values())  # a constant: float noise only
    # joined: matched leads have web engagement before their MQL, and the model uses it
    matched = set(joined.touches.iloc[len(history.touches) :]["lead_id"])
    rows = joined_result.frame["lead_id"].isin(matched)
    assert (joined_result.frame.loc[rows, web].sum(axis=1) > 0).mean() > 0.8
    assert sum(results["joined"][1].values()) > 0.05
    assert report.leads_matched == len(matched)
    # one stage: p_won is that stage's P(SQL)
    p_crm = crm.scorer.predict_frame(crm.frame)["p_won"].to_numpy()
    p_joined = joined_result.scorer.predict_frame(joined_result.frame)["p_won"].to_numpy()
    assert np.abs(p_crm[rows.to_numpy()] - p_joined[rows.to_numpy()]).mean() > 0.01


def test_scoring_api_accepts_utm_tags_on_touches_and_never_scores_them() -> None:
    from pydantic import ValidationError

    from serving.schemas import ScoreRequest

    touch = {"at": "2025-03-01T10:00:00Z", "type": "pricing_page_view", "channel": "paid_search"}
    tagged = {**touch, "utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "brand"}
    plain = ScoreRequest.model_validate({"lead_id": "L1", "touches": [touch]}).record()
    with_utm = ScoreRequest.model_validate({"lead_id": "L1", "touches": [tagged]}).record()
    # the tags are not features: the scorer reads the same touch, and only the campaign
    # tag is kept beside it, for the attribution report's campaign credit
    assert with_utm["touches"][0].pop("campaign") == "brand"
    assert with_utm == plain
    assert set(with_utm["touches"][0]) == {"at", "type", "channel"}
    with pytest.raises(ValidationError, match=r"touches\.0\.utm_term"):
        ScoreRequest.model_validate({"lead_id": "L1", "touches": [{**touch, "utm_term": "x"}]})
