"""The synthetic CRM history: contract shape, funnel figures, and each planted mechanism.

Every test here can fail: each checks a number the generator could get wrong (a rate, a
direction, an ordering in time), not merely that a frame exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from scoring.contract import (
    COMPANY_SIZES,
    DEPARTMENTS,
    FEEDBACK_COLUMNS,
    LEAD_COLUMNS,
    OUTCOME_COLUMNS,
    REVENUE_BANDS,
    SENIORITIES,
    TOUCH_COLUMNS,
    Channel,
    Outcome,
    RejectionReason,
    SalesDecision,
    TouchType,
)
from training.history import CRMHistory
from training.synthetic import generate

N = 3000
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def history() -> CRMHistory:
    return generate(N, seed=42)


@pytest.fixture(scope="module")
def drift_pair() -> tuple[CRMHistory, CRMHistory]:
    """Same seed with and without drift: the difference is the drift."""
    return generate(6000, seed=5, drift=True), generate(6000, seed=5)


def _first_decisions(h: CRMHistory) -> pd.DataFrame:
    """The first sales decision per lead, joined to the lead's attributes."""
    first = h.feedback.sort_values("at").groupby("lead_id").first()
    return first.join(h.leads.set_index("lead_id"))


def _ever_accepted(h: CRMHistory) -> pd.Series:
    """Per lead with feedback: 1 if sales accepted it at any point (first time or later)."""
    leads = pd.Index(h.feedback["lead_id"].unique())
    accepted = h.feedback.loc[h.feedback["decision"] == SalesDecision.ACCEPTED, "lead_id"]
    return pd.Series(leads.isin(accepted).astype(int), index=leads)


def _pre_mql_age_days(h: CRMHistory) -> pd.DataFrame:
    touches = h.touches.merge(h.leads[["lead_id", "mql_at"]], on="lead_id")
    touches["age_days"] = (touches["mql_at"] - touches["at"]) / DAY
    return touches


# --- shape and contract --------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    a, b, c = generate(800, seed=3), generate(800, seed=3), generate(800, seed=4)
    for name in ("leads", "touches", "feedback", "outcomes"):
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name])
    pd.testing.assert_frame_equal(a.oracle, b.oracle)
    assert a.snapshot_at == b.snapshot_at
    assert not a.leads["industry"].equals(c.leads["industry"])
    assert not np.allclose(a.oracle["p_sql_true"], c.oracle["p_sql_true"])


def test_tables_have_contract_columns_and_dtypes(history: CRMHistory) -> None:
    h = history
    assert list(h.leads.columns) == list(LEAD_COLUMNS)
    assert list(h.touches.columns) == list(TOUCH_COLUMNS)
    assert list(h.feedback.columns) == list(FEEDBACK_COLUMNS)
    assert list(h.outcomes.columns) == list(OUTCOME_COLUMNS)
    assert list(h.oracle.columns) == ["lead_id", "p_sql_true", "p_won_true"]
    for frame, col in [
        (h.leads, "created_at"),
        (h.leads, "mql_at"),
        (h.touches, "at"),
        (h.feedback, "at"),
        (h.outcomes, "closed_at"),
    ]:
        dtype = frame[col].dtype
        assert isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC", col
        assert frame[col].notna().all(), col
    for frame in (h.leads, h.touches, h.feedback, h.outcomes, h.oracle):
        assert pd.api.types.is_string_dtype(frame["lead_id"])
    assert h.leads["consent_email"].dtype == bool and h.leads["consent_phone"].dtype == bool
    assert pd.api.types.is_integer_dtype(h.feedback["contact_attempts"])
    assert pd.api.types.is_float_dtype(h.feedback["first_response_hours"])
    assert pd.api.types.is_float_dtype(h.outcomes["amount"])
    assert h.snapshot_at == pd.Timestamp("2026-07-01", tz="UTC")


