"""Re-scoring open leads as time passes: cold leads decay, warm ones cross the line.

A lead in nurturing is not scored once and forgotten. Engagement is recency-weighted,
so the same touches count less every day (and after ``stale_after_days`` of silence a
lead is not handed over at all: ``scoring.policy``); new touches (sent to
``POST /v1/score``) count more. :func:`rescore_open_leads` takes every lead the
lifecycle (``scoring.lifecycle``) says is open — nurtured, returned to nurture or
rejected "not yet" (``too_early``, ``no_budget``, ...), or handed over without a sales
decision yet — re-scores it as of a new moment from the snapshot the decision log kept
(its fields and touch timeline), stores the new decisions, and reports who crossed the
threshold either way. The command reads only the open leads' latest decisions from the
store (:meth:`serving.storage.Store.open_lead_decisions`: the lifecycle replayed only for
leads that have feedback and are not certainly closed, ``serving.store.closed_leads``);
:func:`open_leads` on whole frames is the reference it is tested against. Leads scored
``disqualify`` last are left alone: nurturing will not fix their fit. ``leadscore
rescore`` (:func:`rescore`) runs it on the serving store with the champion.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.options import open_store, progress
from scoring.settings import Settings
from serving.collector import few_collections

if TYPE_CHECKING:  # the model, pandas and the lifecycle load when leads are re-scored,
    # not when the ``leadscore`` application loads for another command (or ``--help``)
    import pandas as pd

    from scoring.lifecycle import Stage
    from scoring.model import LeadScorer

CHUNK = 2_000
"""Leads scored at a time by :func:`rescore_leads`."""


@dataclass
class Crossing:
    lead_id: str
    before: str
    after: str
    p_won_before: float
    p_won_after: float


def lead_stages(decisions: pd.DataFrame, feedback: pd.DataFrame) -> dict[str, Stage]:
    """Each scored lead's lifecycle stage, replaying its scores and feedback."""
    from scoring.lifecycle import replay_tables

    return {lead: done.state.stage for lead, done in replay_tables(decisions, feedback).items()}


def open_leads(decisions: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """Latest decision per lead, for leads whose lifecycle stage is open (nurture, handed)."""
    from scoring.lifecycle import OPEN_STAGES

    if decisions.empty:
        return decisions
    latest = decisions.sort_values("scored_at").drop_duplicates("lead_id", keep="last")
    stages = lead_stages(decisions, feedback)
    is_open = latest["lead_id"].map(lambda lead: stages[lead] in OPEN_STAGES)
    return latest[is_open.astype(bool) & (latest["decision"] != "disqualify")]


def rescore_open_leads(
    scorer: LeadScorer,
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    as_of: datetime,
    model_version: str,
    model_name: str = "leadscore",
) -> tuple[list[Crossing], list[dict[str, Any]]]:
    """Re-score open leads at ``as_of``; return threshold crossings and new decision rows.

    From the whole log and feedback in memory: the reference that
    :meth:`serving.storage.Store.open_lead_decisions` (what ``leadscore rescore`` reads)
    is tested against.
    """
    return rescore_leads(scorer, open_leads(decisions, feedback), as_of, model_version, model_name)


def rescore_leads(
    scorer: LeadScorer,
    leads: pd.DataFrame,
    as_of: datetime,
    model_version: str,
    model_name: str = "leadscore",
) -> tuple[list[Crossing], list[dict[str, Any]]]:
    """Re-score ``leads`` (latest decisions of open leads) at ``as_of``: crossings and rows.

    In chunks of :data:`CHUNK` leads: the reasons' SHAP values for ten thousand leads at
    once would hold more memory than the rest of the run.
    """
    from serving.decision_log import build_outputs

    request_id = uuid.uuid4().hex
    crossings: list[Crossing] = []
    rows: list[dict[str, Any]] = []
    for start in range(0, len(leads), CHUNK):
        part = leads.iloc[start : start + CHUNK]
        records = []
        for lead_id, features in zip(part["lead_id"], part["features"], strict=True):
            record = {k: v for k, v in features.items() if k != "as_of"}
            record["lead_id"] = lead_id
            record["touches"] = features.get("touches") or []
            records.append(record)
        moments = [as_of] * len(records)
        scores = scorer.score_records(records, moments, reasons=3)
        results, new_rows = build_outputs(
            scorer, records, moments, scores, model_name, model_version, request_id
        )
        rows += new_rows
        crossings += [
            Crossing(
                result["lead_id"],
                before.decision,
                result["decision"],
                before.p_won,
                result["p_won"],
            )
            for result, before in zip(results, part.itertuples(), strict=True)
            if (result["decision"] == "hand_to_sales") != (before.decision == "hand_to_sales")
        ]
    return crossings, rows


def rescore(
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this moment (ISO); default: now")
    ] = None,
) -> None:
    """Re-score open leads (nurtured or awaiting sales) and list who crossed the threshold."""
    # the collector set for a long batch (serving.collector): a sixth of the CPU otherwise
    with few_collections() as loaded:
        _rescore(as_of, loaded)


def _rescore(as_of: str | None, loaded: Callable[[], None]) -> None:
    """:func:`rescore`'s work; ``loaded()`` once the model and the store are open."""
    import tempfile

    import pandas as pd

    from scoring.model import LeadScorer
    from scoring.registry_client import CHAMPION, download_scorer, resolve_version, use_store
    from serving.future_times import time_bound

    settings = Settings()
    now = pd.Timestamp.now(tz="UTC")
    moment = pd.Timestamp(as_of or now)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment
    latest, message = time_bound(now.to_pydatetime(), settings.clock_skew)
    if moment > latest:  # the API's rule: a decision as of the future cannot be true
        raise typer.BadParameter(message, param_hint="--as-of")
    settings.ensure_home()
    client = use_store(settings)
    version = resolve_version(client, settings, CHAMPION)
    if version is None:
        raise typer.BadParameter("no champion registered yet: run `leadscore train --promote`")
    with tempfile.TemporaryDirectory() as tmp:
        scorer = LeadScorer.load(download_scorer(settings, version, Path(tmp)))
    store = open_store()
    loaded()
    # only the open leads' latest decisions, not the whole log (serving.store.open_leads),
    # a batch at a time: each batch's re-scores are stored before the next is read
    crossings: list[Crossing] = []
    count = events = 0
    for leads in store.open_lead_batches(CHUNK):
        crossed, rows = rescore_leads(
            scorer, leads, moment.to_pydatetime(), version, settings.model_name
        )
        # the crossings' events for webhook subscribers go in the same transaction
        # (docs/webhooks.md): run again, a lead compares with this run's decision
        events += store.record_decisions(rows)
        crossings += crossed
        count += len(rows)
    progress(f"re-scored {count} open leads as of {moment.isoformat()} with v{version}")
    for c in crossings:
        arrow = "↑ now hand to sales" if c.after == "hand_to_sales" else f"↓ now {c.after}"
        typer.echo(f"  {c.lead_id}: P(won) {c.p_won_before:.3f} → {c.p_won_after:.3f}  {arrow}")
    progress(f"{len(crossings)} crossed the threshold")
    if events:
        progress(f"{events} event(s) queued for webhook subscribers (docs/webhooks.md)")
