"""A funnel simulation that proves the loop: weeks of leads, sales, feedback and retraining.

Against a *running* server, week after week:

1. the week's new MQLs (from the synthetic generator, continuing after the 18-month
   history the first champion learned from) are scored through ``POST /v1/score/batch``
   at their MQL time, with the touches they had made by then;
2. a simulated sales team works the leads the server handed over, following the SLA
   (accept/reject within 8 h, first contact within 24 h, ≥3 attempts before
   ``no_response``): what it decides for a lead is what the generator's hidden truth
   says that lead would get; rejected leads go back to nurturing (``too_early`` ones
   may come back and be accepted 30–150 days later); accepted ones close as won or lost
   ~90 days on;
3. every decision and outcome goes back through ``POST /v1/feedback`` in the week it
   happens, with its own timestamp;
4. every ``retrain_every`` weeks, a challenger is trained on history + feedback
   (:func:`training.retrain.retrain`, with :func:`sim_train_config`) and put through the
   promotion gate; the server is told to reload.

Leads the server does not hand over get no sales feedback — as in real life, the loop
only learns from what it sends.

The drift scenario (``drift=True``): from ``drift_week`` on, the leads of
``drift_channel`` (``paid_search``) are silently worse — they look the same (same
campaigns, firmographics and touches) but sales accepts far fewer of them (an
acceptance logit penalty of 3: bought or bot-inflated leads) — and marketing, pleased
with the cheap volume, triples that channel (``drift_volume``: a new lead vendor), so the
bad leads become a third of the MQLs. On top, the generator's own drift: paid-social
quality falls (visible in the features) and a new industry, ``crypto``, appears. A
frozen model keeps handing the vendor's leads over; the loop can learn it only from
the rejections, and no sooner than its weekly clock allows (labels mature for a week,
a week is held out for the gate, a week validates: a challenger trains on feedback up
to three weeks old). ``drift=False`` runs the same weeks without any of it — the same
leads up to the drift — as a control.

Each week's row (:class:`WeekRow`) also carries what only a simulation can know: the
generator's true P(SQL) and P(won) of the handed and the not-handed leads (calibration
where the loop is blind) and the true expected SQLs and wins among the week's top
``capacity`` leads by served P(won) (ranking quality at a fixed volume, comparable
across runs). ``docs/loop.md`` has the figures of the default runs and how to
reproduce them; the same seed gives the same table.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from scoring.settings import Settings
from training.history import CRMHistory
from training.labels import LabelRules
from training.pipeline import Progress, run_training
from training.registry import PromotionDecision, promote
from training.retrain import retrain
from training.synthetic import generate
from training.train import TrainConfig

WEEK = pd.Timedelta(days=7)
SIM_ADMIN_KEY = "lsk_simulation_admin_key_000000000000"


@dataclass
class SimConfig:
    weeks: int = 16
    leads_per_week: int = 300
    base_leads: int | None = None
    """Leads in the 18-month history before the simulation; default: the same weekly rate."""
    seed: int = 11
    drift: bool = True
    drift_week: int = 4
    """The drift starts after this many weeks (leads created from then on)."""
    drift_channel: str = "paid_search"
    """The channel whose leads silently get worse (same look, far fewer accepted)."""
    drift_volume: float = 3.0
    """From the drift on, the drifting channel brings this many times its usual volume
    (a new lead vendor); 1 = the drift without the volume."""
    retrain_every: int = 1
    """Retrain (and gate) every N weeks; 0 freezes the first champion."""
    label_rules: LabelRules = "aware"
    """``aware-provisional``: deferred rejections still in their window count 0 for now."""
    handoff_share: float = 0.3
    """Sales capacity as a share of the daily MQL volume (sets the capacity threshold)."""
    recency_half_life_days: float | None = 28.0
    """Retraining weighs a lead ``0.5 ** (age / half_life)`` (MQL→SQL stage); None = flat."""
    valid_days: int = 7
    """Retraining: the validation period (calibration, capacity threshold, early stopping)."""
    retrain_trees: int = 100
    """Retraining: grow this many trees per stage (about what the first champion's early
    stopping chose on two months of validation) instead of early stopping on a week of
    feedback, 50-130 labelled leads, which picked anything from 4 to 250 trees week to
    week; 0 = early stopping."""
    recover_within: float = 0.05
    """``summarise``: recovered = a 3-week mean acceptance within this of the pre-drift mean."""

    @property
    def history_leads(self) -> int:
        return self.base_leads or int(self.leads_per_week * 78)

    @property
    def daily_capacity(self) -> float:
        return self.handoff_share * self.leads_per_week / 7


@dataclass
class WeekRow:
    week: int
    start: str
    mqls: int
    handoffs: int
    accepted: int
    rejected: int
    acceptance_rate: float
    drift_channel_mqls: int
    drift_channel_handoffs: int
    drift_channel_acceptance: float
    """Acceptance of the drifting channel's handoffs (NaN when it got none)."""
    other_acceptance: float
    """Acceptance of every other channel's handoffs."""
    p_sql_handed: float
    """Mean served P(SQL) of the handed leads, ..."""
    true_p_sql_handed: float
    """... and the generator's true P(SQL) for them (the oracle)."""
    p_sql_rest: float
    """Mean served P(SQL) of the leads *not* handed over (no feedback ever comes for them),
    against ``true_p_sql_rest``: calibration where the loop is blind."""
    true_p_sql_rest: float
    true_won_handed: float
    """Expected won deals from this week's handoffs: the sum of the generator's true
    P(won) over them (most of these deals close after the run; a simulation can know)."""
    true_sql_top: float
    """Expected SQLs among the week's ``capacity`` best leads by served P(won), whatever
    was handed over: ranking quality at a fixed volume, comparable across runs (the
    drifted runs see the same leads every week)."""
    true_won_top: float
    """Expected won deals among the same top leads."""
    won: int
    revenue: float
    model_version: str
    promoted: str = ""
    """After the week, the gate's verdict (:func:`gate_verdict`): ``vN`` (promoted),
    ``kept``, ``not enough evidence``, ``no new challenger`` (the refusal rule), or empty
    (frozen)."""
    gate_rows: int | None = None
    """Labelled leads (known ``y_sql``) in the challenger's test period, where the gate
    compares challenger and champion, and their ``promotion_metric`` there:"""
    gate_challenger: float | None = None
    gate_champion: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Event:
    at: pd.Timestamp
    body: dict[str, Any]
    key: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(settings: Settings, port: int | None = None) -> Iterator[str]:
    """``leadscore serve`` in a child process on loopback; yields its base URL."""
    port = port or free_port()
    env = {
        **os.environ,
        "LEADSCORE_HOME": str(settings.home),
        "LEADSCORE_BOOTSTRAP_ADMIN_KEY": SIM_ADMIN_KEY,
        "LEADSCORE_MODEL_POLL_SECONDS": "0",
        "LEADSCORE_PROMOTION_METRIC": settings.promotion_metric,
    }
    for name in ("tracking_uri", "database_url"):
        value = getattr(settings, name)
        if value:
            env[f"LEADSCORE_{name.upper()}"] = value
    process = subprocess.Popen(
        [sys.executable, "-m", "training.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a busy 2-core machine: imports alone take a while
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited: {(process.stderr.read() if process.stderr else '')[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 300 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _lead_payload(lead: pd.Series, touches: pd.DataFrame) -> dict[str, Any]:
    fields = [
        "lead_id", "channel", "campaign", "industry", "company_size", "country", "region",
        "revenue_band", "seniority", "department", "consent_email", "consent_phone",
    ]  # fmt: skip
    body: dict[str, Any] = {f: (None if pd.isna(lead[f]) else lead[f]) for f in fields}
    for flag in ("consent_email", "consent_phone"):
        if body[flag] is not None:
            body[flag] = bool(body[flag])
    body["created_at"] = lead["created_at"].isoformat()
    body["as_of"] = lead["mql_at"].isoformat()
    body["touches"] = [
        {"at": at.isoformat(), "type": kind}
        for at, kind in zip(touches["at"], touches["type"], strict=True)
        if at < lead["mql_at"]
    ]
    return body


@dataclass
class Simulation:
    """One run of the funnel against a server. See the module docstring."""

    url: str
    settings: Settings
    base: CRMHistory
    config: SimConfig
    progress: Progress = print
    rows: list[WeekRow] = field(default_factory=list)

    def run(self) -> pd.DataFrame:
        cfg = self.config
        start = self.base.snapshot_at.normalize()
        world = simulation_world(cfg, start)
        oracle = world.oracle.set_index("lead_id")
        leads = world.leads.sort_values("mql_at")
        touches = {k: g for k, g in world.touches.groupby("lead_id")}
        no_touches = world.touches.iloc[0:0]
        feedback = world.feedback.sort_values("at")
        outcomes = world.outcomes.set_index("lead_id")
        pending: list[_Event] = []
        http = httpx.Client(base_url=self.url, headers={"X-API-Key": SIM_ADMIN_KEY}, timeout=120)
        store = _store(self.settings)
        for week in range(cfg.weeks):
            w_start, w_end = start + week * WEEK, start + (week + 1) * WEEK
            batch = leads[(leads["mql_at"] >= w_start) & (leads["mql_at"] < w_end)]
            payloads = [
                _lead_payload(row, touches.get(row["lead_id"], no_touches))
                for _, row in batch.iterrows()
            ]
            results: list[dict[str, Any]] = []
            for i in range(0, len(payloads), 1000):
                response = http.post("/v1/score/batch", json={"leads": payloads[i : i + 1000]})
                response.raise_for_status()
                results += response.json()["results"]
            handed = [r["lead_id"] for r in results if r["decision"] == "hand_to_sales"]
            version = results[0]["model"]["version"] if results else "?"
            served = pd.DataFrame(
                {
                    "lead_id": [r["lead_id"] for r in results],
                    "p_sql": [r.get("p_sql") for r in results],
                    "p_won": [r["p_won"] for r in results],
                    "handed": [r["decision"] == "hand_to_sales" for r in results],
                },
                columns=["lead_id", "p_sql", "p_won", "handed"],
            )
            served["p_sql"] = pd.to_numeric(served["p_sql"], errors="coerce")
            served["true_p_sql"] = served["lead_id"].map(oracle["p_sql_true"])
            served["true_p_won"] = served["lead_id"].map(oracle["p_won_true"])
            top = served.nlargest(round(cfg.daily_capacity * 7), "p_won", keep="first")
            first = feedback[feedback["lead_id"].isin(handed)]
            for i, fb in enumerate(first.itertuples()):
                body = {
                    "lead_id": fb.lead_id,
                    "kind": fb.decision,
                    "at": fb.at.isoformat(),
                    "contact_attempts": None
                    if pd.isna(fb.contact_attempts)
                    else int(fb.contact_attempts),
                    "first_response_hours": None
                    if pd.isna(fb.first_response_hours)
                    else float(fb.first_response_hours),
                }
                if fb.decision == "rejected":
                    body["reason"] = fb.reason
                pending.append(
                    _Event(
                        fb.at,
                        {k: v for k, v in body.items() if v is not None},
                        f"sim-{fb.lead_id}-{i}",
                    )
                )
                if fb.decision == "accepted" and fb.lead_id in outcomes.index:
                    deal = outcomes.loc[fb.lead_id]
                    won = deal["outcome"] == "won"
                    outcome = {
                        "lead_id": fb.lead_id,
                        "kind": deal["outcome"],
                        "at": deal["closed_at"].isoformat(),
                    }
                    if won:
                        outcome["amount"] = float(deal["amount"])
                    pending.append(_Event(deal["closed_at"], outcome, f"sim-{fb.lead_id}-deal"))
            due = sorted((e for e in pending if e.at < w_end), key=lambda e: e.at)
            pending = [e for e in pending if e.at >= w_end]
            for event in due:
                response = http.post(
                    "/v1/feedback", json=event.body, headers={"Idempotency-Key": event.key}
                )
                if response.status_code not in (200, 201):
                    raise RuntimeError(
                        f"feedback refused: {response.status_code} {response.text[:300]}"
                    )
            handed_first = first.drop_duplicates("lead_id").merge(
                batch[["lead_id", "channel"]], on="lead_id", how="left"
            )
            accepted = int((handed_first["decision"] == "accepted").sum())
            rejected = int((handed_first["decision"] == "rejected").sum())
            in_drift = handed_first["channel"].eq(cfg.drift_channel)
            closed = [e.body for e in due if e.body["kind"] in ("won", "lost")]
            is_handed = served["handed"].to_numpy(dtype=bool)
            row = WeekRow(
                week=week + 1,
                start=str(w_start.date()),
                mqls=len(batch),
                handoffs=len(handed),
                accepted=accepted,
                rejected=rejected,
                acceptance_rate=_rate(handed_first["decision"]),
                drift_channel_mqls=int(batch["channel"].eq(cfg.drift_channel).sum()),
                drift_channel_handoffs=int(
                    batch[batch["lead_id"].isin(handed)]["channel"].eq(cfg.drift_channel).sum()
                ),
                drift_channel_acceptance=_rate(handed_first.loc[in_drift, "decision"]),
                other_acceptance=_rate(handed_first.loc[~in_drift, "decision"]),
                p_sql_handed=_mean(served.loc[is_handed, "p_sql"]),
                true_p_sql_handed=_mean(served.loc[is_handed, "true_p_sql"]),
                p_sql_rest=_mean(served.loc[~is_handed, "p_sql"]),
                true_p_sql_rest=_mean(served.loc[~is_handed, "true_p_sql"]),
                true_won_handed=round(float(served.loc[is_handed, "true_p_won"].sum()), 2),
                true_sql_top=round(float(top["true_p_sql"].sum()), 2),
                true_won_top=round(float(top["true_p_won"].sum()), 2),
                won=sum(1 for b in closed if b["kind"] == "won"),
                revenue=round(sum(b.get("amount", 0.0) for b in closed), 0),
                model_version=version,
            )
            if cfg.retrain_every and (week + 1) % cfg.retrain_every == 0 and week + 1 < cfg.weeks:
                outcome = retrain(
                    self.base,
                    store.decisions_for_training(),
                    store.feedback_frame(),
                    self.settings,
                    sim_train_config(cfg),
                    now=w_end,  # the simulated run happens at the week's end
                    actor=f"simulation-week-{week + 1}",
                )
                row.promoted = gate_verdict(outcome.promotion)
                gate = outcome.training.result.info["evaluation"].get("sql", {})
                row.gate_rows = int(gate.get("rows", 0))
                scores = outcome.promotion.scores
                row.gate_challenger = _round(scores.get("challenger"))
                row.gate_champion = _round(scores.get("champion"))
                http.post("/v1/admin/reload").raise_for_status()
            self.rows.append(row)
            self.progress(_format_row(row))
        http.close()
        return pd.DataFrame([r.as_dict() for r in self.rows])


def simulation_world(cfg: SimConfig, start: pd.Timestamp) -> CRMHistory:
    """The leads of the simulated weeks (and everything sales will do with them).

    Two generated worlds from one seed derived from ``cfg.seed`` (so neither replays the
    base history's random stream): a calm one (``drift=False``) supplies every lead
    created before the drift, a drifted one (``drift=True``, the hidden drift on
    ``drift_channel``) every lead created after it. The run without the drift uses the
    calm world throughout, so it shares the pre-drift weeks lead for lead and is an exact
    control. Both are generated ``drift_volume`` times larger and thinned back to the
    usual rate, except the drifting channel's leads created after the drift, which are
    all kept: that channel's volume is multiplied by ``drift_volume`` (a new lead vendor)
    while everything else, seasonality included, stays as it was. Lead ids are renumbered
    ``S000001…`` by creation time (the base history's are ``L…``: a served lead must
    never be mistaken for a historical one when feedback is merged).
    """
    months = int(np.ceil(cfg.weeks * 7 / 30.4)) + 1
    boost = max(cfg.drift_volume, 1.0)
    drift_at = start + cfg.drift_week * WEEK
    seed = int(np.random.SeedSequence([cfg.seed, 1]).generate_state(1)[0])
    n_leads = int(cfg.leads_per_week * months * 30.4 / 7 * boost)

    def world(drift: bool) -> CRMHistory:
        return generate(
            n_leads,
            months=months,
            start=str(start.date()),
            seed=seed,
            drift=drift,
            drift_at=str(drift_at.date()) if drift else None,
            hidden_drift_channel=cfg.drift_channel if drift else None,
        )

    def kept(history: CRMHistory, stream: int, after: bool | None) -> pd.Series:
        leads = history.leads
        keep = np.random.default_rng([cfg.seed, stream]).random(len(leads)) < 1.0 / boost
        if after is not None:
            late = (leads["created_at"] >= drift_at).to_numpy()
            if after:
                keep = (keep | (leads["channel"] == cfg.drift_channel).to_numpy()) & late
            else:
                keep &= ~late
        return leads.loc[keep, "lead_id"]

    calm = world(False)
    parts = [(calm, kept(calm, 2, False if cfg.drift else None))]
    if cfg.drift:
        drifted = world(True)
        parts.append((drifted, kept(drifted, 3, True)))
    tables: dict[str, list[pd.DataFrame]] = {t: [] for t in _WORLD_TABLES}
    for part, (history, ids) in enumerate(parts):
        for name in _WORLD_TABLES:
            frame = getattr(history, name)
            tables[name].append(frame[frame["lead_id"].isin(set(ids))].assign(_part=part))
    leads = pd.concat(tables["leads"], ignore_index=True)
    leads = leads.sort_values(["created_at", "_part", "lead_id"], kind="stable")
    new_id = {
        (part, old): f"S{i + 1:06d}"
        for i, (part, old) in enumerate(zip(leads["_part"], leads["lead_id"], strict=True))
    }

    def renumbered(name: str) -> pd.DataFrame:
        frame = pd.concat(tables[name], ignore_index=True)
        frame["lead_id"] = [
            new_id[(p, old)] for p, old in zip(frame["_part"], frame["lead_id"], strict=True)
        ]
        return frame.drop(columns="_part")

    return CRMHistory(
        leads=renumbered("leads"),
        touches=renumbered("touches"),
        feedback=renumbered("feedback"),
        outcomes=renumbered("outcomes"),
        snapshot_at=calm.snapshot_at,
        oracle=renumbered("oracle"),
        extra={**calm.extra, "drift_at": drift_at if cfg.drift else None},
    )


_WORLD_TABLES = ("leads", "touches", "feedback", "outcomes", "oracle")


def sim_train_config(cfg: SimConfig) -> TrainConfig:
    """Retraining inside the simulation, on a weekly clock.

    A lead's first sales decision comes within days (``maturity_days=7``); the gate's test
    period is the latest five mature weeks (one week held ~50 labelled leads: the gate's
    evidence rule, docs/training-rules.md, needs 200) and the ``valid_days`` before it
    validate (calibration, the capacity threshold). Recent feedback weighs more
    (``recency_half_life_days``); the tree count is fixed (``retrain_trees``). The
    refusal rule's baseline margin is 0.1, not 0.05: the generator is additive on the
    logit scale, logistic regression's own family, and a fixed 100-tree LightGBM trails
    it by ~0.065 ROC AUC on SQL there; the simulation studies the loop, not the family.
    A fixed tree count keeps the 15 leaves a tree it was measured with (docs/loop.md):
    ``TrainConfig``'s default of 3 is chosen with early stopping, and 100 trees of 3
    leaves would learn a fifth as much.
    """
    from training.threshold import PolicyInputs

    return TrainConfig(
        seed=cfg.seed,
        label_rules=cfg.label_rules,
        maturity_days=7,
        test_days=35,
        baseline_margin=0.1,
        valid_days=cfg.valid_days,
        recency_half_life_days=cfg.recency_half_life_days,
        **(
            {"n_estimators": cfg.retrain_trees, "early_stopping_rounds": 0, "num_leaves": 15}
            if cfg.retrain_trees
            else {}
        ),
        policy=PolicyInputs(daily_capacity=cfg.daily_capacity),
    )


def gate_verdict(decision: PromotionDecision) -> str:
    """The weekly table's word for a gate decision.

    Since the evidence rule, "not promoted" is three different things — the champion was
    confidently better, the test period could not tell them apart, or the refusal rule
    left no challenger — and a table that calls all three "kept" hides why the loop does
    not move.
    """
    if decision.promoted:
        return f"v{decision.challenger}"
    if decision.challenger is None:
        return "no new challenger"
    return {"keep": "kept", "not_enough_evidence": "not enough evidence"}.get(
        decision.verdict, decision.verdict
    )


def _rate(decisions: pd.Series) -> float:
    """Share of first decisions that are ``accepted`` (NaN without any)."""
    return round(float((decisions == "accepted").mean()), 3) if len(decisions) else float("nan")


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _mean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return round(float(values.mean()), 3) if len(values) else float("nan")


def _store(settings: Settings):
    from serving.storage import Store, make_engine, upgrade

    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return Store(engine)


def _format_row(row: WeekRow) -> str:
    return (
        f"week {row.week:>2} {row.start}: {row.mqls:>4} MQLs, {row.handoffs:>3} handed "
        f"({row.drift_channel_handoffs:>2} from the drifting channel, "
        f"{row.drift_channel_acceptance:.0%} accepted), "
        f"acceptance {row.acceptance_rate:.0%}, "
        f"{row.won:>2} won ${row.revenue:,.0f}, model v{row.model_version} {row.promoted}"
    )


def prepare(settings: Settings, cfg: SimConfig, progress: Progress = print) -> CRMHistory:
    """Base history and a first champion trained on it (the state before the simulation)."""
    base = generate(cfg.history_leads, months=18, seed=cfg.seed)
    weekly = sim_train_config(cfg)
    # the refusal rule's margin and tree size of the simulation (see sim_train_config)
    config = TrainConfig(
        seed=cfg.seed,
        label_rules=cfg.label_rules,
        baseline_margin=weekly.baseline_margin,
        num_leaves=weekly.num_leaves,
    )
    config.policy = weekly.policy
    run_training(base, settings, config, data_source="simulation-base", progress=progress)
    decision = promote(settings, actor="simulation")
    progress(f"champion v{decision.champion_after}: {decision.reason}")
    return base


def simulate(home: Path, cfg: SimConfig, progress: Progress = print) -> pd.DataFrame:
    """Prepare a fresh home, start a server, run the weeks; the weekly table."""
    settings = Settings(home=home, seed=cfg.seed, promotion_metric="roc_auc_sql")
    base = prepare(settings, cfg, progress)
    with running_server(settings) as url:
        progress(f"server at {url}")
        return Simulation(url, settings, base, cfg, progress).run()


def summarise(
    table: pd.DataFrame,
    drift_week: int,
    within: float = 0.05,
    window: int = 3,
    control: pd.DataFrame | None = None,
) -> dict[str, float | int | None]:
    """Acceptance before the drift, in its first 3 weeks, over the last 3, and the recovery.

    ``weeks_to_recover``: the drift *shows* in the first ``window``-week stretch whose
    mean weekly acceptance falls more than ``within`` below the reference; it is
    recovered at the first later stretch back within ``within``, and the number is how
    many post-drift weeks come before that stretch (0 = the drift never showed; None =
    not recovered within the run). The reference is the pre-drift mean,
    or — given a ``control`` table (the same run without the drift) — the control's mean
    over the same weeks, which takes seasonality out. Weekly acceptance of ~100 handoffs
    has a standard error of ~5 points, hence a 3-week mean rather than a single week.
    """
    rate = table.set_index("week")["acceptance_rate"]
    before = rate[rate.index <= drift_week].mean()
    after = rate[(rate.index > drift_week) & (rate.index <= drift_week + 3)].mean()
    end = rate.tail(3).mean()
    post = rate[rate.index > drift_week]
    reference = pd.Series(before, index=post.index)
    if control is not None:
        reference = control.set_index("week")["acceptance_rate"].reindex(post.index)
    gaps = [
        post.iloc[i : i + window].mean() - reference.iloc[i : i + window].mean()
        for i in range(len(post) - window + 1)
    ]
    hit = next((i for i, gap in enumerate(gaps) if gap < -within), None)
    recover: int | None = 0 if hit is None else None
    if hit is not None:
        recover = next((i for i in range(hit + 1, len(gaps)) if gaps[i] >= -within), None)
    last = table.tail(3)
    return {
        "before_drift": round(before, 3),
        "after_drift": round(after, 3),
        "last_3_weeks": round(end, 3),
        "weeks_to_recover": recover,
        "drift_channel_handoff_share_last_3": round(
            last["drift_channel_handoffs"].sum() / max(last["handoffs"].sum(), 1), 3
        ),
        "drift_channel_acceptance_last_3": round(last["drift_channel_acceptance"].mean(), 3),
        "true_won_per_100_handoffs_last_3": round(
            100 * last["true_won_handed"].sum() / max(last["handoffs"].sum(), 1), 2
        ),
        "true_sql_top_after_drift": round(
            table.loc[table["week"] > drift_week, "true_sql_top"].sum(), 1
        ),
        "true_won_top_after_drift": round(
            table.loc[table["week"] > drift_week, "true_won_top"].sum(), 1
        ),
    }


def plot_acceptance(tables: dict[str, pd.DataFrame], drift_week: int, path: Path) -> Path:
    """Weekly acceptance of handoffs per scenario, the drift week marked: the docs' figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    for name, table in tables.items():
        top.plot(table["week"], table["acceptance_rate"], marker="o", ms=3, label=name)
        share = table["drift_channel_handoffs"] / table["handoffs"].clip(lower=1)
        bottom.plot(table["week"], share, marker="o", ms=3, label=name)
    for ax in (top, bottom):
        ax.axvline(drift_week + 0.5, color="grey", ls="--", lw=1)
        ax.grid(alpha=0.3)
    top.set_ylabel("acceptance of handoffs")
    top.set_title(f"Drift after week {drift_week} (dashed)")
    top.legend(fontsize=8)
    bottom.set_ylabel("drifting channel's share\nof handoffs")
    bottom.set_xlabel("week")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