def test_lead_ids_and_vocabularies(history: CRMHistory) -> None:
    leads = history.leads
    assert len(leads) == N and leads["lead_id"].is_unique
    assert leads["lead_id"].str.fullmatch(r"L\d{6}").all()
    assert leads["lead_id"].iloc[0] == "L000001"
    vocab = {
        "channel": {c.value for c in Channel},
        "company_size": set(COMPANY_SIZES),
        "revenue_band": set(REVENUE_BANDS),
        "seniority": set(SENIORITIES),
        "department": set(DEPARTMENTS),
        "region": {"NA", "EMEA", "APAC", "LATAM"},
    }
    for col, allowed in vocab.items():
        assert set(leads[col].unique()) <= allowed, col
    assert leads["industry"].nunique() == 10 and "crypto" not in set(leads["industry"])
    assert (leads.groupby("channel")["campaign"].nunique() >= 1).all()
    assert leads["campaign"].str.len().gt(0).all()
    assert leads[["name", "email", "phone", "job_title"]].notna().all().all()
    assert leads["email"].str.fullmatch(r"[a-z.]+@[a-z.]+").all()
    assert leads["phone"].str.fullmatch(r"\+\d{1,3}-555-\d{3}-\d{4}").all()
    assert set(history.touches["type"].unique()) <= {t.value for t in TouchType}
    assert set(history.touches["channel"].unique()) <= {c.value for c in Channel}
    assert set(history.feedback["decision"].unique()) <= {d.value for d in SalesDecision}
    assert set(history.feedback["reason"].dropna().unique()) <= {r.value for r in RejectionReason}
    assert set(history.outcomes["outcome"].unique()) == {o.value for o in Outcome}
    assert history.oracle["p_sql_true"].between(0, 1).all()
    assert (history.oracle["p_won_true"] <= history.oracle["p_sql_true"] + 1e-12).all()


def test_revenue_band_follows_company_size(history: CRMHistory) -> None:
    size = history.leads["company_size"].map(COMPANY_SIZES.index)
    revenue = history.leads["revenue_band"].map(REVENUE_BANDS.index)
    assert np.corrcoef(size, revenue)[0, 1] > 0.7


def test_arrivals_are_seasonal_and_mql_follows_creation(history: CRMHistory) -> None:
    leads = history.leads
    month = leads["created_at"].dt.strftime("%Y-%m")
    assert (month == "2025-08").sum() < 0.7 * (month == "2025-10").sum()
    lag = (leads["mql_at"] - leads["created_at"]) / DAY
    assert lag.gt(0).all() and lag.le(20).all()
    assert leads["created_at"].ge(pd.Timestamp("2025-01-01", tz="UTC")).all()
    assert leads["mql_at"].lt(history.snapshot_at).all()


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        generate(0)
    with pytest.raises(ValueError):
        generate(100, drift_at="2025-06-01")  # drift_at without drift
    with pytest.raises(ValueError):
        generate(100, drift=True, drift_at="2030-01-01")  # outside the window


# --- funnel figures (DOMAIN.md) ---------------------------------------------------------------


def test_funnel_rates_match_the_domain(history: CRMHistory) -> None:
    h = history
    assert 0.25 <= _ever_accepted(h).mean() <= 0.45
    won = h.outcomes["outcome"] == Outcome.WON
    assert 0.18 <= won.mean() <= 0.32
    assert 50_000 <= h.outcomes.loc[won, "amount"].median() <= 100_000
    assert h.outcomes.loc[won, "amount"].gt(0).all()
    assert h.outcomes.loc[~won, "amount"].isna().all()
    assert h.outcomes.loc[won, "loss_reason"].isna().all()
    assert h.outcomes.loc[~won, "loss_reason"].notna().all()
    accepted_at = h.feedback[h.feedback["decision"] == SalesDecision.ACCEPTED].groupby("lead_id")[
        "at"
    ]
    cycle = (h.outcomes.set_index("lead_id")["closed_at"] - accepted_at.max()).dropna() / DAY
    assert len(cycle) == len(h.outcomes)
    assert cycle.gt(0).all()
    assert 70 <= cycle.median() <= 110
    assert h.feedback["first_response_hours"].median() < 8
    assert (h.feedback["first_response_hours"] <= 8).mean() > 0.6


