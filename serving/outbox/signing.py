"""The Standard Webhooks signature (https://www.standardwebhooks.com/, spec 1.0).

``webhook-signature: v1,<base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))>``, the
key being the base64-decoded part of a ``whsec_<base64>`` secret, ``timestamp`` integer
Unix seconds. A few lines of the standard library, tested against the specification's
published vector (``tests/unit/test_webhook_signing.py``), rather than a dependency.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300
"""How far a receiver should let ``webhook-timestamp`` be from its clock (the spec's 5 min)."""


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64 (the spec's form)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ``ValueError`` if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("secret must start with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("secret must be whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("secret must hold 24 to 64 bytes")
    return key


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (one ``v1`` signature)."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of a request carrying ``body``."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, event_id, timestamp, body),
    }


def verify(
    secret: str,
    request_headers: dict[str, str],
    body: bytes,
    now: int,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether a received request is signed by ``secret`` and recent (for receivers).

    Any of the space-separated ``v1`` signatures may match; compared in constant time.
    """
    lowered = {k.lower(): v for k, v in request_headers.items()}
    event_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    given = lowered.get("webhook-signature")
    if not event_id or not stamp or not given or not stamp.isdigit():
        return False
    if abs(now - int(stamp)) > tolerance:
        return False
    expected = sign(secret, event_id, int(stamp), body)
    return any(hmac.compare_digest(expected, part) for part in given.split())
