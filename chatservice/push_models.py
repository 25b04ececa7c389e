"""Web Push records and the form a browser registers: its ``PushSubscription``.

A browser's ``PushSubscription.toJSON()`` is ``{endpoint, expirationTime,
keys: {p256dh, auth}}``: the push service's URL for this browser, the
browser's P-256 public key and its 16-byte authentication secret (both
URL-safe base64, RFC 8291). The service encrypts every push to that key and
secret; the endpoint is where it POSTs the ciphertext.

The endpoint is a URL a user chose, which the service will request: it must
be ``https`` and short, with no credentials in it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from chatservice.errors import InvalidRequest
from chatservice.url_forms import plain_ascii, refuse_literal_host, split_url
from chatservice.wire import parse_object

# Real endpoints (FCM, Mozilla autopush, Apple) are well under 1 KiB.
MAX_ENDPOINT = 1024
P256DH_BYTES = 65  # an uncompressed P-256 point: 0x04 | x | y
AUTH_BYTES = 16

# Why a push is sent (the payload's ``reason``).
MENTION = "mention"
DIRECT = "direct"
REASONS = (MENTION, DIRECT)


@dataclass(frozen=True, slots=True)
class NewPushSubscription:
    """A subscription to store: ``IPushStore.add_push_subscription``'s argument."""

    user_id: int
    endpoint: str
    p256dh: str  # URL-safe base64 without padding, as the browser gives it
    auth: str
    created_at: int


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A stored subscription of one browser of one user."""

    id: int
    user_id: int
    endpoint: str
    p256dh: str
    auth: str
    created_at: int

    def to_json(self) -> dict[str, Any]:
        """What the owner is shown: never the keys (the auth secret is the browser's)."""
        return {"id": self.id, "endpoint": self.endpoint, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class SubscriptionForm:
    """A validated ``POST /api/push/subscriptions`` body."""

    endpoint: str
    p256dh: str
    auth: str


def b64url_decode(text: str) -> bytes:
    """Decode URL-safe base64 with or without padding; ``ValueError`` if it is not that."""
    if not text.isascii():
        raise ValueError("not base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without padding (the form Web Push uses everywhere)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def check_endpoint(
    endpoint: object, *, require_https: bool = True, allow_private: bool = False
) -> str:
    """The endpoint if it is a URL the service may POST to; ``InvalidRequest`` otherwise.

    The endpoint is chosen by a browser, i.e. by a user, and the service
    requests it from inside the operator's network: the webhooks' SSRF guard
    (``ssrf.check_literal_host``) refuses a literal loopback, private,
    link-local or mapped address (and ``localhost``) here, and deliveries go
    through its guarded agent, which checks what a name resolves to.
    ``allow_private`` (``WEBHOOK_ALLOW_PRIVATE``) turns both off for a local
    push service.
    """
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= MAX_ENDPOINT:
        raise InvalidRequest(f"'endpoint' must be a URL of at most {MAX_ENDPOINT} characters.")
    if not plain_ascii(endpoint):
        raise InvalidRequest("'endpoint' must be an ASCII URL without spaces.")
    parts, port = split_url("endpoint", endpoint)
    schemes = ("https",) if require_https else ("https", "http")
    if parts.scheme not in schemes:
        raise InvalidRequest("'endpoint' must be an https URL.")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise InvalidRequest("'endpoint' must name a host, and no credentials.")
    if port == 0:
        raise InvalidRequest("'endpoint' is not a valid URL.")
    if not allow_private:
        refuse_literal_host("endpoint", parts.hostname)
    return endpoint


def _key(keys: dict[str, Any], name: str, size: int) -> bytes:
    value = keys.get(name)
    if not isinstance(value, str) or len(value) > 2 * size:
        raise InvalidRequest(f"'keys.{name}' must be URL-safe base64 of {size} bytes.")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise InvalidRequest(f"'keys.{name}' must be URL-safe base64 of {size} bytes.")
    return raw


def parse_subscription(
    data: bytes, *, require_https: bool = True, allow_private: bool = False
) -> SubscriptionForm:
    """Validate a browser's ``PushSubscription`` JSON (``expirationTime`` is ignored).

    The public key must be a point of P-256: a key that is not could not be
    encrypted to, and is refused now rather than at every push.
    """
    body = parse_object(data)
    endpoint = check_endpoint(
        body.get("endpoint"), require_https=require_https, allow_private=allow_private
    )
    expiration = body.get("expirationTime")
    if expiration is not None and (
        isinstance(expiration, bool) or not isinstance(expiration, (int, float))
    ):
        raise InvalidRequest("'expirationTime' must be a number or null.")
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise InvalidRequest("'keys' must be an object with 'p256dh' and 'auth'.")
    p256dh = _key(keys, "p256dh", P256DH_BYTES)
    auth = _key(keys, "auth", AUTH_BYTES)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError:
        raise InvalidRequest("'keys.p256dh' is not a P-256 public key.") from None
    return SubscriptionForm(endpoint, b64url_encode(p256dh), b64url_encode(auth))