def test_every_rejection_has_a_reason_and_only_rejections_do(history: CRMHistory) -> None:
    fb = history.feedback
    rejected = fb["decision"] == SalesDecision.REJECTED
    assert fb.loc[rejected, "reason"].notna().all()
    assert fb.loc[~rejected, "reason"].isna().all()
    assert set(fb.loc[rejected, "reason"]) == {r.value for r in RejectionReason}
    assert fb["contact_attempts"].between(1, 6).all()
    no_response = fb["reason"] == RejectionReason.NO_RESPONSE
    assert fb.loc[no_response, "contact_attempts"].ge(3).all()
    assert fb["comment"].notna().mean() > 0.5 and fb["comment"].isna().any()


# --- planted mechanisms ----------------------------------------------------------------------


def test_not_icp_is_caused_by_low_fit_industries(history: CRMHistory) -> None:
    first = _first_decisions(history)
    not_icp = (first["reason"] == RejectionReason.NOT_ICP).groupby(first["industry"]).mean()
    weak = not_icp[["government", "education"]].mean()
    strong = not_icp[["software", "fintech", "healthcare"]].mean()
    assert weak > 2.5 * strong


def test_no_budget_is_caused_by_small_companies(history: CRMHistory) -> None:
    first = _first_decisions(history)
    small = first["company_size"].isin(["1-10", "11-50"])
    large = first["company_size"].isin(["201-500", "501-1000", "1001-5000", "5001+"])
    no_budget = first["reason"] == RejectionReason.NO_BUDGET
    assert no_budget[small].mean() > 3 * no_budget[large].mean()


def test_competitor_won_is_more_likely_in_competitive_industries(history: CRMHistory) -> None:
    first = _first_decisions(history)
    competitor = first["reason"] == RejectionReason.COMPETITOR_WON
    crowded = first["industry"].isin(["retail", "telecom"])
    assert competitor[crowded].mean() > 1.5 * competitor[~crowded].mean()


def test_too_early_leads_were_quiet_in_the_last_14_days(history: CRMHistory) -> None:
    touches = _pre_mql_age_days(history)
    recent = touches[touches["age_days"].between(0, 14, inclusive="neither")]
    recent_count = recent.groupby("lead_id").size().reindex(history.leads["lead_id"], fill_value=0)
    first = _first_decisions(history)
    too_early = first.index[first["reason"] == RejectionReason.TOO_EARLY]
    others = first.index[first["reason"] != RejectionReason.TOO_EARLY]
    assert recent_count[too_early].mean() < 0.8 * recent_count[others].mean()
    # ...but their fit is not the problem: not_icp leads sit in weaker segments
    software = (first["industry"] == "software").groupby(first["reason"].fillna("-")).mean()
    assert software[RejectionReason.TOO_EARLY] > software[RejectionReason.NOT_ICP]


def test_recent_engagement_counts_more_than_old_engagement(history: CRMHistory) -> None:
    """Same amount of pre-MQL activity: mostly-recent leads beat mostly-old ones.

    Matching on the touch count takes intent (how much a lead does) out of the
    comparison and leaves timing. Without recency weighting the gap shrinks to ~0.05.
    """
    touches = _pre_mql_age_days(history)
    ids = history.leads["lead_id"]
    pre = touches[touches["age_days"] > 0]
    total = pre.groupby("lead_id").size().reindex(ids, fill_value=0).to_numpy()
    recent = pre[pre["age_days"] < 14].groupby("lead_id").size().reindex(ids, fill_value=0)
    share = recent.to_numpy() / total
    p_sql = history.oracle.set_index("lead_id")["p_sql_true"].reindex(ids).to_numpy()
    same_activity = (total >= 5) & (total <= 9) & (p_sql > 0)
    mostly_recent = p_sql[same_activity & (share >= 0.7)]
    mostly_old = p_sql[same_activity & (share <= 0.4)]
    assert min(len(mostly_recent), len(mostly_old)) > 100
    assert mostly_recent.mean() > mostly_old.mean() + 0.1


