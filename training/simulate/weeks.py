"""The weeks of a run against a server: score, let sales work the handoffs, send feedback,
retrain (:class:`Simulation`), and the weekly table's row and wording."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

from scoring.settings import Settings
from training.history import CRMHistory
from training.pipeline import Progress
from training.registry import PromotionDecision
from training.retrain import retrain
from training.simulate.config import WEEK, ServedTables, SimConfig, WeekRow, sim_train_config
from training.simulate.server import SIM_ADMIN_KEY
from training.simulate.world import simulation_world

BATCH = 1000
"""Leads per ``POST /v1/score/batch`` call."""


@dataclass
class _Event:
    at: pd.Timestamp
    body: dict[str, Any]
    key: str


def lead_payload(lead: pd.Series, touches: pd.DataFrame) -> dict[str, Any]:
    """A history's lead as a score request, as of its MQL time: contract fields (no personal
    data) and its touches before that moment. ``leadscore demo`` sends the same."""
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
class _World:
    """The run's leads indexed as the weeks read them."""

    leads: pd.DataFrame  # by MQL time
    touches: dict[str, pd.DataFrame]
    no_touches: pd.DataFrame
    feedback: pd.DataFrame  # by time
    outcomes: pd.DataFrame  # by lead_id
    oracle: pd.DataFrame  # by lead_id

    @classmethod
    def of(cls, world: CRMHistory) -> _World:
        return cls(
            leads=world.leads.sort_values("mql_at"),
            touches={k: g for k, g in world.touches.groupby("lead_id")},
            no_touches=world.touches.iloc[0:0],
            feedback=world.feedback.sort_values("at"),
            outcomes=world.outcomes.set_index("lead_id"),
            oracle=world.oracle.set_index("lead_id"),
        )


@dataclass
class Simulation:
    """One run of the funnel against a server. See the package docstring."""

    url: str
    settings: Settings
    base: CRMHistory
    config: SimConfig
    served_tables: ServedTables
    progress: Progress = print
    rows: list[WeekRow] = field(default_factory=list)

    def run(self) -> pd.DataFrame:
        cfg = self.config
        start = self.base.snapshot_at.normalize()
        world = _World.of(simulation_world(cfg, start))
        pending: list[_Event] = []
        http = httpx.Client(base_url=self.url, headers={"X-API-Key": SIM_ADMIN_KEY}, timeout=120)
        for week in range(cfg.weeks):
            w_start, w_end = start + week * WEEK, start + (week + 1) * WEEK
            leads = world.leads
            batch = leads[(leads["mql_at"] >= w_start) & (leads["mql_at"] < w_end)]
            results = _score(http, batch, world)
            handed = [r["lead_id"] for r in results if r["decision"] == "hand_to_sales"]
            first = world.feedback[world.feedback["lead_id"].isin(handed)]
            pending += _sales_events(first, world.outcomes)
            due = sorted((e for e in pending if e.at < w_end), key=lambda e: e.at)
            pending = [e for e in pending if e.at >= w_end]
            _send(http, due)
            row = self._week_row(week, w_start, batch, results, first, due, world.oracle)
            if cfg.retrain_every and (week + 1) % cfg.retrain_every == 0 and week + 1 < cfg.weeks:
                self._retrain(row, week, w_end)
                http.post("/v1/admin/reload").raise_for_status()
            self.rows.append(row)
            self.progress(_format_row(row))
        http.close()
        return pd.DataFrame([r.as_dict() for r in self.rows])

    def _week_row(
        self,
        week: int,
        w_start: pd.Timestamp,
        batch: pd.DataFrame,
        results: list[dict[str, Any]],
        first: pd.DataFrame,
        due: list[_Event],
        oracle: pd.DataFrame,
    ) -> WeekRow:
        """The week's row: volumes, acceptance, served against true probabilities."""
        cfg = self.config
        handed = [r["lead_id"] for r in results if r["decision"] == "hand_to_sales"]
        served = _served(results, oracle)
        top = served.nlargest(round(cfg.daily_capacity * 7), "p_won", keep="first")
        handed_first = first.drop_duplicates("lead_id").merge(
            batch[["lead_id", "channel"]], on="lead_id", how="left"
        )
        in_drift = handed_first["channel"].eq(cfg.drift_channel)
        closed = [e.body for e in due if e.body["kind"] in ("won", "lost")]
        is_handed = served["handed"].to_numpy(dtype=bool)
        return WeekRow(
            week=week + 1,
            start=str(w_start.date()),
            mqls=len(batch),
            handoffs=len(handed),
            accepted=int((handed_first["decision"] == "accepted").sum()),
            rejected=int((handed_first["decision"] == "rejected").sum()),
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
            model_version=results[0]["model"]["version"] if results else "?",
        )

    def _retrain(self, row: WeekRow, week: int, w_end: pd.Timestamp) -> None:
        """Train a challenger on history + feedback, gate it, note the verdict in ``row``."""
        outcome = retrain(
            self.base,
            *self.served_tables(),
            self.settings,
            sim_train_config(self.config),
            now=w_end,  # the simulated run happens at the week's end
            actor=f"simulation-week-{week + 1}",
        )
        row.promoted = gate_verdict(outcome.promotion)
        gate = outcome.training.result.info["evaluation"].get("sql", {})
        row.gate_rows = int(gate.get("rows", 0))
        scores = outcome.promotion.scores
        row.gate_challenger = _round(scores.get("challenger"))
        row.gate_champion = _round(scores.get("champion"))


