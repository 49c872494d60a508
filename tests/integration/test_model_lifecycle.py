"""The serving model's lifecycle: hot swap, corrupt candidates, registry outages, parity."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient

from scoring.model import LeadScorer, stage_file
from scoring.pyfunc import pyfunc_frame
from tests.model_fixtures import Registry, admin_headers
from tests.payloads import LEAD
from training.registry import CHAMPION, use_store

AS_OF = "2026-03-30T09:00:00Z"


def stored_scorer_folder(registry: Registry, version: str) -> Path:
    """Where the registry keeps a version's scorer files (to corrupt them on purpose)."""
    client = use_store(registry.settings(registry.root / "trainer"))
    model_id = client.get_model_version("leadscore", version).source.removeprefix("models:/")
    found = list(registry.root.rglob(f"{model_id}/artifacts/artifacts/scorer"))
    assert len(found) == 1, found
    return found[0]


def set_champion(registry: Registry, version: str) -> None:
    client = use_store(registry.settings(registry.root / "trainer"))
    client.set_registered_model_alias("leadscore", CHAMPION, version)


def served_version(client: TestClient) -> str:
    return client.get("/readyz").json()["version"]


@pytest.fixture
def restore_champion(registry: Registry):
    yield
    set_champion(registry, "1")


@pytest.mark.slow
def test_hot_swap_under_load_fails_no_request(
    registry: Registry, make_client: Callable[..., TestClient], restore_champion: None
) -> None:
    client = make_client()
    assert served_version(client) == "1"
    statuses: list[int] = []
    seen: list[list[str]] = [[], [], []]  # per worker, in request order
    stop = threading.Event()

    def hammer(versions: list[str]) -> None:
        while not stop.is_set():
            response = client.post(
                "/v1/score", json={**LEAD, "as_of": AS_OF}, headers=admin_headers()
            )
            statuses.append(response.status_code)
            if response.status_code == 200:
                versions.append(response.json()["model"]["version"])

    workers = [threading.Thread(target=hammer, args=(versions,)) for versions in seen]
    for worker in workers:
        worker.start()
    try:
        new_version = registry.register_again()
        set_champion(registry, new_version)
        reload = client.post("/v1/admin/reload", headers=admin_headers()).json()
        assert reload["result"] == f"swapped to v{new_version}"
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert statuses and set(statuses) == {200}
    for versions in seen:
        assert versions[0] == "1" and versions[-1] == new_version
        first_new = versions.index(new_version)
        assert set(versions[first_new:]) == {new_version}, "a later request got the old model"
    assert client.get("/v1/model", headers=admin_headers()).json()["version"] == new_version


