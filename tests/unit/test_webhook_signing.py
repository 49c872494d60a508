"""The Standard Webhooks signature, the retry schedule and the target's answers."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime

import httpx
import pytest

from serving.outbox.deliver import Attempt, attempt_from_response, retry_after_seconds
from serving.outbox.events import (
    DECISION_CHANGED,
    THRESHOLD_CROSSED,
    OutboxEvent,
    envelope,
    lead_events,
)
from serving.outbox.signing import new_secret, secret_key, sign, verify
from serving.outbox.worker import Backoff

# The vector the Standard Webhooks reference libraries test against (svix / standard-
# webhooks, "testSignFunctionWorks"): a receiver's library must accept what we send.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_specification_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_verify_accepts_any_listed_signature_and_refuses_tampering() -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": f"v1,bm9wZQ== {SPEC_SIGNATURE}",
    }
    assert verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)
    assert not verify(SPEC_SECRET, headers, SPEC_BODY + b" ", now=SPEC_TIMESTAMP)
    assert not verify(new_secret(), headers, SPEC_BODY, now=SPEC_TIMESTAMP)
    assert not verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 301)  # replayed
    other = {**headers, "webhook-id": "msg_other"}
    assert not verify(SPEC_SECRET, other, SPEC_BODY, now=SPEC_TIMESTAMP)


def test_new_secrets_have_the_specified_form() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret != new_secret()
    for bad in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_***", "whsec_c2hvcnQ="):
        with pytest.raises(ValueError, match="secret"):
            secret_key(bad)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base=10, cap=3600, max_attempts=16)
    rng = random.Random(1)
    delays = [backoff.delay(n, rng) for n in range(1, 16)]
    for n, delay in enumerate(delays, start=1):
        raw = min(3600, 10 * 2 ** (n - 1))
        assert raw * 0.5 <= delay <= raw
    assert max(delays) <= 3600
    # the whole schedule: hours, not minutes, before a dead letter
    assert 4 * 3600 < sum(min(3600, 10 * 2 ** (n - 1)) for n in range(1, 16)) < 10 * 3600


def test_target_answers_become_attempts() -> None:
    def answer(status: int, **headers: str) -> Attempt:
        return attempt_from_response(httpx.Response(status, headers=headers))

    assert answer(204) == Attempt(ok=True, status=204, retry_after=None, error=None)
    assert answer(500).permanent is False and answer(500).error == "HTTP 500"
    assert answer(404).permanent and answer(401).permanent and answer(400).permanent
    limited = answer(429, **{"Retry-After": "7"})
    assert not limited.permanent and limited.retry_after == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds("999999") == 3600.0


def _row(decision: str, n: int) -> dict[str, object]:
    at = datetime(2026, 4, 1, 9, n, tzinfo=UTC)
    return {
        "id": f"d{n}",
        "request_id": f"r{n}",
        "lead_id": "L1",
        "scored_at": at,
        "as_of": at,
        "p_sql": 0.5,
        "p_won": 0.3 if decision == "hand_to_sales" else 0.05,
        "decision": decision,
        "threshold": 0.2,
        "model_name": "leadscore",
        "model_version": "3",
        "reasons": [
            {"code": "fit.industry", "text": "Industry fits", "contribution": 0.4, "params": {}},
            {"code": "eng.none", "text": "No recent touches", "contribution": -0.2},
        ],
    }


def test_lead_events_say_which_way_and_from_what() -> None:
    first = lead_events(_row("hand_to_sales", 1), None)
    assert [k for k, _ in first] == [THRESHOLD_CROSSED]  # a first score: no change
    assert first[0][1]["direction"] == "up" and first[0][1]["previous_decision"] is None
    down = dict(lead_events(_row("nurture", 2), _row("hand_to_sales", 1)))
    assert down[THRESHOLD_CROSSED]["direction"] == "down"
    assert down[DECISION_CHANGED]["previous_decision"] == "hand_to_sales"
    assert down[DECISION_CHANGED]["band"] == 1
    assert [r["code"] for r in down[DECISION_CHANGED]["reasons"]] == ["fit.industry", "eng.none"]
    assert lead_events(_row("nurture", 3), _row("nurture", 2)) == []
    sideways = lead_events(_row("disqualify", 4), _row("nurture", 3))
    assert [k for k, _ in sideways] == [DECISION_CHANGED]
    assert lead_events(_row("nurture", 5), None) == []


def test_envelope_is_the_specified_shape() -> None:
    event = OutboxEvent("evt_1", THRESHOLD_CROSSED, datetime(2026, 4, 1, tzinfo=UTC), {"a": 1})
    assert envelope(event) == (
        b'{"data":{"a":1},"timestamp":"2026-04-01T00:00:00+00:00","type":"lead.threshold_crossed"}'
    )
