"""How a webhook delivery is signed, and how a receiver checks it (docs/protocol.md).

The signature is HMAC-SHA256, keyed with the webhook's secret, over the
timestamp, a dot and the exact body bytes: a receiver that checks it knows
the body came from this service unchanged, and one that also refuses old
timestamps cannot be fed a recorded delivery again (a replay). The scheme
is versioned (``v1=``) so that a second scheme can be sent beside it later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TIMESTAMP_HEADER = "X-Chat-Timestamp"
SIGNATURE_HEADER = "X-Chat-Signature"
DELIVERY_HEADER = "X-Chat-Delivery"
EVENT_HEADER = "X-Chat-Event"
SECRET_PREFIX = "whsec_"
# What a receiver should accept between its clock and the timestamp.
REPLAY_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """A new webhook secret: 256 random bits, shown once to the owner."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Chat-Signature`` value of ``body`` sent at ``timestamp`` (Unix seconds)."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance: int = REPLAY_TOLERANCE_SECONDS,
) -> bool:
    """Whether a delivery's headers prove it is ours and recent (what a receiver runs).

    ``signature`` may list several comma-separated ``v1=`` values; one
    matching is enough. Compared in constant time.
    """
    if timestamp is None or signature is None or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, int(timestamp), body)
    return any(
        hmac.compare_digest(expected, candidate.strip()) for candidate in signature.split(",")
    )
