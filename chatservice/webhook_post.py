"""One webhook delivery request: the signed POST, its timeout, and what went wrong.

``webhook_delivery`` decides what to send and when; this module sends one
event once and answers None (a 2xx) or one line for the owner's view
(``HTTP 503``, ``no answer within 15 s``, ``refused: ...``), never the
URL or the secret. The answer's body is read (the connection ends
cleanly) but kept nowhere, and only its first ``MAX_ANSWER_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime

from chatservice import __version__
from chatservice.hook_models import Webhook
from chatservice.webhook_signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from chatservice.wire import dumps

MAX_ANSWER_BYTES = 4096
USER_AGENT = f"chatservice-webhooks/{__version__}"

Headers = dict[bytes | str, list[bytes | str]]


class HTTPPoster(Protocol):
    """What deliveries need of a treq ``HTTPClient``."""

    def post(
        self, url: str, /, *, data: bytes, headers: Headers, allow_redirects: bool
    ) -> Deferred[Any]:
        """POST ``data``; fire with a treq response."""


def delivery_id(webhook_id: int, event_id: int) -> str:
    """The ``X-Chat-Delivery`` of an event: the same on every attempt, for receivers to dedupe."""
    return f"{webhook_id}.{event_id}"


async def post_event(
    client: HTTPPoster,
    clock: IReactorTime,
    timeout: float,
    webhook: Webhook,
    event_id: int,
    event: dict[str, Any],
) -> str | None:
    """Send one signed delivery; None if a 2xx answered it, else what went wrong.

    Raises:
        CancelledError: the attempt was abandoned (a shutdown out of time).
    """
    delivery = delivery_id(webhook.id, event_id)
    body = dumps(
        {
            "delivery": delivery,
            "webhook_id": webhook.id,
            "room_id": webhook.room_id,
            "event_id": event_id,
            "event": event,
        }
    )
    timestamp = int(clock.seconds())
    headers: Headers = {
        "Content-Type": ["application/json"],
        "User-Agent": [USER_AGENT],
        TIMESTAMP_HEADER: [str(timestamp)],
        SIGNATURE_HEADER: [sign(webhook.secret, timestamp, body)],
        DELIVERY_HEADER: [delivery],
        EVENT_HEADER: [str(event.get("type", "event"))],
    }
    request = Deferred.fromCoroutine(_exchange(client, webhook.url, body, headers))
    timed_out: list[bool] = []

    def on_timeout(result: Any, seconds: float) -> Any:
        timed_out.append(True)
        return result

    request.addTimeout(timeout, clock, onTimeoutCancel=on_timeout)
    try:
        status = await request
    except Exception as error:  # noqa: BLE001 - every failure is the receiver's to fix
        if timed_out:
            # Cancelled by the timeout: the agent reports it in its own words.
            return f"no answer within {timeout:g} s"
        if isinstance(error, CancelledError):
            raise
        return describe(error)
    if 200 <= status < 300:
        return None
    return f"HTTP {status}"


async def _exchange(client: HTTPPoster, url: str, body: bytes, headers: Headers) -> int:
    # A redirect is an answer like any other non-2xx: not followed.
    response = await client.post(url, data=body, headers=headers, allow_redirects=False)
    status: int = response.code
    seen = 0

    def collect(chunk: bytes) -> None:
        nonlocal seen
        seen += len(chunk)  # kept nowhere
        if seen > MAX_ANSWER_BYTES:
            raise _LongAnswer()

    try:
        await _collect(response, collect)
    except _LongAnswer:
        pass  # the status is what counts; the connection is dropped
    return status


class _LongAnswer(Exception):
    """An answer's body went past ``MAX_ANSWER_BYTES``: stop reading it."""


def _collect(response: Any, collector: Callable[[bytes], None]) -> Deferred[None]:
    import treq

    result: Deferred[None] = treq.collect(response, collector)
    return result


def describe(error: Exception) -> str:
    """One line about a failed request, for the owner's dead-letter list (no URL, no secret)."""
    from twisted.web._newclient import ResponseNeverReceived

    from chatservice.ssrf import ForbiddenAddress

    if isinstance(error, ForbiddenAddress):
        return f"refused: {error}"
    if isinstance(error, ResponseNeverReceived) and error.reasons:
        error = error.reasons[0].value
    name = type(error).__name__
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{name}: {text}"[:300] if text else name
