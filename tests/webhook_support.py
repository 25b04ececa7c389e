"""Test helpers of webhooks: a fake resolver and a receiver (its certificate: ``tls_support``).

``FakeResolver`` answers names from a table (``hooks.test`` -> 127.0.0.1, or a
private address for the SSRF guard's tests) on any reactor. ``Receiver`` is
an HTTPS (or HTTP) server inside the test that checks each delivery's
signature and can be told to fail: answer 5xx, never answer (a timeout), or
be gone (a closed port).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

from chatservice.webhook_signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)


@implementer(IHostResolution)
@dataclass
class _Resolution:
    name: str

    def cancel(self) -> None:
        """Nothing to cancel: answers are immediate."""


@implementer(IHostnameResolver)
class FakeResolver:
    """Resolves names from a table; unknown names have no address."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = dict(table)
        self.asked: list[str] = []

    def resolveHostName(  # noqa: N802 - Twisted's interface
        self,
        resolutionReceiver: IResolutionReceiver,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: object = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        """Answer at once from the table."""
        self.asked.append(hostName)
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        for host in self.table.get(hostName, [hostName] if _literal(hostName) else []):
            kind = IPv6Address if ":" in host else IPv4Address
            resolutionReceiver.addressResolved(kind("TCP", host, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


def _literal(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


@dataclass
class Delivery:
    """One request the receiver got."""

    delivery: str
    event_id: int
    body: dict[str, Any]
    signed: bool
    host: str


@dataclass
class Receiver(Resource):
    """A webhook receiver: records deliveries, answers as ``mode`` says.

    ``mode``: ``"ok"`` (204), ``"fail"`` (503), ``"hang"`` (never answers;
    the request is kept so the test can see it arrived).
    """

    secret: str = ""
    now: Any = None  # () -> float, the clock signatures are checked against
    mode: str = "ok"
    received: list[Delivery] = field(default_factory=list)
    accepted: list[Delivery] = field(default_factory=list)
    hanging: list[Request] = field(default_factory=list)
    waiters: list[Deferred[Delivery]] = field(default_factory=list)
    isLeaf = True  # noqa: N815 - twisted.web's attribute

    def __post_init__(self) -> None:
        Resource.__init__(self)

    def next_request(self) -> Deferred[Delivery]:
        """Fire with the next request that arrives."""
        waiter: Deferred[Delivery] = Deferred()
        self.waiters.append(waiter)
        return waiter

    def render_POST(self, request: Request) -> bytes | int:  # noqa: N802
        """Check, record and answer one delivery."""
        assert request.content is not None
        raw = request.content.read()
        body = json.loads(raw)
        signed = verify(
            self.secret,
            _header(request, TIMESTAMP_HEADER),
            _header(request, SIGNATURE_HEADER),
            raw,
            self.now(),
        )
        delivery = Delivery(
            _header(request, DELIVERY_HEADER) or "",
            int(body["event_id"]),
            body,
            signed,
            _header(request, "Host") or "",
        )
        self.received.append(delivery)
        waiters, self.waiters = self.waiters, []
        mode = self.mode
        if mode == "hang":
            self.hanging.append(request)
            result: bytes | int = NOT_DONE_YET
        elif mode == "fail":
            request.setResponseCode(503)
            result = b"unavailable"
        else:
            self.accepted.append(delivery)
            request.setResponseCode(204)
            result = b""
        for waiter in waiters:
            waiter.callback(delivery)
        return result


def _header(request: Request, name: str) -> str | None:
    value = request.getHeader(name)
    return value if value is None else str(value)
