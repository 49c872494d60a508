"""Two ``leadscore serve`` replicas on one PostgreSQL and one MLflow tracking server.

The set-up of ``docs/deployment.md``, started for real: ``mlflow server`` with a
PostgreSQL backend store (a database of this test's own) and a proxied artifact root,
and two replicas configured by settings alone — one leadscore database (a schema of
this test's own), one session secret, a home each (as on two hosts) and one shared
model cache folder. The replicas start while the first model is being logged, without
a model, and their poll finds the champion once its alias is set. The test shows that

* a promotion (the ``champion`` alias moved in the registry) is served by both replicas
  within the poll interval plus the new version's download and check;
* one ``Idempotency-Key`` sent to both replicas at the same moment stores one row, and
  both answer with it;
* a page session opened on one replica works on the other, and ending it on the other
  ends it on the first;
* with one replica killed (SIGKILL) under load, the other keeps answering every request,
  and a client that fails over (as a load balancer does) loses none.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from scoring.model import verify_folder
from serving.storage import make_engine
from serving.tables import Feedback
from tests.clients import hidden
from tests.conftest import PostgresServer, _admin_connect
from tests.integration.replica_processes import (
    ServerProcess,
    start_mlflow_server,
    start_replica,
)
from tests.model_fixtures import Registry
from tests.payloads import LEAD
from training.registry import CHAMPION, configure, log_and_register, use_store

POLL_SECONDS = 2.0
LOAD_ALLOWANCE_SECONDS = 30.0
"""After the poll sees the alias move, the new version is downloaded, checked in a child
process and swapped in: seconds on an idle machine, more on a loaded 2-core CI runner."""
ADMIN_KEY = "lsk_replica_test_admin_key_0123456789"
AS_OF = "2026-03-30T09:00:00Z"


@dataclass
class MlflowServer:
    server: ServerProcess
    database: str


@pytest.fixture
def mlflow_server(
    postgres_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> Iterator[MlflowServer]:
    """``mlflow server`` on a fresh PostgreSQL database; started, not yet waited for.

    Requests ``postgres_url`` first, so that PostgreSQL's absence skips (or fails in CI,
    ``LEADSCORE_REQUIRE_POSTGRES=1``) before anything starts.
    """
    database = f"mlflow_replicas_{secrets.token_hex(4)}"
    with _admin_connect(postgres_server.url) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    backend = make_url(postgres_server.url).set(database=database, query={})
    (tmp_path / "logs").mkdir()
    server = start_mlflow_server(
        backend.render_as_string(hide_password=False), tmp_path / "artifacts", tmp_path / "logs"
    )
    try:
        yield MlflowServer(server, database)
    finally:
        server.stop()
        with _admin_connect(postgres_server.url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _ready_with(version: str):
    def ok(response: httpx.Response) -> bool:
        return response.status_code == 200 and response.json().get("version") == version

    return ok


def _score(client: httpx.Client, url: str, lead_id: str) -> httpx.Response:
    return client.post(
        f"{url}/v1/score",
        json={**LEAD, "lead_id": lead_id, "as_of": AS_OF},
        headers={"X-API-Key": ADMIN_KEY},
        timeout=30,
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_two_replicas_share_the_registry_the_store_and_the_sessions(
    mlflow_server: MlflowServer,
    postgres_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.monotonic()
    # This process logs and registers through the MLflow server like a trainer would: with
    # MLflow's own retries and a patient timeout, not the serving side's fail-fast values
    # that an in-process server of an earlier test left in the environment (setdefault in
    # serving/model_loading.py) -- a busy CI machine answers slower than 5 s
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    # the session's trained model (trained while the MLflow server starts, if not yet)
    registry: Registry = request.getfixturevalue("registry")
    marks = {"trained (or the session's model)": time.monotonic()}
    mlflow_server.server.wait_until("/health", lambda r: r.status_code == 200)
    tracking_uri = mlflow_server.server.url
    trainer = registry.settings(tmp_path / "trainer", tracking_uri=tracking_uri)
    marks["MLflow server up"] = time.monotonic()

    settings = {
        "LEADSCORE_TRACKING_URI": tracking_uri,
        "LEADSCORE_DATABASE_URL": postgres_url,
        "LEADSCORE_MODEL_POLL_SECONDS": f"{POLL_SECONDS:g}",
        "LEADSCORE_UI_SESSION_SECRET": secrets.token_hex(32),
        "LEADSCORE_ERASURE_SECRET": secrets.token_hex(32),
        "LEADSCORE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "LEADSCORE_MODEL_CACHE_DIR": str(tmp_path / "shared-model-cache"),
    }
    logs = tmp_path / "logs"
    # The replicas start (and migrate the database, at once) while the first model is
    # logged: they come up without a model (/readyz 503) and their poll finds the
    # champion once the alias is set, as on a first deployment
    replicas = [
        start_replica(name, {**settings, "LEADSCORE_HOME": str(tmp_path / name)}, logs)
        for name in ("replica-a", "replica-b")
    ]
    try:
        v1 = log_and_register(registry.result, registry.history, registry.config, trainer)
        client = use_store(trainer)
        client.set_registered_model_alias("leadscore", CHAMPION, v1.version)
        marks["v1 logged, registered, champion"] = time.monotonic()
        # the next version: the same logged model registered again (logging it twice
        # would only cost time); to the servers it is a version like any other,
        # downloaded and checked on its own
        first = client.get_model_version("leadscore", v1.version)
        model_id = first.source.removeprefix("models:/")  # MLflow 3: the logged model
        v2 = client.create_model_version(
            "leadscore", first.source, run_id=first.run_id, model_id=model_id
        )
        assert v2.version != v1.version
        for replica in replicas:
            replica.wait_until("/readyz", _ready_with(v1.version), timeout=180)
        marks["both replicas serve v1"] = time.monotonic()
        a, b = replicas
        with httpx.Client() as http:
            _check_promotion(http, client, replicas, v2.version)
            marks["v2 served by both"] = time.monotonic()
            # one cache for both (the setting), each version written once and whole
            cache = Path(settings["LEADSCORE_MODEL_CACHE_DIR"])
            for version in (v1.version, v2.version):
                verify_folder(cache / f"v{version}")
            assert not list(cache.glob(".staging-*"))
            assert not (tmp_path / "replica-a" / "model-cache").exists()
            _check_idempotency(http, a, b, postgres_url)
            _check_sessions(http, a, b)
            _check_kill_under_load(a, b)
    finally:
        for replica in replicas:
            replica.stop()
        # MLflow's process-wide store and experiment back to the session registry's,
        # for the tests that run after this one in the same process
        configure(registry.settings(registry.root / "trainer"))
    marks["checks done"] = time.monotonic()
    print(
        "\nreplica test, seconds since the start: "
        + ", ".join(f"{what} {at - started:.1f}" for what, at in marks.items())
    )


def _check_promotion(
    http: httpx.Client, client: MlflowClient, replicas: list[ServerProcess], new: str
) -> None:
    """Move ``champion``; both replicas serve the new version within the poll interval
    (plus the download and check), and score with it."""
    promoted_at = time.monotonic()
    client.set_registered_model_alias("leadscore", CHAMPION, new)
    served_after: dict[str, float] = {}
    deadline = promoted_at + POLL_SECONDS + LOAD_ALLOWANCE_SECONDS
    while len(served_after) < len(replicas) and time.monotonic() < deadline:
        for replica in replicas:
            if replica.name not in served_after:
                answer = http.get(f"{replica.url}/readyz", timeout=5).json()
                if answer.get("version") == new:
                    served_after[replica.name] = time.monotonic() - promoted_at
        time.sleep(0.1)
    assert len(served_after) == len(replicas), (
        f"not every replica serves v{new} {POLL_SECONDS + LOAD_ALLOWANCE_SECONDS:g} s after "
        f"the promotion: {served_after}\n" + "\n".join(r.tail() for r in replicas)
    )
    print(f"\npromotion to v{new} served after: {served_after}")
    for replica in replicas:
        response = _score(http, replica.url, f"promoted-{replica.name}")
        assert response.status_code == 200, response.text
        assert response.json()["model"]["version"] == new


def _check_idempotency(http: httpx.Client, a: ServerProcess, b: ServerProcess, db_url: str) -> None:
    """The same feedback, under one key, sent to both replicas at once: one row, one answer."""
    headers = {"X-API-Key": ADMIN_KEY}
    leads = [f"idem-lead-{i}" for i in range(4)]
    for lead in leads:
        assert _score(http, a.url, lead).status_code == 200
    for lead in leads:  # the read flushes replica A's decision log: the score is stored
        assert http.get(f"{a.url}/v1/leads/{lead}/decision", headers=headers).status_code == 200
    for lead in leads:
        key = f"idem-{lead}-{secrets.token_hex(4)}"
        body = {"lead_id": lead, "kind": "accepted", "at": "2026-03-30T12:00:00Z"}
        answers = _post_at_once((a, b), "/v1/feedback", body, {**headers, "Idempotency-Key": key})
        statuses = {name: r.status_code for name, r in answers.items()}
        assert statuses == {a.name: 201, b.name: 201}, {n: r.text for n, r in answers.items()}
        assert len({r.json()["id"] for r in answers.values()}) == 1
        replayed = sorted(r.headers["Idempotent-Replayed"] for r in answers.values())
        assert replayed == ["false", "true"]
    engine = make_engine(db_url)
    try:
        table = Feedback.__table__
        with engine.connect() as conn:
            rows = conn.execute(
                select(table.c.lead_id, func.count()).group_by(table.c.lead_id)
            ).all()
    finally:
        engine.dispose()
    assert dict(rows) == dict.fromkeys(leads, 1)


def _post_at_once(
    replicas: tuple[ServerProcess, ...], path: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, httpx.Response]:
    """POST the same request to every replica, released at the same moment by a barrier."""
    barrier = threading.Barrier(len(replicas))
    answers: dict[str, httpx.Response] = {}

    def send(replica: ServerProcess) -> None:
        barrier.wait()
        answers[replica.name] = httpx.post(
            replica.url + path, json=body, headers=headers, timeout=30
        )

    threads = [threading.Thread(target=send, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _check_sessions(http: httpx.Client, a: ServerProcess, b: ServerProcess) -> None:
    """The sign-in form from B, posted to A; the queue opens on B; A's form token signs
    out on B; A then refuses the session. No request needs the replica of the last one."""
    form = http.get(f"{b.url}/ui/login")
    assert form.status_code == 200
    signed_in = http.post(
        f"{a.url}/ui/login",
        data={"api_key": ADMIN_KEY, "csrf": hidden(form.text, "csrf"), "next": "/ui/queue"},
        cookies={"leadscore_login": form.cookies["leadscore_login"]},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    session = {"leadscore_session": signed_in.cookies["leadscore_session"]}
    http.cookies.clear()  # from here on, only the session cookie travels, by hand
    queue_on_b = http.get(f"{b.url}/ui/queue", cookies=session, follow_redirects=False)
    assert queue_on_b.status_code == 200, (queue_on_b.status_code, queue_on_b.headers)
    assert "promoted-replica-a" in queue_on_b.text  # a lead scored through replica A
    queue_on_a = http.get(f"{a.url}/ui/queue", cookies=session, follow_redirects=False)
    assert queue_on_a.status_code == 200
    signed_out = http.post(
        f"{b.url}/ui/logout",
        data={"csrf": hidden(queue_on_a.text, "csrf")},  # A's form token, accepted by B
        cookies=session,
        follow_redirects=False,
    )
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/ui/login"
    http.cookies.clear()
    after = http.get(f"{a.url}/ui/queue", cookies=session, follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/ui/login")


def _check_kill_under_load(a: ServerProcess, b: ServerProcess) -> None:
    """Clients load both replicas; A is SIGKILLed; B answers everything, failover loses none."""
    stop = threading.Event()
    killed = threading.Event()
    lock = threading.Lock()
    direct_b: list[tuple[bool, int]] = []  # (after the kill, status) of requests sent to B
    balanced: list[tuple[bool, str, int]] = []  # (after the kill, who answered, status)

    def to_b(worker: int) -> None:
        with httpx.Client() as http:
            n = 0
            while not stop.is_set():
                after = killed.is_set()
                status = _score(http, b.url, f"load-b-{worker}-{n}").status_code
                with lock:
                    direct_b.append((after, status))
                n += 1

    def round_robin(worker: int) -> None:
        """A client behind a load balancer: alternate, and on a dead replica try the other."""
        with httpx.Client() as http:
            n = 0
            while not stop.is_set():
                order = (a, b) if n % 2 == 0 else (b, a)
                after = killed.is_set()
                answered, status = "none", 0
                for replica in order:
                    try:
                        status = _score(http, replica.url, f"load-rr-{worker}-{n}").status_code
                        answered = replica.name
                        break
                    except httpx.TransportError:
                        continue  # connection refused or reset: the next replica
                with lock:
                    balanced.append((after, answered, status))
                n += 1

    workers = [threading.Thread(target=to_b, args=(0,))] + [
        threading.Thread(target=round_robin, args=(i,)) for i in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.5)
        a.kill()
        a.process.wait(timeout=10)
        killed.set()  # requests started from now on cannot reach A
        time.sleep(2.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert direct_b and all(status == 200 for _, status in direct_b), direct_b
    assert sum(after for after, _ in direct_b) >= 3, "B answered too few requests after the kill"
    assert all(status == 200 for _, _, status in balanced), [x for x in balanced if x[2] != 200]
    before = {who for after, who, _ in balanced if not after}
    after_kill = [who for after, who, _ in balanced if after]
    assert before == {a.name, b.name}  # both served before the kill
    assert len(after_kill) >= 3 and set(after_kill) == {b.name}
    print(
        f"\nkill under load: B answered {len(direct_b)} direct requests "
        f"({sum(a for a, _ in direct_b)} after the kill), the failover client "
        f"{len(balanced)} ({len(after_kill)} after), every one 200"
    )
