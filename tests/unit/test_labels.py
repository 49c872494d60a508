"""The label rules of ``training.labels``, one hand-built CRM history per rule.

Each case is a single lead with its sales decisions and deal outcome, small enough to
check by eye against the module docstring. NaN means "excluded from that stage".
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scoring.contract import (
    DATA_QUALITY_REASONS,
    DEFERRED_REASONS,
    NEGATIVE_REASONS,
    RejectionReason,
)
from training.history import CRMHistory
from training.labels import DEFER_WINDOW_DAYS, stage_labels

SNAPSHOT = pd.Timestamp("2026-01-01", tz="UTC")
OLD = SNAPSHOT - pd.Timedelta(days=DEFER_WINDOW_DAYS + 60)  # mature: the deferral has passed
RECENT = SNAPSHOT - pd.Timedelta(days=30)  # may still come back
NAN = math.nan

Decision = tuple[float, str, str | None]  # (days after MQL, decision, reason)


def _history(
    mql_at: pd.Timestamp, decisions: list[Decision], outcome: str | None = None
) -> CRMHistory:
    """One lead, its feedback rows (given in any order) and optionally a closed deal."""
    leads = pd.DataFrame(
        {
            "lead_id": ["L1"],
            "created_at": [mql_at - pd.Timedelta(days=2)],
            "mql_at": [mql_at],
        }
    )
    feedback = pd.DataFrame(
        {
            "lead_id": ["L1"] * len(decisions),
            "at": [mql_at + pd.Timedelta(days=d) for d, _, _ in decisions],
            "decision": [decision for _, decision, _ in decisions],
            "reason": pd.Series([reason for _, _, reason in decisions], dtype=object),
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": ["L1"] if outcome else [],
            "outcome": [outcome] if outcome else [],
            "amount": [50_000.0 if outcome == "won" else NAN] if outcome else [],
            "closed_at": [mql_at + pd.Timedelta(days=90)] if outcome else [],
        }
    )
    touches = pd.DataFrame({"lead_id": [], "at": [], "type": []})
    return CRMHistory(leads, touches, feedback, outcomes, snapshot_at=SNAPSHOT)


def _labels(history: CRMHistory, rules: str = "aware") -> tuple[float, float, float]:
    row = stage_labels(history, rules).iloc[0]  # type: ignore[arg-type]
    return float(row["y_sql"]), float(row["y_won_given_sql"]), float(row["y_won"])


def _same(actual: tuple[float, ...], expected: tuple[float, ...]) -> bool:
    return all(
        (math.isnan(a) and math.isnan(e)) or a == e for a, e in zip(actual, expected, strict=True)
    )


# the rule each rejection reason follows under the aware rules: y_sql for a lead whose
# first (and only) decision is this rejection, long enough ago that it has matured
AWARE_REJECTION: dict[str, float] = {
    "not_icp": 0.0,
    "no_budget": 0.0,
    "competitor_won": 0.0,
    "no_response": 0.0,
    "other": 0.0,
    "duplicate": NAN,
    "bad_contact_data": NAN,
    "too_early": 0.0,  # matured without coming back
}


def test_every_rejection_reason_has_a_rule() -> None:
    """A new reason tag must be placed in exactly one of the contract's label groups."""
    assert set(AWARE_REJECTION) == {r.value for r in RejectionReason}
    groups = (NEGATIVE_REASONS, DATA_QUALITY_REASONS, DEFERRED_REASONS)
    for reason in RejectionReason:
        assert sum(reason in g for g in groups) == 1, reason


@pytest.mark.parametrize("reason", sorted(AWARE_REJECTION))
def test_aware_rejection_rules(reason: str) -> None:
    y_sql = AWARE_REJECTION[reason]
    history = _history(OLD, [(0.2, "rejected", reason)])
    expected = (y_sql, NAN, y_sql)  # a rejected lead never won; excluded stays excluded
    assert _same(_labels(history), expected), (reason, _labels(history))


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("won", (1.0, 1.0, 1.0)), ("lost", (1.0, 0.0, 0.0)), (None, (1.0, NAN, NAN))],
)
def test_accepted_lead_is_sql_and_its_deal_decides_won(
    outcome: str | None, expected: tuple[float, float, float]
) -> None:
    history = _history(OLD, [(0.2, "accepted", None)], outcome)
    assert _same(_labels(history), expected)


def test_too_early_that_came_back_and_was_accepted_is_a_positive() -> None:
    history = _history(OLD, [(0.2, "rejected", "too_early"), (95.0, "accepted", None)], "won")
    assert _same(_labels(history), (1.0, 1.0, 1.0))


def test_too_early_that_has_not_matured_is_excluded() -> None:
    history = _history(RECENT, [(0.2, "rejected", "too_early")])
    assert _same(_labels(history), (NAN, NAN, NAN))


@pytest.mark.parametrize(
    ("mql_at", "later", "expected"),
    [
        (OLD, [], (0.0, NAN, 0.0)),
        (RECENT, [], (NAN, NAN, NAN)),
        (OLD, [(60.0, "accepted", None)], (1.0, NAN, NAN)),  # SQL, deal still open
    ],
)
def test_returned_to_nurture_is_deferred_like_too_early(
    mql_at: pd.Timestamp, later: list[Decision], expected: tuple[float, float, float]
) -> None:
    history = _history(mql_at, [(0.1, "returned_to_nurture", None), *later])
    assert _same(_labels(history), expected)


