"""The server-side request forgery guard of outgoing webhooks.

A webhook URL is chosen by a room owner, and the service POSTs to it from
inside the operator's network: without a guard, ``https://10.0.0.5/admin``
or a name that resolves to ``169.254.169.254`` (a cloud's metadata
service) would let any owner reach what only the server should. So every
address a request would go to must be a global unicast address:

* at registration, a literal address in the URL (and ``localhost``) is
  refused at once, with a 400;
* at delivery, the host name is resolved once, every address it resolves to
  is checked, and the connection goes to the vetted address itself (the
  ``Host`` header and TLS server name stay the URL's name). Resolving again
  to connect would let a name that changes its answer between the check
  and the connection (DNS rebinding) slip through.

``GuardedEndpointFactory`` is the ``IAgentEndpointFactory`` that does the
second part for a treq ``HTTPClient``; ``WEBHOOK_ALLOW_PRIVATE`` turns the
guard off for tests and development against a local receiver.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IProtocol,
    IProtocolFactory,
    IResolutionReceiver,
    IStreamClientEndpoint,
)
from twisted.web.client import URI
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenAddress(Exception):
    """A webhook would connect to an address the guard refuses."""


def refusal(address: IPAddress) -> str | None:
    """Why a request must not go to ``address``, or None for a global unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if address.sixtofour is not None or address.teredo is not None:
            return "a tunnelled IPv6 address"
        if int(address) >> 32 == 0 and int(address) > 1:
            return "an IPv4-compatible IPv6 address"
        if address in _NAT64:
            return "a NAT64 address"
    for check, what in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(address, check):
            return what
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if not address.is_global:
        return "an address that is not globally routable"
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_address(text: str) -> IPAddress | None:
    """The address a host (an ``IAddress``'s ``host``, or a URL's) is, if it is one.

    Also the shorthand forms the C resolver takes as IPv4 (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``): a URL holding one connects there.
    """
    text = text.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def check_literal_host(host: str) -> None:
    """Refuse a URL host that is a forbidden literal address or ``localhost``.

    A host name is checked at delivery, after it is resolved.

    Raises:
        ForbiddenAddress: the host is refused.
    """
    lowered = host.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        raise ForbiddenAddress(f"{host} is a loopback name")
    address = parse_address(host)
    if address is not None:
        why = refusal(address)
        if why is not None:
            raise ForbiddenAddress(f"{host} is {why}")


@implementer(IResolutionReceiver)
class _Collector:
    def __init__(self) -> None:
        self.addresses: list[IAddress] = []
        self.done: Deferred[list[IAddress]] = Deferred()

    def resolutionBegan(self, resolutionInProgress: IHostResolution) -> None:  # noqa: N802, N803
        """Nothing to do: the answer comes address by address."""

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        """Keep each address."""
        self.addresses.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        """Hand the addresses on."""
        self.done.callback(self.addresses)


async def vetted_address(
    resolver: IHostnameResolver, host: str, port: int, allow_private: bool
) -> IPv4Address | IPv6Address:
    """Resolve ``host`` once and return the address to connect to, if all are allowed.

    Every answer is checked, not only the one used: a name with one public
    and one private address is refused, whichever the connection would take.

    Raises:
        DNSLookupError: the name has no address.
        ForbiddenAddress: an address is refused.
    """
    collector = _Collector()
    resolver.resolveHostName(collector, host, port)
    addresses = [a for a in await collector.done if isinstance(a, IPv4Address | IPv6Address)]
    if not addresses:
        raise DNSLookupError(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            parsed = parse_address(address.host)
            why = "not an address" if parsed is None else refusal(parsed)
            if why is not None:
                raise ForbiddenAddress(f"{host} resolves to {address.host}, {why}")
    return addresses[0]


@implementer(IStreamClientEndpoint)
class _GuardedEndpoint:
    """Connects to the vetted address of a URL's host, with TLS for ``https``."""

    def __init__(self, factory: GuardedEndpointFactory, uri: URI) -> None:
        self._factory = factory
        self._uri = uri

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:  # noqa: N803
        """Resolve, check, then connect to the address checked."""
        return Deferred.fromCoroutine(self._connect(protocolFactory))

    async def _connect(self, protocol_factory: IProtocolFactory) -> Any:
        factory, uri = self._factory, self._uri
        host = uri.host.decode("idna") if isinstance(uri.host, bytes) else str(uri.host)
        address = await vetted_address(factory.resolver, host, uri.port, factory.allow_private)
        endpoint: IStreamClientEndpoint
        if isinstance(address, IPv6Address):
            endpoint = TCP6ClientEndpoint(
                factory.reactor, address.host, uri.port, timeout=factory.connect_timeout
            )
        else:
            endpoint = TCP4ClientEndpoint(
                factory.reactor, address.host, uri.port, timeout=factory.connect_timeout
            )
        if uri.scheme == b"https":
            from twisted.internet.ssl import optionsForClientTLS

            # The certificate is checked against the URL's name, not the address.
            options = optionsForClientTLS(host, trustRoot=factory.trust_root)
            endpoint = wrapClientTLS(options, endpoint)
        return await endpoint.connect(protocol_factory)


@implementer(IAgentEndpointFactory)
class GuardedEndpointFactory:
    """The endpoints of a webhook ``Agent``: resolve once, refuse, connect to the vetted IP.

    Args:
        reactor: connects (an ``IReactorTCP``).
        resolver: resolves host names (``reactor.nameResolver`` in service).
        allow_private: skip the address check (``WEBHOOK_ALLOW_PRIVATE``).
        connect_timeout: seconds a TCP connection may take to open.
        trust_root: the certificate authorities for ``https`` (the
            platform's by default; a test's self-signed certificate).
    """

    def __init__(
        self,
        reactor: Any,
        resolver: IHostnameResolver,
        *,
        allow_private: bool = False,
        connect_timeout: float = 5.0,
        trust_root: Any = None,
    ) -> None:
        self.reactor = reactor
        self.resolver = resolver
        self.allow_private = allow_private
        self.connect_timeout = connect_timeout
        self.trust_root = trust_root

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:  # noqa: N802
        """An endpoint that checks the address before it connects."""
        return _GuardedEndpoint(self, uri)
