"""The drift roll-up stays equal to the pandas drift section as the log and the model change.

``serving.store.rollup_drift`` counts every decision per day and per label or bin of the
served model's reference profile; the pandas path (``from_store`` then ``build_report``),
which reads the whole log, is the reference. After a first report, new decisions, a row
updated in place and erased leads must all show, on SQLite and PostgreSQL, for
whole-day and partial-day periods; a model with other edges rebuilds the roll-up; a
snapshot field only erased decisions carried leaves the section, as in the pandas frame.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from serving.report_sql import store_report
from serving.reports import build_report, from_store
from serving.reports.drift import UNIFORM_PERCENTILES
from serving.rollup_tables import DriftRollupDecision, DriftRollupProfile
from serving.storage import Store
from serving.store.report_drift import watched
from serving.store.rollup_drift import spec_key, use_profile
from serving.tables import Decision
from tests.integration.test_report_rollups import PERIODS, _decision
from tests.integration.test_report_sql_parity import START, _profile, _same, _seed

NAME = "training data of m v1"


def _drift(store: Store, profile: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The drift section both ways, checked equal; returns the served one."""

    def inputs() -> Any:
        return from_store(
            store.decisions_for_training(),
            store.feedback_frame(),
            reference=profile,
            reference_name=NAME,
        )

    reference = build_report(inputs(), group_by=[], sections=["drift"], **options)
    served = store_report(
        store,
        inputs,
        group_by=[],
        sections=["drift"],
        reference_given=True,
        drift_reference=profile,
        reference_name=NAME,
        **options,
    )
    for report in (reference, served):
        report.pop("generated_at")
    _same(served, reference, where=str(options))
    return served["drift"]


def _check(store: Store, profile: dict[str, Any]) -> list[dict[str, Any]]:
    return [_drift(store, profile, options) for options in PERIODS]


def _binned_decisions(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        binned = conn.execute(select(func.count()).select_from(DriftRollupDecision)).scalar_one()
        logged = conn.execute(select(func.count()).select_from(Decision)).scalar_one()
    return binned, logged


def test_drift_rollup_follows_new_decisions_updates_and_erasures(store: Store) -> None:
    _seed(store, leads=120)
    profile = _profile(store)
    first = _check(store, profile)
    assert first[0]["n_current"] > 120 and first[0]["score"] is not None
    binned, logged = _binned_decisions(store)
    assert binned == logged  # the counts came from the roll-up, one row per decision

    store.record_decisions(
        [
            _decision("N1", START + timedelta(days=2, hours=3), "hand_to_sales", {"channel": "x"}),
            # a later decision of L5 on a day of its own, with a value the profile lacks
            _decision("L5", START + timedelta(days=12, hours=9), "nurture", {"industry": "mining"}),
            _decision("L7", START + timedelta(days=40), "hand_to_sales", {"touches_30d": 400}),
        ]
    )
    with store.engine.begin() as conn:  # an update in place, outside the writers
        # (snapshot and segment columns kept consistent, as the writer keeps them: the SQL
        # takes a row's column where its snapshot lacks the field, the pandas path only
        # where no snapshot has it)
        features = {"channel": "email", "industry": "retail", "has_phone": True}
        conn.execute(
            update(Decision)
            .where(Decision.lead_id == "L9")
            .values(channel="email", industry="retail", p_won=0.99, features=features)
        )
    store.erase_leads(["L3", "L11"], lead_key=lambda lead: "k" + lead, actor="admin")
    after = _check(store, profile)
    binned, logged = _binned_decisions(store)
    assert after[0]["n_current"] == first[0]["n_current"] + 3 - 2 == logged == binned


def test_another_profile_rebuilds_the_rollup(store: Store) -> None:
    _seed(store, leads=60)
    profile = _profile(store)
    _check(store, profile)
    shifted = {
        **profile,
        "columns": {
            **profile["columns"],
            "p_won": {"kind": "numeric", "edges": [0.05, 0.2], "shares": [0.3, 0.3, 0.4, 0.0]},
        },
    }
    edges = UNIFORM_PERCENTILES["edges"]
    assert not use_profile(store.engine, profile, edges)  # the active one: nothing to do
    _check(store, shifted)  # the first report against it rebuilt the roll-up
    with store.engine.connect() as conn:
        key = conn.execute(select(DriftRollupProfile.key)).scalar_one()
    assert key == spec_key(watched(shifted, edges)) != spec_key(watched(profile, edges))
    store.record_decisions([_decision("N2", START + timedelta(days=5), "nurture", {})])
    assert use_profile(store.engine, profile, edges)  # back to the first model
    _check(store, profile)


def test_a_field_only_erased_decisions_carried_leaves_the_section(store: Store) -> None:
    _seed(store, leads=40)
    profile = _profile(store)
    profile = {
        **profile,
        "columns": {**profile["columns"], "rare": {"kind": "categorical", "shares": {"a": 1.0}}},
    }
    assert "rare" not in {e["feature"] for e in _drift(store, profile, {})["features"]}
    store.record_decisions([_decision("R1", START + timedelta(days=3), "nurture", {"rare": "b"})])
    assert "rare" in {e["feature"] for e in _drift(store, profile, {})["features"]}
    _check(store, profile)
    store.erase_leads(["R1"], lead_key=lambda lead: "k" + lead, actor="admin")
    assert "rare" not in {e["feature"] for e in _drift(store, profile, {})["features"]}
