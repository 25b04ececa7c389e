"""Deliver one Web Push message: encrypt it (RFC 8291), sign it (RFC 8292), POST it (RFC 8030).

The payload is encrypted to the subscription's browser key with a fresh
ephemeral P-256 key and salt per message (``aes128gcm``, done by
``http_ece``): only that browser can read it; the push service in between
sees ciphertext. The request goes through an injected ``PushHTTP`` (the
service's is ``treq`` on an ``IAgent``), with a timeout on each attempt.

What the push service answers decides what happens next:

* 201/200/202: delivered (queued by the push service).
* 404/410: the subscription is gone for good (the browser unsubscribed, or
  the push service expired it): ``forget`` drops it from the store.
* 429 and 5xx, a timeout or a connection error: tried again after a backoff
  (``Retry-After`` is honoured up to the longest delay), a bounded number of
  times, then given up.
* anything else (400, 401/403: a VAPID key the push service refuses, 413):
  given up at once and logged.

The CPU work (one ECDH, two HKDFs, one AES-GCM record of a payload under
4 KiB) takes well under a millisecond, so it runs inline; the VAPID
signature is cached per origin (``vapid.Vapid``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.internet import protocol
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent

from chatservice.push_models import PushSubscription, b64url_decode
from chatservice.vapid import Vapid

DELIVERED = "delivered"
GONE = "gone"
FAILED = "failed"

# Seconds a push service keeps an undelivered push (the browser may be off).
DEFAULT_TTL = 24 * 3600
# Seconds one attempt may take, connection and answer included.
DEFAULT_TIMEOUT = 10.0
# Waits before the second and the third attempt.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (2.0, 10.0)
# RFC 8291 allows 4096-byte records; ours are one short JSON object.
MAX_PAYLOAD = 3800


@dataclass(frozen=True, slots=True)
class Answer:
    """A push service's answer: its status and ``Retry-After`` (seconds) if it gave one."""

    status: int
    retry_after: float | None = None


class PushHTTP(Protocol):
    """POSTs a push; what ``PushSender`` needs of an HTTP client (tests give a fake)."""

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Deferred[Answer]:
        """POST ``body``; fire with the answer once its body has been read and dropped."""


class TreqPushHTTP:
    """``PushHTTP`` on ``treq`` over an ``IAgent`` (where an SSRF guard can sit).

    Redirects are not followed: an endpoint is where the browser's push
    service said, and a redirect could point anywhere.
    """

    def __init__(self, agent: IAgent) -> None:
        from treq.client import HTTPClient

        self._client = HTTPClient(agent)

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Deferred[Answer]:
        """POST without buffering; the answer's body is read and dropped."""
        sending: Deferred[Any] = self._client.post(
            url,
            data=body,
            headers=Headers({k: [v] for k, v in headers.items()}),
            unbuffered=True,
            allow_redirects=False,
        )

        def answered(response: Any) -> Deferred[Answer]:
            retry = response.headers.getRawHeaders(b"retry-after", [b""])[0]
            answer = Answer(response.code, _seconds(retry))
            return discard_body(response).addCallback(lambda _: answer)

        return sending.addCallback(answered)


class _Discard(protocol.Protocol):
    """Reads a response body to its end and keeps none of it."""

    def __init__(self, done: Deferred[None]) -> None:
        self._done = done

    def dataReceived(self, data: bytes) -> None:
        """Drop it."""

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """The body ended (or the connection did): the answer is complete."""
        if not self._done.called:
            self._done.callback(None)


def discard_body(response: Any) -> Deferred[None]:
    """Read ``response``'s body; cancelling (the attempt's timeout) drops the connection.

    A push service's body is a short note, but an endpoint is a URL a user
    chose: one that sends forever must not hold the connection open.
    """
    reader: _Discard

    def abort(_: Deferred[None]) -> None:
        if reader.transport is not None:
            reader.transport.stopProducing()  # type: ignore[attr-defined]

    done: Deferred[None] = Deferred(abort)
    reader = _Discard(done)
    response.deliverBody(reader)
    return done