def _rewrite_manifest(folder: Path) -> None:
    manifest = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.name not in {"checksums.json", ".checked"}
    }
    (folder / "checksums.json").write_text(json.dumps(manifest))


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "truncated-with-valid-checksums", "garbage-json"])
def test_corrupt_candidate_is_never_loaded(
    registry: Registry,
    make_client: Callable[..., TestClient],
    restore_champion: None,
    damage: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(home=tmp_path / "serving")
    before = client.post("/v1/score", json={**LEAD, "as_of": AS_OF}, headers=admin_headers()).json()
    version = registry.register_again()
    folder = stored_scorer_folder(registry, version)
    # the SQL stage's file: LightGBM text, or JSON when the logistic candidate won
    sql_file = stage_file("sql", LeadScorer.load(folder).stages[0].family)
    if damage.startswith("truncated"):
        model_file = folder / sql_file
        model_file.write_bytes(model_file.read_bytes()[: len(model_file.read_bytes()) // 3])
    else:
        (folder / "scorer.json").write_text("{not json")
    if damage != "truncated":
        _rewrite_manifest(folder)
    set_champion(registry, version)

    with caplog.at_level(logging.WARNING, logger="leadscore.model"):
        reload = client.post("/v1/admin/reload", headers=admin_headers())
    assert reload.status_code == 200
    assert reload.json()["result"].startswith("kept v1"), reload.json()
    # the log line names the refused version and the damaged file
    damaged_file = "scorer.json" if damage == "garbage-json" else sql_file
    (line,) = [r.getMessage() for r in caplog.records if "refresh failed" in r.getMessage()]
    assert f"candidate v{version} (v{version})" in line, line
    assert damaged_file in line, line
    after = client.post("/v1/score", json={**LEAD, "as_of": AS_OF}, headers=admin_headers())
    assert after.status_code == 200
    assert after.json()["model"]["version"] == "1"
    assert after.json()["p_won"] == before["p_won"]
    assert client.get("/readyz").json()["status"] == "ready"


@pytest.mark.slow
def test_starts_from_the_local_copy_when_the_registry_is_unreachable(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    home = tmp_path / "serving"
    first = make_client(home=home)
    expected = first.post(
        "/v1/score", json={**LEAD, "as_of": AS_OF}, headers=admin_headers()
    ).json()

    # Nothing listens on port 9: the registry is down.
    started = time.monotonic()
    offline = make_client(home=home, tracking_uri="http://127.0.0.1:9", registry_timeout_seconds=2)
    took = time.monotonic() - started
    ready = offline.get("/readyz").json()
    assert ready == {"status": "ready", "version": "1", "source": "local-copy"}
    response = offline.post("/v1/score", json={**LEAD, "as_of": AS_OF}, headers=admin_headers())
    assert response.json()["p_won"] == expected["p_won"]
    assert took < 60, f"start-up with the registry down took {took:.0f}s"


@pytest.fixture
def silent_registry() -> Iterator[tuple[str, list[socket.socket]]]:
    """A real TCP server that accepts connections and never answers a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # closed
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        server.close()
        for conn in accepted:
            conn.close()


def test_a_registry_that_never_answers_does_not_hold_the_start_up(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    silent_registry: tuple[str, list[socket.socket]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ready from the local copy after the start-up deadline, not the registry's full one."""
    home = tmp_path / "serving"
    make_client(home=home)  # leaves a local copy of v1
    url, accepted = silent_registry
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="leadscore.model"):
        client = make_client(
            home=home,
            tracking_uri=url,
            registry_timeout_seconds=40,
            registry_startup_timeout_seconds=1,
        )
    took = time.monotonic() - started
    assert accepted, "the registry was never asked"
    assert client.get("/readyz").json() == {
        "status": "ready",
        "version": "1",
        "source": "local-copy",
    }
    # the start-up deadline, not registry_timeout_seconds, applied (generous bound)
    assert took < 30, f"start-up took {took:.1f}s with a silent registry"
    error = client.get("/readyz", headers=admin_headers()).json()["error"]
    assert "did not answer within 1 s" in error, error
    assert "did not answer within 1 s" in caplog.text
    assert "TimeoutError: )" not in caplog.text  # never an empty message


def test_without_registry_or_copy_the_server_still_starts_and_says_why(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(home=tmp_path / "empty", tracking_uri="http://127.0.0.1:9")
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"status": "no model"}
    # why (a registry address, internal paths) only for admins
    detail = client.get("/readyz", headers=admin_headers())
    assert detail.status_code == 503 and "127.0.0.1:9" in detail.json()["error"]
    not_admin = client.app.state.store.create_api_key("ops-scorer", "scorer")
    assert "error" not in client.get("/readyz", headers={"X-API-Key": not_admin}).json()
    assert client.get("/readyz", headers={"X-API-Key": "lsk_wrong"}).status_code == 503
    assert client.post("/v1/score", json=LEAD, headers=admin_headers()).status_code == 503


def test_same_numbers_in_memory_through_pyfunc_and_over_http(
    registry: Registry, make_client: Callable[..., TestClient]
) -> None:
    """Parity: LeadScorer, mlflow.pyfunc.load_model and POST /v1/score agree."""
    scorer = registry.result.scorer
    leads: list[dict[str, Any]] = [
        {**LEAD, "lead_id": f"p{i}", "touches": LEAD["touches"][:i], "as_of": AS_OF}
        for i in range(4)
    ]
    leads.append({**LEAD, "lead_id": "p-unseen", "industry": "asteroid mining", "as_of": AS_OF})
    in_memory = scorer.score_records(leads, [AS_OF] * len(leads)).p_won

    use_store(registry.settings(registry.root / "trainer"))
    pyfunc = mlflow.pyfunc.load_model("models:/leadscore@champion")
    frame = pyfunc_frame(leads, scorer.spec)
    through_pyfunc = pyfunc.predict(frame)["p_won"].to_numpy()

    client = make_client()
    over_http = np.array(
        [
            client.post("/v1/score", json=lead, headers=admin_headers()).json()["p_won"]
            for lead in leads
        ]
    )
    np.testing.assert_allclose(through_pyfunc, in_memory, rtol=1e-9)
    np.testing.assert_allclose(over_http, in_memory, atol=5e-7)  # the API rounds to 6 digits


def test_explanations_add_up_to_the_raw_score(registry: Registry) -> None:
    scorer = registry.result.scorer
    leads = [{**LEAD, "lead_id": f"a{i}", "touches": LEAD["touches"][:i]} for i in range(4)]
    scores = scorer.score_records(leads, [AS_OF] * 4, reasons=3)
    assert scores.field_contributions is not None and scores.base_value is not None
    np.testing.assert_allclose(
        scores.field_contributions.sum(axis=1) + scores.base_value, scores.raw, rtol=1e-6
    )


@pytest.mark.slow
def test_the_promote_route_runs_the_gate_as_a_job_then_reloads(
    registry: Registry,
    make_client: Callable[..., TestClient],
    restore_champion: None,
    tmp_path: Path,
) -> None:
    """``POST /v1/admin/promote`` runs ``leadscore promote`` in a child process: the same
    model registered again gains nothing, so the champion stays, and the decision is
    recorded on the challenger as the admin's."""
    client = make_client(home=tmp_path / "serving")
    version = registry.register_again()
    response = client.post("/v1/admin/promote", headers=admin_headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"promoted", "reason", "reload", "version"}
    assert body["promoted"] is False
    assert "champion v1 kept" in body["reason"], body["reason"]
    assert body["version"] == "1"
    client_ = use_store(registry.settings(registry.root / "trainer"))
    recorded = json.loads(client_.get_model_version("leadscore", version).tags["promotion"])
    assert recorded["by"] == "bootstrap-admin"


@pytest.mark.slow
def test_a_failed_promotion_job_is_a_503_that_says_so(
    registry: Registry, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    import serving.jobs

    client = make_client()
    monkeypatch.setattr(serving.jobs, "COMMAND_MODULE", "no_such_leadscore_module")
    response = client.post("/v1/admin/promote", headers=admin_headers())
    assert response.status_code == 503
    assert "the promotion job failed (exit 1)" in response.json()["detail"]
    assert "no_such_leadscore_module" in response.json()["detail"]
    assert served_version(client) == "1"
