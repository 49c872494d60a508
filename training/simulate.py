"""A funnel simulation that proves the loop: weeks of leads, sales, feedback and retraining.

Against a *running* server, week after week:

1. the week's new MQLs (from the synthetic generator, continuing after the history the
   champion learned from) are scored through ``POST /v1/score/batch`` at their MQL time;
2. a simulated sales team works the leads the server handed over, following the SLA
   (accept/reject within 8 h, first contact within 24 h, ≥3 attempts before
   ``no_response``): what it decides for a lead is what the generator's hidden truth
   says that lead would get; rejected leads go back to nurturing (``too_early`` ones
   may come back and be accepted later); accepted ones close as won or lost ~90 days on;
3. every decision and outcome goes back through ``POST /v1/feedback`` when it happens;
4. every ``retrain_every`` weeks, a challenger is trained on history + feedback and
   put through the promotion gate; the server is told to reload.

Leads the server does not hand over get no sales feedback — as in real life, the loop
only learns from what it sends. A drift scenario makes one channel's leads
(``paid_search`` by default) silently worse from ``drift_week`` on — they look the
same, sales just accepts far fewer of them (on top of the generator's paid-social
decline and a new industry): a frozen model keeps handing them over; the loop learns
it from the rejections.
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
from typing import Any, Literal

import httpx
import numpy as np
import pandas as pd

from scoring.settings import Settings
from training.history import CRMHistory
from training.pipeline import Progress, run_training
from training.registry import promote
from training.retrain import retrain
from training.synthetic import generate
from training.train import TrainConfig

WEEK = pd.Timedelta(days=7)
SIM_ADMIN_KEY = "lsk_simulation_admin_key_000000000000"


@dataclass
class SimConfig:
    weeks: int = 12
    leads_per_week: int = 300
    base_leads: int | None = None
    """Leads in the 18-month history before the simulation; default: the same weekly rate."""
    seed: int = 11
    drift: bool = True
    drift_week: int = 3
    drift_channel: str = "paid_search"
    """The channel whose leads silently get worse (same look, far fewer accepted)."""
    retrain_every: int = 1
    """Retrain (and gate) every N weeks; 0 freezes the first champion."""
    label_rules: Literal["aware", "plain"] = "aware"
    handoff_share: float = 0.3
    """Sales capacity as a share of the daily MQL volume (sets the capacity threshold)."""

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
    drift_channel_handoffs: int
    won: int
    revenue: float
    model_version: str
    promoted: str = ""

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
        deadline = time.monotonic() + 120
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
                raise RuntimeError("server did not become ready in 120 s")
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
        months = int(np.ceil(cfg.weeks * 7 / 30.4)) + 1
        world = generate(
            int(cfg.leads_per_week * months * 30.4 / 7),
            months=months,
            start=str(start.date()),
            seed=cfg.seed,
            drift=cfg.drift,
            drift_at=str((start + cfg.drift_week * WEEK).date()) if cfg.drift else None,
            hidden_drift_channel=cfg.drift_channel if cfg.drift else None,
        )
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
            handed_first = first.drop_duplicates("lead_id")
            accepted = int((handed_first["decision"] == "accepted").sum())
            rejected = int((handed_first["decision"] == "rejected").sum())
            closed = [e.body for e in due if e.body["kind"] in ("won", "lost")]
            row = WeekRow(
                week=week + 1,
                start=str(w_start.date()),
                mqls=len(batch),
                handoffs=len(handed),
                accepted=accepted,
                rejected=rejected,
                acceptance_rate=round(accepted / max(len(handed_first), 1), 3),
                drift_channel_handoffs=int(
                    batch[batch["lead_id"].isin(handed)]["channel"].eq("paid_social").sum()
                ),
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
                    actor=f"simulation-week-{week + 1}",
                )
                row.promoted = (
                    f"v{outcome.promotion.challenger}" if outcome.promotion.promoted else "kept"
                )
                http.post("/v1/admin/reload").raise_for_status()
            self.rows.append(row)
            self.progress(_format_row(row))
        http.close()
        return pd.DataFrame([r.as_dict() for r in self.rows])


def sim_train_config(cfg: SimConfig) -> TrainConfig:
    """Retraining inside the simulation: labels count after a week, recent test period."""
    from training.threshold import PolicyInputs

    return TrainConfig(
        seed=cfg.seed,
        label_rules=cfg.label_rules,
        maturity_days=7,
        test_days=21,
        valid_days=21,
        policy=PolicyInputs(daily_capacity=cfg.daily_capacity),
    )


def _store(settings: Settings):
    from serving.storage import Store, make_engine, upgrade

    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return Store(engine)


def _format_row(row: WeekRow) -> str:
    return (
        f"week {row.week:>2} {row.start}: {row.mqls:>4} MQLs, {row.handoffs:>3} handed "
        f"({row.drift_channel_handoffs:>2} from the drifting channel), "
        f"acceptance {row.acceptance_rate:.0%}, "
        f"{row.won:>2} won ${row.revenue:,.0f}, model v{row.model_version} {row.promoted}"
    )


def prepare(settings: Settings, cfg: SimConfig, progress: Progress = print) -> CRMHistory:
    """Base history and a first champion trained on it (the state before the simulation)."""
    base = generate(cfg.history_leads, months=18, seed=cfg.seed)
    config = TrainConfig(seed=cfg.seed, label_rules=cfg.label_rules)
    config.policy = sim_train_config(cfg).policy
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


def summarise(table: pd.DataFrame, drift_week: int) -> dict[str, float]:
    """Acceptance before drift, right after it, and at the end (mean of the last 3 weeks)."""
    before = table[table["week"] <= drift_week]["acceptance_rate"].mean()
    after = table[(table["week"] > drift_week) & (table["week"] <= drift_week + 3)][
        "acceptance_rate"
    ].mean()
    end = table.tail(3)["acceptance_rate"].mean()
    return {
        "before_drift": round(before, 3),
        "after_drift": round(after, 3),
        "last_3_weeks": round(end, 3),
    }