def _score(http: httpx.Client, batch: pd.DataFrame, world: _World) -> list[dict[str, Any]]:
    """The week's MQLs scored through ``POST /v1/score/batch``, at their MQL time."""
    payloads = [
        lead_payload(row, world.touches.get(row["lead_id"], world.no_touches))
        for _, row in batch.iterrows()
    ]
    results: list[dict[str, Any]] = []
    for i in range(0, len(payloads), BATCH):
        response = http.post("/v1/score/batch", json={"leads": payloads[i : i + BATCH]})
        response.raise_for_status()
        results += response.json()["results"]
    return results


def _served(results: list[dict[str, Any]], oracle: pd.DataFrame) -> pd.DataFrame:
    """What the server answered, beside the generator's true probabilities."""
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
    return served


def _sales_events(first: pd.DataFrame, outcomes: pd.DataFrame) -> list[_Event]:
    """What sales does with the handed leads: its decisions and, for acceptances, the deal."""
    events: list[_Event] = []
    for i, fb in enumerate(first.itertuples()):
        body = {
            "lead_id": fb.lead_id,
            "kind": fb.decision,
            "at": fb.at.isoformat(),
            "contact_attempts": None if pd.isna(fb.contact_attempts) else int(fb.contact_attempts),
            "first_response_hours": None
            if pd.isna(fb.first_response_hours)
            else float(fb.first_response_hours),
        }
        if fb.decision == "rejected":
            body["reason"] = fb.reason
        events.append(
            _Event(fb.at, {k: v for k, v in body.items() if v is not None}, f"sim-{fb.lead_id}-{i}")
        )
        if fb.decision == "accepted" and fb.lead_id in outcomes.index:
            deal = outcomes.loc[fb.lead_id]
            outcome = {
                "lead_id": fb.lead_id,
                "kind": deal["outcome"],
                "at": deal["closed_at"].isoformat(),
            }
            if deal["outcome"] == "won":
                outcome["amount"] = float(deal["amount"])
            events.append(_Event(deal["closed_at"], outcome, f"sim-{fb.lead_id}-deal"))
    return events


def _send(http: httpx.Client, due: list[_Event]) -> None:
    """The week's due events through ``POST /v1/feedback``, in time order."""
    for event in due:
        response = http.post(
            "/v1/feedback", json=event.body, headers={"Idempotency-Key": event.key}
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"feedback refused: {response.status_code} {response.text[:300]}")


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


def _format_row(row: WeekRow) -> str:
    return (
        f"week {row.week:>2} {row.start}: {row.mqls:>4} MQLs, {row.handoffs:>3} handed "
        f"({row.drift_channel_handoffs:>2} from the drifting channel, "
        f"{row.drift_channel_acceptance:.0%} accepted), "
        f"acceptance {row.acceptance_rate:.0%}, "
        f"{row.won:>2} won ${row.revenue:,.0f}, model v{row.model_version} {row.promoted}"
    )
