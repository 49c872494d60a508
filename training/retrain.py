"""Retraining from sales feedback: the loop that makes the next model better.

The training set for a challenger is the CRM history the champion learned from, plus
every lead the server scored (from the decision log, with the features *as serving saw
them*) labelled by the feedback sales sent back through the API. The challenger is
registered, compared with the champion on the most recent mature period by the
promotion gate, and promoted only if it wins; a running server picks the new champion
up by polling the alias (or at once through ``POST /v1/admin/reload``).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from scoring.contract import LEAD_ORDINAL_FEATURES
from scoring.features import LEAD_TIME_FEATURES, TOUCH_FEATURES
from scoring.feedback_tables import crm_tables
from scoring.lifecycle import consistent_feedback
from scoring.settings import Settings
from training.history import CRMHistory
from training.pipeline import Progress, TrainingOutcome, run_training
from training.registry import PromotionDecision, promote
from training.train import TrainConfig


@dataclass
class FeedbackUsed:
    """Which feedback a retrained model saw: logged with the run, for traceability."""

    decisions: int
    leads: int
    feedback_rows: int
    sales_decisions: int
    outcomes: int
    first_at: str | None
    last_at: str | None
    history_overlap: int = 0
    """Served leads whose id is also in the base history: their served row replaces the
    historical one and their feedback is merged. Expected to be 0 unless the history
    export already contains leads the server scored; a large number means colliding ids."""
    after_now: int = 0
    """Decisions and feedback events dated after the run (stored before the API refused
    future times): left out, as events that cannot have happened yet."""
    erased: int = 0
    """Base-history leads left out because they were erased (``serving.erasure``)."""

    def params(self) -> dict[str, Any]:
        return {f"feedback_{k}": v for k, v in self.__dict__.items()}


def served_history(
    decisions: pd.DataFrame, feedback: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, FeedbackUsed]:
    """Turn the decision log and API feedback into contract tables.

    Returns (leads, served_features, feedback, outcomes, summary). A lead's scoring
    moment is its *first* decision — the handoff — so later re-scores do not leak
    what happened after it.
    """
    first = decisions.sort_values("scored_at", kind="stable").drop_duplicates("lead_id")
    # a fixed row order (the log's order within one batch need not be): LightGBM's
    # bagging draws rows by position, so the same data in another order is another model
    first = first.sort_values(["as_of", "lead_id"], kind="stable")
    feature_rows = []
    for lead_id, as_of, features in zip(
        first["lead_id"], first["as_of"], first["features"], strict=True
    ):
        row = {"lead_id": lead_id, **{k: v for k, v in (features or {}).items() if k != "touches"}}
        row["mql_at"] = as_of
        feature_rows.append(row)
    served = pd.DataFrame(feature_rows)
    if served.empty:
        served = pd.DataFrame(columns=["lead_id", "mql_at", "created_at"])
    served["mql_at"] = pd.to_datetime(served["mql_at"], utc=True, format="ISO8601")
    served["created_at"] = pd.to_datetime(
        served.get("created_at", served["mql_at"]), utc=True, errors="coerce", format="ISO8601"
    ).fillna(served["mql_at"])
    # The API accepts what an export's validation would drop; a served lead keeps what the
    # scorer made of it. Scored as of a moment before its created_at, it existed by then
    # (its lead-time features are the served ones); an ordinal value outside the
    # contract's order was scored as missing (``scoring.features`` encodes it as NaN).
    served["created_at"] = served["created_at"].where(
        served["created_at"] <= served["mql_at"], served["mql_at"]
    )
    for col, order in LEAD_ORDINAL_FEATURES.items():
        if col in served.columns:
            served[col] = served[col].where(served[col].isin(order))
    computed = (*TOUCH_FEATURES, *LEAD_TIME_FEATURES)
    leads = served[[c for c in served.columns if c not in computed and c != "as_of"]].copy()
    served_features = served[["lead_id", *[c for c in computed if c in served.columns]]]

    # the lifecycle's reading: rows it refuses left out, implied acceptances made explicit
    fb = consistent_feedback(decisions, feedback)
    sales, outcomes = crm_tables(fb)
    summary = FeedbackUsed(
        decisions=len(decisions),
        leads=len(first),
        feedback_rows=len(fb),
        sales_decisions=len(sales),
        outcomes=len(outcomes),
        first_at=str(fb["at"].min()) if len(fb) else None,
        last_at=str(fb["at"].max()) if len(fb) else None,
    )
    return leads, served_features, sales, outcomes, summary


def without_leads(base: CRMHistory, erased: Container[str]) -> tuple[CRMHistory, int]:
    """``base`` without the leads in ``erased`` (every table), and how many leads went.

    An erased lead may still be in a CRM export the base history was read from; leaving
    it out here is what keeps a retrained model from ever seeing it again. The store's
    rows of a lead scored *after* its erasure (a new consent) are not touched.
    """
    if not erased:
        return base, 0
    gone = base.leads["lead_id"].map(lambda lead_id: lead_id in erased).astype(bool)
    if not gone.any():
        return base, 0
    ids = set(base.leads.loc[gone, "lead_id"])

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[~frame["lead_id"].isin(ids)].reset_index(drop=True)

    return replace(
        base,
        leads=keep(base.leads),
        touches=keep(base.touches),
        feedback=keep(base.feedback),
        outcomes=keep(base.outcomes),
        oracle=None if base.oracle is None else keep(base.oracle),
    ), len(ids)


def merge_feedback(
    base: CRMHistory,
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    now: pd.Timestamp,
    erased: Container[str] = frozenset(),
) -> tuple[CRMHistory, FeedbackUsed]:
    """The base history (less the ``erased`` leads) plus the served leads and feedback.

    Its snapshot is the data's own clock (the latest feedback, outcome or scoring moment,
    or the base export's snapshot), never later than ``now``, the time the run happens:
    a clock ahead of the run would label leads whose outcome is not known yet and leave
    the test period empty.
    """
    now = pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    base, n_erased = without_leads(base, erased)
    # scoring moments and events after the run cannot have happened yet: the API refuses
    # them, but rows stored before it did may hold them
    future_decisions = pd.to_datetime(decisions["as_of"], utc=True) > now
    future_feedback = pd.to_datetime(feedback["at"], utc=True) > now
    decisions, feedback = decisions[~future_decisions], feedback[~future_feedback]
    leads, served_features, sales, outcomes, summary = served_history(decisions, feedback)
    summary.after_now = int(future_decisions.sum() + future_feedback.sum())
    summary.erased = n_erased
    served_ids = set(leads["lead_id"])
    summary.history_overlap = int(base.leads["lead_id"].isin(served_ids).sum())
    merged_leads = pd.concat(
        [base.leads[~base.leads["lead_id"].isin(served_ids)], leads], ignore_index=True
    )
    merged_outcomes = pd.concat([base.outcomes, outcomes], ignore_index=True).drop_duplicates(
        "lead_id", keep="last"
    )
    latest = [base.snapshot_at]
    # the data's own clock (feedback times, scoring moments), not when the server ran
    for frame, col in ((sales, "at"), (outcomes, "closed_at"), (decisions, "as_of")):
        if len(frame):
            latest.append(pd.Timestamp(frame[col].max()))
    history = CRMHistory(
        leads=merged_leads,
        touches=base.touches,
        feedback=pd.concat([base.feedback, sales], ignore_index=True),
        outcomes=merged_outcomes,
        snapshot_at=min(max(latest), now),
        # a generator's truth (synthetic bases only) covers the base leads, not the served
        # ones: a half-NaN oracle would break the evaluation's oracle metrics
        oracle=base.oracle if leads.empty else None,
        extra={**base.extra, "served_features": served_features},
    )
    return history, summary


@dataclass
class RetrainOutcome:
    training: TrainingOutcome
    promotion: PromotionDecision
    feedback: FeedbackUsed


def retrain(
    base: CRMHistory,
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    settings: Settings,
    config: TrainConfig | None = None,
    *,
    now: pd.Timestamp,
    progress: Progress = lambda _: None,
    actor: str = "retrain",
    force: bool = False,
    erased: Container[str] = frozenset(),
) -> RetrainOutcome:
    """Train a challenger on history + served feedback and put it through the gate.

    ``now`` is the run's time (the command line passes the real one, the simulation its
    simulated week's end): the data's clock never goes past it. ``erased`` leads
    (``serving.erasure.ErasedLeads``) are left out of ``base``.
    """
    history, used = merge_feedback(base, decisions, feedback, now=now, erased=erased)
    progress(
        f"feedback: {used.feedback_rows} events on {used.leads} served leads "
        f"({used.first_at} … {used.last_at})"
    )
    if used.erased:
        progress(f"left out: {used.erased} erased leads of the base history")
    if used.after_now:
        progress(f"left out: {used.after_now} scoring moments or events dated after {now}")
    training = run_training(
        history,
        settings,
        config,
        data_source="history+feedback",
        progress=progress,
        extra_params=used.params(),
        extra_tags={"trigger": actor},
        force=force,
    )
    if training.registration is None:
        # refused (training.refusal): the gate must not fall back to an older @challenger
        reason = f"no new challenger: {training.refusal or 'not registered'}"
        decision = PromotionDecision(False, None, None, None, reason, {})
    else:
        decision = promote(settings, training.registration.version, actor=actor)
    progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)
    return RetrainOutcome(training, decision, used)
