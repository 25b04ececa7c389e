"""A browser's side and a push service's side of Web Push, for tests.

``Browser`` makes a subscription as a browser does (a P-256 key pair and a
16-byte auth secret) and decrypts a push body with an implementation of
RFC 8291 written here from the RFC with ``cryptography`` alone, so that the
service's use of ``http_ece`` is checked, not trusted. ``check_vapid``
verifies an ``Authorization: vapid t=..., k=...`` header with PyJWT.
``PushServiceResource`` is a push service: it records each POST and
answers with the statuses it is told to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocol
from twisted.protocols.policies import WrappingFactory
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from chatservice.push_models import b64url_decode, b64url_encode
from chatservice.vapid import new_key_pair
from chatservice.webpush import Answer

# Settings that turn Web Push on (a key made for this test run).
VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY = new_key_pair()
# The tests' push service listens on 127.0.0.1: the SSRF guard lets it through.
PUSH_SETTINGS: dict[str, Any] = {
    "vapid_private_key": VAPID_PRIVATE_KEY,
    "vapid_subject": "mailto:ops@chat.test",
    "webhook_allow_private": True,
}


def _hkdf(salt: bytes, info: bytes, length: int, key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key)


@dataclass
class Browser:
    """One browser's push keys."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_raw(self) -> bytes:
        """The uncompressed public point (65 bytes)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """``PushSubscription.toJSON()``."""
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url_encode(self.public_raw), "auth": b64url_encode(self.auth)},
        }

    def decrypt(self, body: bytes) -> Any:
        """Decrypt an ``aes128gcm`` push body (RFC 8291, section 3.4) and decode its JSON."""
        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        server_public = body[21 : 21 + id_length]
        ciphertext = body[21 + id_length :]
        assert id_length == 65 and len(ciphertext) <= record_size, "one record, keyid = as_public"
        shared = self.private_key.exchange(
            ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_public)
        )
        ikm = _hkdf(self.auth, b"WebPush: info\x00" + self.public_raw + server_public, 32, shared)
        cek = _hkdf(salt, b"Content-Encoding: aes128gcm\x00", 16, ikm)
        nonce = _hkdf(salt, b"Content-Encoding: nonce\x00", 12, ikm)
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
        plain = padded.rstrip(b"\x00")
        assert plain.endswith(b"\x02"), "the last record's delimiter"
        return json.loads(plain[:-1])


def check_vapid(header: str, audience: str, now: float) -> dict[str, Any]:
    """Verify ``vapid t=<JWT>, k=<key>`` and return the claims and the key.

    The JWT must be ES256, signed by the key ``k``, for ``audience``, with an
    ``exp`` in the next 24 hours and a ``sub``.
    """
    scheme, _, rest = header.partition(" ")
    assert scheme == "vapid", header
    params = dict(part.strip().split("=", 1) for part in rest.split(","))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(params["k"]))
    claims: dict[str, Any] = jwt.decode(
        params["t"],
        key,
        algorithms=["ES256"],
        audience=audience,
        options={"require": ["aud", "exp", "sub"], "verify_exp": False},
    )
    assert now < claims["exp"] <= now + 24 * 3600, claims
    return {**claims, "k": params["k"]}


@dataclass
class Received:
    """One POST the push service received."""

    path: str
    headers: dict[str, str]
    body: bytes


class PushServiceResource(Resource):
    """A push service: records POSTs and answers with the next of ``statuses`` (201 after)."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self._waiting: list[tuple[int, Deferred[None]]] = []

    def render_POST(self, request: IRequest) -> bytes:  # noqa: N802 - twisted.web's name
        headers = {
            name.decode("ascii").lower(): values[0].decode("ascii")
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        self.received.append(
            Received(request.path.decode("ascii"), headers, request.content.read())
        )
        request.setResponseCode(self.statuses.pop(0) if self.statuses else 201)
        request.setHeader(b"connection", b"close")
        for count, waiter in list(self._waiting):
            if len(self.received) >= count:
                self._waiting.remove((count, waiter))
                waiter.callback(None)
        return b""

    def when_received(self, count: int) -> Deferred[None]:
        """Fire once ``count`` POSTs have arrived."""
        if len(self.received) >= count:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiting.append((count, waiter))
        return waiter


class EndlessPushService(Resource):
    """A push service that answers 201 and then sends its body forever (never finishes)."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.arrived: Deferred[Request] = Deferred()

    def render_POST(self, request: Request) -> object:  # noqa: N802 - twisted.web's name
        request.setResponseCode(201)
        request.write(b"still talking")
        self.arrived.callback(request)
        return NOT_DONE_YET


class TrackingFactory(WrappingFactory):
    """Knows its open connections, so a test can wait for them to close."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._idle: list[Deferred[None]] = []

    def unregisterProtocol(self, p: IProtocol) -> None:  # noqa: N802 - Twisted's name
        super().unregisterProtocol(p)
        if not self.protocols:
            waiters, self._idle = self._idle, []
            for waiter in waiters:
                waiter.callback(None)

    def closed(self) -> Deferred[None]:
        """Close every connection; fire once all are gone."""
        if not self.protocols:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._idle.append(waiter)
        for protocol in list(self.protocols):
            protocol.transport.loseConnection()
        return waiter


class RecordingPushHTTP:
    """``PushHTTP`` in memory: records each POST, answers with the next of ``answers``."""

    def __init__(self) -> None:
        self.sent: list[Received] = []
        self.answers: list[Answer | Deferred[Answer]] = []

    def post(self, url: str, headers: Any, body: bytes) -> Deferred[Answer]:
        """Record; answer 201 unless told otherwise."""
        self.sent.append(Received(url, dict(headers), body))
        answer = self.answers.pop(0) if self.answers else Answer(201)
        return answer if isinstance(answer, Deferred) else succeed(answer)