def test_some_too_early_leads_come_back_and_are_accepted_later(history: CRMHistory) -> None:
    fb = history.feedback.sort_values(["lead_id", "at"])
    too_early = fb[fb["reason"] == RejectionReason.TOO_EARLY].set_index("lead_id")["at"]
    later = fb[fb["decision"] == SalesDecision.ACCEPTED].set_index("lead_id")["at"]
    back = later.reindex(too_early.index).dropna()
    share = len(back) / len(too_early)
    assert 0.2 <= share <= 0.6  # ~40 % come back, minus those still to come at the snapshot
    gap = (back - too_early[back.index]) / DAY
    assert gap.between(30, 160).all()
    # they re-engaged: new touches between the rejection and the comeback
    touches = history.touches.merge(too_early.rename("rejected_at"), on="lead_id")
    touches = touches.merge(back.rename("back_at"), on="lead_id")
    burst = touches[(touches["at"] > touches["rejected_at"]) & (touches["at"] < touches["back_at"])]
    assert burst["lead_id"].nunique() == len(back)
    # and some of them win
    wins = history.outcomes[history.outcomes["outcome"] == Outcome.WON]["lead_id"]
    assert wins.isin(back.index).any()


def test_duplicates_are_copies_of_earlier_leads(history: CRMHistory) -> None:
    leads = history.leads.set_index("lead_id")
    dups = history.feedback.loc[history.feedback["reason"] == RejectionReason.DUPLICATE, "lead_id"]
    assert 0.01 <= len(dups) / N <= 0.035
    first_seen = leads.reset_index().groupby("email")["lead_id"].min()
    assert (first_seen.reindex(leads.loc[dups, "email"]).to_numpy() < dups.to_numpy()).all()


def test_oracle_ranks_and_is_calibrated(history: CRMHistory) -> None:
    h = history
    oracle = h.oracle.set_index("lead_id")
    sql = _ever_accepted(h)
    assert roc_auc_score(sql, oracle.loc[sql.index, "p_sql_true"]) > 0.75
    mature = h.leads.loc[h.leads["mql_at"] < h.snapshot_at - 300 * DAY, "lead_id"]
    won = mature.isin(h.outcomes.loc[h.outcomes["outcome"] == Outcome.WON, "lead_id"])
    assert roc_auc_score(won, oracle.loc[mature, "p_won_true"]) > 0.75
    # calibrated: decisions and comebacks are drawn from exactly these probabilities
    settled = h.leads.loc[h.leads["mql_at"] < h.snapshot_at - 200 * DAY, "lead_id"]
    observed = settled.isin(h.feedback.loc[h.feedback["decision"] == "accepted", "lead_id"])
    assert abs(observed.mean() - oracle.loc[settled, "p_sql_true"].mean()) < 0.04


# --- time: snapshot and point-in-time --------------------------------------------------------


def test_nothing_happens_after_the_snapshot(history: CRMHistory) -> None:
    h = history
    assert h.feedback["at"].le(h.snapshot_at).all()
    assert h.outcomes["closed_at"].le(h.snapshot_at).all()
    assert h.touches["at"].le(h.snapshot_at).all()
    # censoring is real: SQLs of the last months are mostly still open
    accepted = h.feedback[h.feedback["decision"] == SalesDecision.ACCEPTED]
    late = accepted.loc[accepted["at"] > h.snapshot_at - 60 * DAY, "lead_id"]
    assert late.isin(h.outcomes["lead_id"]).mean() < 0.2
    assert h.outcomes["lead_id"].isin(accepted["lead_id"]).all()
    assert h.outcomes["lead_id"].is_unique


def test_feedback_comes_after_mql_and_touches_exist_on_both_sides(history: CRMHistory) -> None:
    h = history
    fb = h.feedback.merge(h.leads[["lead_id", "mql_at"]], on="lead_id")
    assert (fb["at"] > fb["mql_at"]).all()
    touches = _pre_mql_age_days(h)
    before = touches[touches["age_days"] > 0]
    after = touches[touches["age_days"] < 0]
    assert before["lead_id"].nunique() == N  # every lead has at least its MQL trigger
    assert len(after) > 0.2 * len(touches)
    assert (before["age_days"] <= 60).mean() > 0.85
    # post-MQL activity leaks the label: that is what point-in-time tests must catch
    sql = _ever_accepted(h)
    after_n = after.groupby("lead_id").size().reindex(sql.index, fill_value=0)
    assert after_n[sql == 1].mean() > 1.5 * after_n[sql == 0].mean()


# --- drift ------------------------------------------------------------------------------------