def test_a_lead_without_feedback_is_excluded() -> None:
    history = _history(OLD, [])
    for rules in ("aware", "plain"):
        assert _same(_labels(history, rules), (NAN, NAN, NAN))


def test_feedback_order_is_by_time_not_by_row() -> None:
    """Rows arrive in any order from a CRM export; the earliest decision is the first."""
    history = _history(OLD, [(95.0, "accepted", None), (0.2, "rejected", "too_early")], "won")
    out = stage_labels(history).iloc[0]
    assert out["first_decision"] == "rejected"
    assert out["first_reason"] == "too_early"
    assert _same(_labels(history, "plain"), (0.0, NAN, 0.0))


def test_first_reason_belongs_to_the_first_decision() -> None:
    """A later row's reason must not be paired with the first decision."""
    history = _history(OLD, [(0.1, "returned_to_nurture", None), (40.0, "rejected", "not_icp")])
    out = stage_labels(history).iloc[0]
    assert out["first_decision"] == "returned_to_nurture"
    assert pd.isna(out["first_reason"])


@pytest.mark.parametrize(
    ("decisions", "outcome", "expected"),
    [
        ([(0.2, "accepted", None)], "won", (1.0, 1.0, 1.0)),
        ([(0.2, "accepted", None)], "lost", (1.0, 0.0, 0.0)),
        # plain rules: the first decision only, so the returner that bought is a 0 ...
        ([(0.2, "rejected", "too_early"), (95.0, "accepted", None)], "won", (0.0, NAN, 0.0)),
        # ... and every rejection is a 0, data-quality tags included
        ([(0.2, "rejected", "duplicate")], None, (0.0, NAN, 0.0)),
        ([(0.2, "rejected", "bad_contact_data")], None, (0.0, NAN, 0.0)),
        ([(0.1, "returned_to_nurture", None)], None, (0.0, NAN, 0.0)),
    ],
)
def test_plain_rules_use_the_first_decision_only(
    decisions: list[Decision], outcome: str | None, expected: tuple[float, float, float]
) -> None:
    history = _history(OLD, decisions, outcome)
    assert _same(_labels(history, "plain"), expected), _labels(history, "plain")


def test_plain_does_not_wait_for_a_deferred_lead() -> None:
    history = _history(RECENT, [(0.2, "rejected", "too_early")])
    assert _same(_labels(history, "plain"), (0.0, NAN, 0.0))
    assert _same(_labels(history, "aware"), (NAN, NAN, NAN))


def test_sql_at_is_the_first_acceptance() -> None:
    history = _history(OLD, [(0.2, "rejected", "too_early"), (95.0, "accepted", None)])
    out = stage_labels(history).iloc[0]
    assert out["sql_at"] == OLD + pd.Timedelta(days=95)


@pytest.mark.parametrize(
    ("mql_at", "decisions", "outcome", "aware", "provisional"),
    [
        # still inside the deferral window: excluded by the aware rules, a 0 for now ...
        (RECENT, [(0.2, "rejected", "too_early")], None, (NAN, NAN, NAN), (0.0, NAN, 0.0)),
        (RECENT, [(0.1, "returned_to_nurture", None)], None, (NAN, NAN, NAN), (0.0, NAN, 0.0)),
        # ... and what it matures into once it comes back and is accepted
        (
            RECENT,
            [(0.2, "rejected", "too_early"), (20.0, "accepted", None)],
            None,
            (1.0, NAN, NAN),
            (1.0, NAN, NAN),
        ),
        # everything else as under the aware rules
        (OLD, [(0.2, "rejected", "too_early")], None, (0.0, NAN, 0.0), (0.0, NAN, 0.0)),
        (RECENT, [(0.2, "rejected", "duplicate")], None, (NAN, NAN, NAN), (NAN, NAN, NAN)),
        (RECENT, [(0.2, "rejected", "not_icp")], None, (0.0, NAN, 0.0), (0.0, NAN, 0.0)),
        (RECENT, [(0.2, "accepted", None)], "won", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
        (RECENT, [], None, (NAN, NAN, NAN), (NAN, NAN, NAN)),
    ],
)
def test_provisional_rules_count_a_pending_deferral_as_a_zero_for_now(
    mql_at: pd.Timestamp,
    decisions: list[Decision],
    outcome: str | None,
    aware: tuple[float, float, float],
    provisional: tuple[float, float, float],
) -> None:
    history = _history(mql_at, decisions, outcome)
    assert _same(_labels(history), aware), _labels(history)  # the default is unchanged
    assert _same(_labels(history, "aware-provisional"), provisional)


def test_unknown_label_rules_are_refused() -> None:
    """A typo (``--label-rules awre``) is an error, not a silent fall-back to the default."""
    history = _history(SNAPSHOT - pd.Timedelta(days=400), [], None)
    with pytest.raises(ValueError, match="unknown label rules 'awre'"):
        _labels(history, "awre")


@pytest.mark.parametrize("command", ["train", "retrain", "simulate"])
def test_the_commands_refuse_unknown_label_rules(command: str) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    result = CliRunner().invoke(app, [command, "--label-rules", "awre"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())  # the error box wraps lines
    assert "'--label-rules': use one of: aware, plain, aware-provisional" in text
