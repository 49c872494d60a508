"""The lead lifecycle (``scoring.lifecycle``): the rules, the store, the API and the migration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from scoring.lifecycle import (
    Event,
    EventKind,
    LifecycleViolation,
    SlaClocks,
    Stage,
    Transition,
    Violation,
    check,
    replay,
    sla_breaches,
)
from serving.auth import Role
from serving.storage import (
    Store,
    _alembic_config,
    make_engine,
    migration_transaction,
    upgrade,
)
from tests.model_fixtures import admin_headers
from tests.payloads import LEAD

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
H = timedelta(hours=1)


def scored(at: datetime = T0, decision: str = "hand_to_sales", **kw: Any) -> Event:
    return Event(EventKind.SCORED, at, decision=decision, **kw)


def fb(kind: str, at: datetime, **kw: Any) -> Event:
    return Event(kind, at, **kw)


def refused(history: list[Event], event: Event) -> Violation:
    outcome = check(history, event)
    assert isinstance(outcome, Violation), outcome
    return outcome


def allowed(history: list[Event], event: Event) -> Transition:
    outcome = check(history, event)
    assert isinstance(outcome, Transition), outcome
    return outcome


# --- the rules ----------------------------------------------------------------------------


def test_the_happy_path_scored_handed_accepted_won() -> None:
    history = [scored()]
    assert replay(history).state.stage == Stage.HANDED
    history.append(fb("accepted", T0 + 2 * H))
    assert allowed(history[:1], history[1]).state.stage == Stage.ACCEPTED
    won = fb("won", T0 + 90 * 24 * H, amount=50_000.0)
    result = allowed(history, won)
    assert result.state.stage == Stage.WON and result.implied == ()


@pytest.mark.parametrize(
    ("history", "event", "rule", "status", "field"),
    [
        ([], fb("accepted", T0), "not_scored", 409, "lead_id"),
        ([scored()], fb("won", T0 + H), "won_needs_amount", 422, "amount"),
        ([scored()], fb("won", T0 + H, amount=0.0), "won_needs_amount", 422, "amount"),
        ([scored()], fb("won", T0 + H, amount=False), "amount_number", 422, "amount"),
        ([scored()], fb("rejected", T0 + H, reason="other", contact_attempts=True),
         "attempts_integer", 422, "contact_attempts"),
        ([scored()], fb("won", T0 - 24 * H, amount=9.0), "before_scored", 422, "at"),
        ([scored(created_at=T0 - 48 * H)], fb("accepted", T0 - 72 * H), "before_created", 422,
         "at"),
        ([scored(), fb("lost", T0 + H)], fb("won", T0 + 2 * H, amount=9.0), "closed", 409,
         "kind"),
        ([scored(), fb("accepted", T0 + H)], fb("accepted", T0 + 2 * H), "already_accepted",
         409, "kind"),
        ([scored(), fb("accepted", T0 + H)], fb("rejected", T0 + 2 * H, reason="no_budget"),
         "decided_after_acceptance", 409, "kind"),
        ([scored(), fb("rejected", T0 + 5 * H, reason="not_icp")], fb("accepted", T0 + H),
         "out_of_order", 409, "at"),
        ([scored()], fb("qualified", T0 + H, qualification={"framework": "bant", "need": True}),
         "qualified_before_accepted", 409, "kind"),
        ([scored()], fb("accepted", T0 + H, qualification={"framework": "bant", "goals": True}),
         "qualification_criterion", 422, "qualification.goals"),
    ],
)  # fmt: skip
def test_impossible_and_out_of_order_events_are_refused_naming_the_rule(
    history: list[Event], event: Event, rule: str, status: int, field: str
) -> None:
    violation = refused(history, event)
    assert (violation.rule, violation.status, violation.field) == (rule, status, field)
    assert rule in violation.as_detail()["rule"] and violation.message


def test_a_disagreement_is_an_opinion_at_any_time_after_the_first_score() -> None:
    closed = [scored(), fb("lost", T0 + 5 * H)]
    assert allowed(closed, fb("disagree", T0 + 2 * H)).state.stage == Stage.LOST
    history = [scored(), fb("disagree", T0 + 9 * H)]
    assert allowed(history, fb("accepted", T0 + 3 * H)).state.stage == Stage.ACCEPTED
    assert refused([scored()], fb("disagree", T0 - H)).rule == "before_scored"


def test_a_won_deal_without_a_recorded_acceptance_implies_one() -> None:
    result = allowed([scored()], fb("won", T0 + 30 * 24 * H, amount=12_000.0))
    assert result.state.stage == Stage.WON
    assert [(e.kind, e.at, e.implied) for e in result.implied] == [
        ("accepted", T0 + 30 * 24 * H, True)
    ]
    # a stored history is replayed the same way: the implied acceptance is in it
    events = replay([scored(), fb("won", T0 + 30 * 24 * H, amount=12_000.0)]).events
    assert [e.kind for e in events] == ["scored", "accepted", "won"]


def test_legacy_rows_that_break_the_rules_are_set_aside_on_replay() -> None:
    done = replay(
        [scored(), fb("lost", T0 + H), fb("won", T0 + 2 * H, amount=5.0), fb("won", T0 + 3 * H)]
    )
    assert done.state.stage == Stage.LOST
    assert [v.rule for _, v in done.refused] == ["closed", "won_needs_amount"]


@pytest.mark.parametrize(
    ("reason", "stage"),
    [
        ("too_early", Stage.NURTURE),
        ("no_budget", Stage.NURTURE),
        ("no_response", Stage.NURTURE),
        ("other", Stage.NURTURE),
        ("not_icp", Stage.REJECTED),
        ("competitor_won", Stage.REJECTED),
        ("duplicate", Stage.REJECTED),
        ("bad_contact_data", Stage.REJECTED),
    ],
)
def test_a_rejection_returns_the_lead_to_nurture_unless_nurturing_cannot_help(
    reason: str, stage: Stage
) -> None:
    state = replay([scored(), fb("rejected", T0 + H, reason=reason, contact_attempts=3)]).state
    assert state.stage == stage and state.open == (stage == Stage.NURTURE)


def test_a_returned_lead_is_re_handed_by_a_later_score_and_may_then_be_accepted() -> None:
    history = [scored(), fb("returned_to_nurture", T0 + 2 * H)]
    assert replay(history).state.stage == Stage.NURTURE
    history.append(scored(T0 + 40 * 24 * H))
    state = replay(history).state
    assert state.stage == Stage.HANDED and state.handed_at == T0 + 40 * 24 * H
    assert allowed(history, fb("accepted", T0 + 41 * 24 * H)).state.stage == Stage.ACCEPTED


def test_an_event_within_a_minute_before_the_first_score_is_clock_skew() -> None:
    history = [scored(T0 + timedelta(seconds=40))]  # scored at 09:00:40, accepted "09:00"
    assert allowed(history, fb("accepted", T0)).state.stage == Stage.ACCEPTED
    assert refused(history, fb("accepted", T0 - 2 * timedelta(minutes=1))).rule == ("before_scored")


def test_a_score_served_after_the_event_does_not_change_how_it_is_judged() -> None:
    # the CRM's acceptance arrives after a re-score dated later than it: still legal
    history = [scored(), scored(T0 + 48 * H, decision="nurture")]
    assert allowed(history, fb("accepted", T0 + 3 * H)).state.stage == Stage.ACCEPTED


# --- SLA clocks ------------------------------------------------------------------------------


def rules(events: list[Event], as_of: datetime) -> list[tuple[str, bool]]:
    return [(b.rule, b.open) for b in sla_breaches(events, as_of, SlaClocks())]


def test_each_sla_clock_is_measured_on_its_own_event() -> None:
    on_time = [
        scored(),
        fb("contacted", T0 + 3 * H),
        fb("accepted", T0 + 6 * H, qualification={"framework": "bant", "budget": True}),
    ]
    assert rules(on_time, T0 + 30 * 24 * H) == []
    # decided and confirmed in time, first contact a day and a half after the handoff:
    # one breach, of the first-contact clock only (not the decision's response time)
    late_contact = [
        scored(),
        fb("accepted", T0 + 2 * H),
        fb("qualified", T0 + 5 * H, qualification={"framework": "gpct", "goals": True}),
        fb("contacted", T0 + 36 * H),
    ]
    assert rules(late_contact, T0 + 40 * H) == [("first_contact_late", False)]


def test_sla_breaches_late_missing_and_too_few_attempts() -> None:
    assert rules([scored(), fb("accepted", T0 + 9 * H)], T0 + 10 * H) == [("decision_late", False)]
    # nothing for 25 hours: the decision and the first contact are overdue (open)
    assert sorted(rules([scored()], T0 + 25 * H)) == [
        ("decision_late", True),
        ("first_contact_late", True),
    ]
    assert rules([scored()], T0 + 7 * H) == []  # the clocks are still running
    # an acceptance without a qualification: the SQL confirmation is due 4 h later
    accepted = [scored(), fb("contacted", T0 + H), fb("accepted", T0 + 2 * H)]
    assert rules(accepted, T0 + 5 * H) == []
    assert rules(accepted, T0 + 7 * H) == [("sql_confirm_late", True)]
    confirmed = [*accepted, fb("qualified", T0 + 5 * H, qualification={"framework": "bant"})]
    assert rules(confirmed, T0 + 7 * H) == []
    # a no_response rejection after two attempts
    rejected = [scored(), fb("rejected", T0 + H, reason="no_response", contact_attempts=2)]
    assert rules(rejected, T0 + 2 * H) == [("no_response_few_attempts", False)]
    # ... the first contact is not owed once sales gave the lead back
    assert rules(rejected, T0 + 48 * H) == [("no_response_few_attempts", False)]
    clocks = SlaClocks(decision_hours=0.5)
    late = sla_breaches([scored(), fb("rejected", T0 + H, reason="other")], T0 + 2 * H, clocks)
    assert [b.rule for b in late] == ["decision_late"]  # the clock is a setting


# --- the store and the API ------------------------------------------------------------------


def test_the_api_refuses_what_cannot_be_true_and_keeps_the_rest(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    sales = {"X-API-Key": client.app.state.store.create_api_key("s", Role.SALES)}
    as_of = "2026-03-02T09:00:00Z"
    response = client.post(
        "/v1/score", json={**LEAD, "lead_id": "lc-1", "as_of": as_of}, headers=admin_headers()
    )
    assert response.status_code == 200

    def post(body: dict[str, Any], key: str) -> Any:
        return client.post("/v1/feedback", json=body, headers={**sales, "Idempotency-Key": key})

    base = {"lead_id": "lc-1", "at": "2026-04-01T10:00:00Z"}
    for body, status, field in [
        ({**base, "kind": "won"}, 422, "amount"),
        ({**base, "kind": "won", "amount": False}, 422, "amount"),
        ({**base, "kind": "won", "amount": 0}, 422, "amount"),
        ({**base, "kind": "rejected", "reason": "other", "contact_attempts": True}, 422,
         "contact_attempts"),
        ({**base, "kind": "won", "amount": 10.0, "at": "2026-01-01T00:00:00Z"}, 422, "at"),
        ({**base, "kind": "accepted", "lead_id": "never-scored"}, 409, "lead_id"),
    ]:  # fmt: skip
        answer = post(body, f"bad-{len(str(body))}-{status}-{field}")
        assert answer.status_code == status, (body, answer.text)
        assert [d["field"] for d in answer.json()["detail"]] == [field], answer.text
    assert client.app.state.store.count_feedback() == 0

    # won without a recorded acceptance: stored, with the acceptance made explicit
    won = post({**base, "kind": "won", "amount": 40_000.0}, "won-0001")
    assert won.status_code == 201, won.text
    frame = client.app.state.store.feedback_frame()
    assert list(zip(frame["kind"], frame["implied"], strict=True)) == [
        ("accepted", True),
        ("won", False),
    ]
    # won after won/lost: 409 naming the rule; the retry of the first gets its answer
    lost = post({**base, "kind": "lost", "at": "2026-04-02T10:00:00Z"}, "lost-0001")
    assert lost.status_code == 409 and lost.json()["detail"][0]["rule"] == "closed"
    again = post({**base, "kind": "won", "amount": 40_000.0}, "won-0001")
    assert again.status_code == 201 and again.json() == won.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.app.state.store.count_feedback() == 2


def test_breaches_revealed_by_feedback_are_counted_in_metrics(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    sales = {"X-API-Key": client.app.state.store.create_api_key("s", Role.SALES)}
    lead = {**LEAD, "lead_id": "lc-sla", "as_of": "2026-03-02T09:00:00Z"}
    assert client.post("/v1/score", json=lead, headers=admin_headers()).json()["decision"] == (
        "hand_to_sales"
    )
    body = {
        "lead_id": "lc-sla",
        "kind": "rejected",
        "reason": "no_response",
        "contact_attempts": 1,
        "at": "2026-03-02T20:00:00Z",  # 11 h after the handoff
    }
    answer = client.post(
        "/v1/feedback", json=body, headers={**sales, "Idempotency-Key": "sla-00001"}
    )
    assert answer.status_code == 201, answer.text
    metrics = client.get("/metrics").text
    assert 'leadscore_sla_breaches_total{rule="decision_late"} 1.0' in metrics
    assert 'leadscore_sla_breaches_total{rule="no_response_few_attempts"} 1.0' in metrics
    # a retry is the same event: not counted twice
    client.post("/v1/feedback", json=body, headers={**sales, "Idempotency-Key": "sla-00001"})
    assert 'leadscore_sla_breaches_total{rule="decision_late"} 1.0' in client.get("/metrics").text


def test_the_store_refuses_with_the_rule(store: Store) -> None:
    """On SQLite and PostgreSQL: the lead's creation time comes out of the decision's JSON."""
    with pytest.raises(LifecycleViolation) as info:
        store.add_feedback(
            {"lead_id": "nobody", "kind": "accepted", "at": T0}, idempotency_key="k", actor="crm"
        )
    assert info.value.violation.rule == "not_scored"
    store.record_decisions(
        [
            {
                "lead_id": "L",
                "scored_at": T0,
                "as_of": T0,
                "model_name": "leadscore",
                "model_version": "1",
                "features": {"created_at": (T0 - 24 * H).isoformat(), "touches": []},
                "p_won": 0.3,
                "fit_score": 50.0,
                "engagement_score": 50.0,
                "decision": "hand_to_sales",
                "threshold": 0.1,
            }
        ]
    )
    for at, rule in ((T0 - 48 * H, "before_created"), (T0 - 12 * H, "before_scored")):
        with pytest.raises(LifecycleViolation) as info:
            store.add_feedback(
                {"lead_id": "L", "kind": "accepted", "at": at}, idempotency_key="k", actor="crm"
            )
        assert (info.value.violation.rule, info.value.violation.status) == (rule, 422)
    assert store.count_feedback() == 0
    _, created = store.add_feedback(
        {"lead_id": "L", "kind": "lost", "at": T0 + H}, idempotency_key="k", actor="crm"
    )
    assert created and store.count_feedback(kind="accepted") == 1  # implied
    events = store.lifecycle_events(["L"])["L"]
    assert [e.kind for e in events] == ["scored", "accepted", "lost"]
    assert events[0].created_at == T0 - 24 * H and events[1].implied
    assert replay(events).refused == []  # the stored implied step is not a second one


def test_the_migration_keeps_every_stored_row(db_url: str) -> None:
    """Rows stored under revision 0001 survive 0002, and the new kinds are accepted after."""
    engine = make_engine(db_url)
    try:
        config = _alembic_config()
        with migration_transaction(engine) as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
        row = {
            "id": "a" * 32,
            "lead_id": "old-1",
            "kind": "won",
            "reason": None,
            "at": T0,
            "received_at": T0,
            "amount": None,  # a row the rules now refuse: kept as it is
            "actor": "crm",
            "idempotency_key": "old-key",
            "body_hash": "b" * 64,
        }
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO feedback (id, lead_id, kind, reason, at, received_at, amount, "
                    "actor, idempotency_key, body_hash) VALUES (:id, :lead_id, :kind, :reason, "
                    ":at, :received_at, :amount, :actor, :idempotency_key, :body_hash)"
                ),
                {**row, "at": T0.replace(tzinfo=None), "received_at": T0.replace(tzinfo=None)},
            )
        upgrade(engine)
        store = Store(engine)
        frame = store.feedback_frame()
        assert list(frame["idempotency_key"]) == ["old-key"]
        assert list(frame["implied"]) == [False] and frame["kind"].iloc[0] == "won"
        from serving.tables import Feedback

        with engine.begin() as conn:  # the widened constraint takes the new kinds
            conn.execute(
                insert(Feedback.__table__),
                {**row, "id": "c" * 32, "kind": "contacted", "idempotency_key": "new-key"},
            )
        assert store.count_feedback(kind="contacted") == 1
    finally:
        engine.dispose()


# --- retraining reads the same lifecycle ------------------------------------------------------


def test_retraining_reads_stored_feedback_through_the_lifecycle() -> None:
    """Rows stored before the rules: SQL→won can no longer exceed 100 % in training data."""
    from training.retrain import served_history

    decisions = pd.DataFrame(
        {
            "lead_id": ["w", "l", "x"],
            "scored_at": [T0] * 3,
            "as_of": [T0] * 3,
            "decision": ["hand_to_sales"] * 3,
            "features": [{"created_at": (T0 - 24 * H).isoformat()}] * 3,
        }
    )
    day = 24 * H
    feedback = pd.DataFrame(
        [
            # won, no acceptance recorded: its acceptance is implied
            {"lead_id": "w", "kind": "won", "at": T0 + 30 * day, "amount": 9_000.0},
            # lost, then "won" (impossible): the won is left out
            {"lead_id": "l", "kind": "accepted", "at": T0 + day},
            {"lead_id": "l", "kind": "lost", "at": T0 + 20 * day},
            {"lead_id": "l", "kind": "won", "at": T0 + 40 * day, "amount": 5.0},
            # a won dated before the lead existed; feedback on a lead never scored
            {"lead_id": "x", "kind": "won", "at": T0 - 9 * day, "amount": 1.0},
            {"lead_id": "nobody", "kind": "accepted", "at": T0},
        ],
        columns=["lead_id", "kind", "reason", "at", "contact_attempts", "amount", "implied"],
    )
    feedback["at"] = pd.to_datetime(feedback["at"], utc=True)
    _, _, sales, outcomes, _ = served_history(decisions, feedback)
    assert sorted(zip(sales["lead_id"], sales["decision"], strict=True)) == [
        ("l", "accepted"),
        ("w", "accepted"),
    ]
    assert sorted(zip(outcomes["lead_id"], outcomes["outcome"], strict=True)) == [
        ("l", "lost"),
        ("w", "won"),
    ]
    won = outcomes.loc[outcomes["outcome"] == "won", "lead_id"]
    assert set(won) <= set(sales.loc[sales["decision"] == "accepted", "lead_id"])


# --- the reports read the same lifecycle ------------------------------------------------------


def _decisions(*lead_ids: str) -> pd.DataFrame:
    n = len(lead_ids)
    return pd.DataFrame(
        {
            "id": [f"{i:032d}" for i in range(n)],
            "lead_id": list(lead_ids),
            "scored_at": [T0] * n,
            "as_of": [T0] * n,
            "decision": ["hand_to_sales"] * n,
            "features": [{"channel": "seo", "created_at": (T0 - 24 * H).isoformat()}] * n,
            "p_sql": [0.5] * n,
            "p_won": [0.2] * n,
            "fit_score": [50.0] * n,
            "engagement_score": [50.0] * n,
            "channel": ["seo"] * n,
            "industry": [None] * n,
            "company_size": [None] * n,
            "country": [None] * n,
        }
    )


def test_the_funnel_never_shows_more_wins_than_sqls_and_the_sla_counts_breaches(
    tmp_path: Path,
) -> None:
    """Rows stored before the rules (two wins, one acceptance) used to read SQL→won 200 %."""
    from serving.report_html import write_html
    from serving.reports import build_report, from_store, funnel_report, sla_report

    day = 24 * H
    feedback = pd.DataFrame(
        [
            {"lead_id": "a", "kind": "accepted", "at": T0 + 10 * H,  # decided 10 h late
             "qualification": {"framework": "bant", "need": True}},
            {"lead_id": "a", "kind": "won", "at": T0 + 30 * day, "amount": 9_000.0},
            {"lead_id": "b", "kind": "won", "at": T0 + 30 * day, "amount": 0.0},  # no amount
            {"lead_id": "c", "kind": "lost", "at": T0 + 9 * day},
            {"lead_id": "c", "kind": "won", "at": T0 + 20 * day, "amount": 7.0},  # after lost
            {"lead_id": "d", "kind": "rejected", "reason": "no_response",
             "contact_attempts": 1, "at": T0 + 2 * H},
        ],
        columns=["lead_id", "kind", "reason", "at", "contact_attempts",
                 "first_response_hours", "amount", "qualification"],
    )  # fmt: skip
    feedback["at"] = pd.to_datetime(feedback["at"], utc=True)
    data = from_store(_decisions("a", "b", "c", "d"), feedback, as_of=T0 + 60 * day)
    total = funnel_report(data, group_by=())["total"]
    assert total["won"] <= total["sql"] and total["sql_to_won"] <= 1.0
    assert (total["sql"], total["won"]) == (2, 1)  # a; c (its lost implies an acceptance)
    assert any("2 feedback event(s) the lead lifecycle refuses" in n for n in data.notes)
    sla = sla_report(data, group_by=())["total"]
    assert sla["breaches_decision_late"] == 3  # a (10 h); b never decided; c decided at 9 d
    assert sla["breaches_no_response_few_attempts"] == 1
    assert sla["breaches_first_contact_late"] == 3  # a, b and c were never contacted
    assert sla["breaches_sql_confirm_late"] == 0  # a's acceptance carried its BANT
    assert sla["sql_qualified_share"] == 0.5  # a, not c (whose acceptance is implied)
    html = write_html(build_report(data, group_by=("channel",)), tmp_path).read_text()
    assert "SLA breaches: decision / first contact" in html