def test_drift_degrades_paid_social_and_introduces_crypto(
    drift_pair: tuple[CRMHistory, CRMHistory],
) -> None:
    drifted, stable = drift_pair
    drift_at = drifted.extra["drift_at"]
    assert drift_at == pd.Timestamp("2026-01-01", tz="UTC")  # month 12 of 18
    assert stable.extra["drift_at"] is None

    def paid_social_rate(h: CRMHistory, after: bool) -> float:
        # first-decision acceptance: comebacks of recent leads are still censored
        first = _first_decisions(h)
        period = (first["created_at"] >= drift_at) == after
        paid_social = first.loc[period & (first["channel"] == Channel.PAID_SOCIAL)]
        return float((paid_social["decision"] == SalesDecision.ACCEPTED).mean())

    assert paid_social_rate(drifted, after=True) < paid_social_rate(stable, after=True) - 0.08
    assert paid_social_rate(drifted, after=True) < paid_social_rate(drifted, after=False) - 0.08
    assert abs(paid_social_rate(stable, after=True) - paid_social_rate(stable, after=False)) < 0.1

    crypto = drifted.leads[drifted.leads["industry"] == "crypto"]
    assert crypto["created_at"].ge(drift_at).all()
    assert len(crypto) > 0.05 * (drifted.leads["created_at"] >= drift_at).sum()
    assert "crypto" not in set(stable.leads["industry"])


def test_drift_leaves_the_history_before_the_drift_month_untouched(
    drift_pair: tuple[CRMHistory, CRMHistory],
) -> None:
    drifted, stable = drift_pair
    drift_at = drifted.extra["drift_at"]
    pd.testing.assert_frame_equal(
        drifted.leads[["lead_id", "created_at"]], stable.leads[["lead_id", "created_at"]]
    )
    before = drifted.leads.loc[drifted.leads["created_at"] < drift_at, "lead_id"]
    assert len(before) > 0.5 * len(drifted.leads)
    for name in ("leads", "touches", "feedback", "outcomes"):
        a, b = drifted.tables()[name], stable.tables()[name]
        pd.testing.assert_frame_equal(
            a[a["lead_id"].isin(before)].reset_index(drop=True),
            b[b["lead_id"].isin(before)].reset_index(drop=True),
        )
    after = ~drifted.leads["lead_id"].isin(before)
    assert not drifted.leads.loc[after, "industry"].equals(stable.leads.loc[after, "industry"])


def test_drift_at_can_be_chosen() -> None:
    h = generate(1500, seed=1, drift=True, drift_at="2025-10-01")
    crypto = h.leads[h.leads["industry"] == "crypto"]
    assert len(crypto) > 0
    assert crypto["created_at"].min() >= pd.Timestamp("2025-10-01", tz="UTC")


def test_hidden_drift_changes_acceptance_but_not_what_the_model_sees() -> None:
    kwargs = {
        "months": 6,
        "start": "2026-01-01",
        "seed": 3,
        "drift": True,
        "drift_at": "2026-03-01",
    }
    plain = generate(6_000, **kwargs)
    hidden = generate(6_000, hidden_drift_channel="paid_search", **kwargs)
    # what a model can see at scoring time is identical ...
    pd.testing.assert_frame_equal(plain.leads, hidden.leads)

    def before_mql(history: CRMHistory) -> pd.DataFrame:
        touches = history.touches.merge(history.leads[["lead_id", "mql_at"]], on="lead_id")
        early = touches[touches["at"] < touches["mql_at"]]
        return early[["lead_id", "at", "type"]].reset_index(drop=True)  # the model's inputs

    pd.testing.assert_frame_equal(before_mql(plain), before_mql(hidden))

    # ... but after drift_at sales accepts far fewer paid_search leads
    def acceptance(history: CRMHistory) -> float:
        first = history.feedback.drop_duplicates("lead_id").merge(history.leads, on="lead_id")
        late = first[
            (first["channel"] == "paid_search")
            & (first["mql_at"] >= pd.Timestamp("2026-03-01", tz="UTC"))
        ]
        return float((late["decision"] == "accepted").mean())

    assert acceptance(hidden) < acceptance(plain) / 2