def _seconds(raw: bytes) -> float | None:
    try:
        value = float(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None  # an HTTP date, or nothing: the backoff decides
    return value if 0 <= value < 86400 else None


def encrypt(payload: bytes, p256dh: str, auth: str) -> bytes:
    """The ``aes128gcm`` body of RFC 8291 for one browser key and auth secret."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=ephemeral,
        dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth),
        version="aes128gcm",
    )
    return body


def origin_of(endpoint: str) -> str:
    """``scheme://host[:port]``: the ``aud`` of the VAPID JWT for this endpoint."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


class PushSender:
    """Encrypts, signs and POSTs pushes; drops subscriptions the push service says are gone."""

    log = Logger()

    def __init__(
        self,
        vapid: Vapid,
        http: PushHTTP,
        clock: IReactorTime,
        forget: Callable[[str], Awaitable[object]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        """Build a sender.

        Args:
            vapid: signs the ``Authorization`` header.
            http: sends the requests.
            clock: times the timeouts and the backoff.
            forget: drops a subscription by endpoint (after a 404 or 410).
            timeout: seconds per attempt.
            retry_delays: waits before each further attempt.
            ttl: seconds the push service may hold the push.
        """
        self._vapid = vapid
        self._http = http
        self._clock = clock
        self._forget = forget
        self._timeout = timeout
        self._delays = tuple(retry_delays)
        self._ttl = ttl

    def request(
        self, subscription: PushSubscription, payload: bytes, topic: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and encrypted body of one push (sans I/O)."""
        body = encrypt(payload, subscription.p256dh, subscription.auth)
        headers = {
            "Authorization": self._vapid.authorization(origin_of(subscription.endpoint)),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self._ttl),
            "Urgency": "high",
        }
        if topic is not None:
            # A newer push of the same topic replaces an undelivered one.
            headers["Topic"] = topic
        return headers, body

    async def send(
        self, subscription: PushSubscription, payload: bytes, topic: str | None = None
    ) -> str:
        """Deliver one push; fire with ``DELIVERED``, ``GONE`` or ``FAILED`` (never fails)."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("a push payload must stay under one record")
        headers, body = self.request(subscription, payload, topic)
        attempt = 0
        while True:
            answer = await self._attempt(subscription, headers, body)
            if answer is not None and answer.status in (200, 201, 202):
                return DELIVERED
            if answer is not None and answer.status in (404, 410):
                self.log.info(
                    "push subscription {id} is gone ({status}): dropped",
                    id=subscription.id,
                    status=answer.status,
                )
                await self._forget(subscription.endpoint)
                return GONE
            retriable = answer is None or answer.status == 429 or answer.status >= 500
            if not retriable or attempt >= len(self._delays):
                self.log.warn(
                    "push to subscription {id} failed ({why}); given up",
                    id=subscription.id,
                    why="no answer" if answer is None else f"status {answer.status}",
                )
                return FAILED
            delay = self._delays[attempt]
            if answer is not None and answer.retry_after is not None:
                delay = min(max(delay, answer.retry_after), max(self._delays))
            attempt += 1
            await deferLater(self._clock, delay, lambda: None)

    async def _attempt(
        self, subscription: PushSubscription, headers: Mapping[str, str], body: bytes
    ) -> Answer | None:
        """One POST under the timeout; None if it timed out or could not connect."""
        try:
            posting = self._http.post(subscription.endpoint, headers, body)
            posting.addTimeout(self._timeout, self._clock)
            return await posting
        except CancelledError:
            raise  # stopped (a timeout arrives as defer.TimeoutError instead)
        except Exception as error:
            self.log.debug("push to subscription {id}: {error!r}", id=subscription.id, error=error)
            return None
