"""``leadscore rescore`` reads only the open leads, and finds the same ones as a full replay.

The store's path (:meth:`Store.open_lead_decisions`) must pick exactly the leads the
lifecycle replayed over the whole log and feedback table picks (:func:`open_leads`), on
SQLite and PostgreSQL, also for histories the rules refuse parts of (rows stored before
the rules existed: a deal without an amount, an event before the lead existed, a ``won``
after a ``lost``), and re-scoring both must give the same rows.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

import cli.rescore
from cli.rescore import open_leads, rescore_leads, rescore_open_leads
from serving.storage import Store
from serving.tables import Feedback
from tests.model_fixtures import Registry
from tests.payloads import LEAD, PII

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FEATURES = {k: v for k, v in LEAD.items() if k not in PII and k != "lead_id"}
KINDS: list[tuple[str, Any]] = [
    ("accepted", None),
    ("rejected", "too_early"),
    ("rejected", "no_budget"),
    ("rejected", "not_icp"),
    ("rejected", "competitor_won"),
    ("returned_to_nurture", None),
    ("won", None),  # no amount: the rules refuse it
    ("won", 12_000.0),
    ("lost", None),
    ("contacted", None),
    ("disagree", None),
    ("qualified", None),
]


def _seed(store: Store, leads: int, seed: int) -> None:
    """Random stories: scores (some handed, some disqualified) interleaved with feedback
    stored raw, as an import of old data would, so that some of it breaks the rules."""
    rng = random.Random(seed)
    decisions: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    for n in range(leads):
        lead_id = f"lead-{n:04d}"
        created = T0 - timedelta(days=rng.choice([1, 30, 400]))
        at = T0 + timedelta(hours=rng.randint(0, 500))
        for step in range(rng.randint(1, 7)):
            at += timedelta(hours=rng.randint(1, 90), seconds=step)
            if rng.random() < 0.6 or step == 0:
                decision = rng.choices(
                    ["nurture", "hand_to_sales", "disqualify"], weights=[5, 4, 1]
                )[0]
                p_won = {"nurture": 0.05, "hand_to_sales": 0.3, "disqualify": 0.01}[decision]
                features = {**FEATURES, "created_at": created.isoformat()}
                if rng.random() < 0.1:  # a lead re-imported with an earlier creation time
                    features["created_at"] = (created - timedelta(days=3)).isoformat()
                decisions.append(
                    {
                        "lead_id": lead_id,
                        "scored_at": at,
                        "as_of": at,
                        "model_name": "leadscore",
                        "model_version": "1",
                        "features": features,
                        "p_won": p_won,
                        "fit_score": 0.5,
                        "engagement_score": 0.5,
                        "decision": decision,
                        "threshold": 0.2,
                    }
                )
            else:
                kind, reason = rng.choice(KINDS)
                amount = reason if kind == "won" else None  # a won's slot holds its amount
                reason = None if kind == "won" else reason
                moment = at if rng.random() < 0.9 else created - timedelta(days=1)
                feedback.append(
                    {
                        "id": uuid.uuid4().hex,
                        "lead_id": lead_id,
                        "kind": kind,
                        "reason": reason,
                        "at": moment,
                        "received_at": at,
                        "amount": amount,
                        "actor": "import",
                        "idempotency_key": uuid.uuid4().hex,
                        "body_hash": "0" * 64,
                        "implied": False,
                    }
                )
    feedback.append(  # feedback for a lead never scored: no lifecycle, never open
        {**feedback[0], "id": uuid.uuid4().hex, "lead_id": "never-scored",
         "idempotency_key": uuid.uuid4().hex}
    )  # fmt: skip
    store.record_decisions(decisions)
    with store.engine.begin() as conn:
        conn.execute(insert(Feedback.__table__), feedback)


def test_the_store_finds_the_open_leads_a_full_replay_finds(store: Store) -> None:
    _seed(store, leads=300, seed=11)
    reference = open_leads(store.decisions_for_training(), store.feedback_frame())
    found = store.open_lead_decisions()
    assert 40 < len(reference) < 290, "the seed mixes open and closed leads"
    assert sorted(found["lead_id"]) == sorted(reference["lead_id"])
    assert sorted(found["id"]) == sorted(reference["id"]), "each lead's latest decision"
    assert list(found.columns) == list(reference.columns)
    assert "disqualify" not in set(found["decision"])
    batches = list(store.open_lead_batches(13))  # what `leadscore rescore` reads
    assert max(len(b) for b in batches) == 13
    assert sorted(i for b in batches for i in b["id"]) == sorted(reference["id"])


def test_an_empty_log_has_no_open_leads(store: Store) -> None:
    assert store.open_lead_decisions().empty


def test_both_paths_rescore_alike(
    store: Store, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(store, leads=120, seed=5)
    later = T0 + timedelta(days=60)
    scorer = registry.result.scorer
    old_crossings, old_rows = rescore_open_leads(
        scorer, store.decisions_for_training(), store.feedback_frame(), later, "1"
    )
    monkeypatch.setattr(cli.rescore, "CHUNK", 7)  # scored a few leads at a time: same rows
    new_crossings, new_rows = rescore_leads(scorer, store.open_lead_decisions(), later, "1")
    assert old_rows, "some leads are open"

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        features = json.dumps(row["features"], sort_keys=True, default=str)
        return (row["lead_id"], row["decision"], row["p_won"], row["reasons"] != [], features)

    assert sorted(map(key, new_rows)) == sorted(map(key, old_rows))
    assert sorted((c.lead_id, c.after) for c in new_crossings) == sorted(
        (c.lead_id, c.after) for c in old_crossings
    )
