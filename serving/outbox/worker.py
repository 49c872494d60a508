"""The delivery worker: claim due deliveries, deliver them, settle them; again.

It runs as a thread inside ``leadscore serve`` (the app's lifespan) and as
``leadscore webhooks worker``; several at once are safe (``Store.claim_deliveries``).
A failed attempt is tried again after an exponential back-off with jitter (base × 2ⁿ,
capped, times a random 0.5–1), or after the ``Retry-After`` the target asked for; after
``max_attempts``, or at once on a permanent refusal, the delivery is a dead letter until
replayed. Killed at any point, the worker loses nothing: a claimed row is settled only
after its attempt, and an unsettled claim runs out and is taken again (at least once;
receivers deduplicate by ``webhook-id``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from scoring.settings import Settings
from serving.outbox.deliver import DELIVERERS, Attempt, Deliverer
from serving.storage import Store
from serving.store.outbox import Claimed, Outcome

log = logging.getLogger("leadscore.webhooks")


@dataclass(frozen=True)
class Backoff:
    """When to try again: ``base × 2^(attempt-1)``, capped at ``cap``, times 0.5–1."""

    base: float = 10.0
    cap: float = 3600.0
    max_attempts: int = 16

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        raw = min(self.cap, self.base * 2 ** min(attempts - 1, 40))
        return raw * rng.uniform(0.5, 1.0)

    @classmethod
    def from_settings(cls, settings: Settings) -> Backoff:
        return cls(
            settings.webhook_backoff_base_seconds,
            settings.webhook_backoff_max_seconds,
            settings.webhook_max_attempts,
        )


class OutboxWorker:
    """Delivers the outbox of ``store``; :meth:`run_once` is one claim-deliver-settle round."""

    def __init__(
        self,
        store: Store,
        *,
        batch: int = 100,
        concurrency: int = 4,
        timeout: float = 10.0,
        lease_seconds: float = 120.0,
        poll_seconds: float = 1.0,
        backoff: Backoff | None = None,
        deliverers: Mapping[str, Deliverer] | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self.deliverers = DELIVERERS if deliverers is None else deliverers
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> OutboxWorker:
        return cls(
            store,
            batch=settings.webhook_batch,
            concurrency=settings.webhook_concurrency,
            timeout=settings.webhook_timeout_seconds,
            lease_seconds=settings.webhook_lease_seconds,
            poll_seconds=settings.webhook_poll_seconds,
            backoff=Backoff.from_settings(settings),
        )

    def _attempt(self, claimed: Claimed) -> Outcome:
        started = time.perf_counter()
        deliverer = self.deliverers.get(claimed.subscription.kind)
        if deliverer is None:
            attempt = Attempt(
                ok=False,
                status=None,
                retry_after=None,
                error=f"no deliverer for kind {claimed.subscription.kind}",
            )
        else:
            try:
                attempt = deliverer(claimed.subscription, claimed.event, self._client)
            except Exception as exc:  # a deliverer's bug: logged by class, retried
                attempt = Attempt(ok=False, status=None, retry_after=None, error=type(exc).__name__)
        duration_ms = (time.perf_counter() - started) * 1000
        now = self._clock()
        attempts = claimed.attempts + 1
        dead = not attempt.ok and (attempt.permanent or attempts >= self.backoff.max_attempts)
        next_at = None
        if not attempt.ok and not dead:
            wait = attempt.retry_after
            if wait is None:
                wait = self.backoff.delay(attempts, self._rng)
            next_at = now + timedelta(seconds=wait)
        return Outcome(claimed, attempt, now, duration_ms, next_at, dead)

    def run_once(self) -> int:
        """Claim one batch, deliver it (``concurrency`` at a time), settle it: the count."""
        claimed = self.store.claim_deliveries(self.batch, self.lease_seconds)
        if not claimed:
            return 0
        outcomes = list(self._pool.map(self._attempt, claimed))
        self.store.record_outcomes(outcomes)
        for o in outcomes:
            if o.attempt.ok:
                self.delivered += 1
            else:
                self.failed += 1
                if o.dead:
                    log.warning(
                        "delivery %d of %s is a dead letter after %d attempt(s): %s",
                        o.claimed.delivery_id,
                        o.claimed.event.type,
                        o.claimed.attempts + 1,
                        o.attempt.error,
                    )
        return len(claimed)

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Deliver until :meth:`stop` (or ``until()``); sleep ``poll_seconds`` when idle.

        A database error is logged (its class) and retried after a poll: the server keeps
        serving while its database restarts.
        """
        while not self._stop.is_set() and not (until is not None and until()):
            try:
                busy = self.run_once()
            except Exception as exc:
                log.error("webhook worker round failed: %s", type(exc).__name__)
                busy = 0
            if not busy:
                self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        """Run in a daemon thread (the server's lifespan)."""
        self._thread = threading.Thread(target=self.run, name="webhook-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop, wait for the round in progress (its outcomes are recorded), release."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True)
        self._client.close()


class SubscriberFlag:
    """Whether a subscription wants lead events, re-read at most every ``ttl`` seconds.

    The score endpoints ask it on every request (to wait for the decision's commit only
    when someone is owed an event), so it answers from memory; :meth:`stale` says when
    it should be re-read (off the event loop).
    """

    def __init__(self, store: Store, ttl: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl
        self.value = False
        self._read_at = float("-inf")

    def stale(self) -> bool:
        return time.monotonic() - self._read_at > self.ttl

    def refresh(self) -> bool:
        try:
            self.value = self.store.has_subscribers()
        except Exception as exc:  # the database is away: keep the last answer
            log.error("could not read webhook subscriptions: %s", type(exc).__name__)
        self._read_at = time.monotonic()
        return self.value
