"""Listening sockets: endpoints a service binds itself, or sockets it was handed.

One process normally listens on each ``--listen`` endpoint description.
With ``--workers N`` the supervisor binds each TCP endpoint once
(``bind_shared``) and hands the socket to every worker, which adopts it
(``AdoptedPort``); the kernel then gives each new connection to whichever
worker accepts it first. Only plain TCP can be shared this way: TLS would
need each worker to wrap the socket, and a UNIX socket path is left for one
process, so ``shared_tcp_address`` refuses the other endpoint types with a
message naming the option.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.web.server import Site

from chatservice.config import ConfigError

# Twisted's own default is 50: a burst of connects overflows it, and a
# refused SYN costs its client a one-second retransmit (see
# tests/test_listening.BacklogTests). 511 is nginx's and Redis's default;
# the kernel caps it at net.core.somaxconn.
DEFAULT_BACKLOG = 511
# How many positional values each endpoint type takes before its backlog.
_POSITIONS_BEFORE_BACKLOG = {"tcp": 2, "tcp6": 1, "ssl": 5}


@dataclass(frozen=True, slots=True)
class AdoptedPort:
    """A listening socket this process inherited instead of binding it.

    Attributes:
        fd: the file descriptor it was inherited as; ``open_ports`` closes it
            once the reactor holds a copy.
        family: ``socket.AF_INET`` or ``socket.AF_INET6``.
        description: the endpoint description it was bound from (for logs).
    """

    fd: int
    family: int
    description: str


@dataclass(frozen=True, slots=True)
class TcpAddress:
    """Where a ``tcp:``/``tcp6:`` endpoint description listens."""

    family: int
    interface: str
    port: int
    backlog: int


async def open_ports(
    reactor: Any,
    site: Site,
    listen: Sequence[str],
    adopted: Sequence[AdoptedPort],
    opened: list[IListeningPort],
) -> None:
    """Serve ``site`` on the adopted sockets if there are any, else on each endpoint.

    Each port is appended to ``opened`` as soon as it listens, so that a
    failure on a later one leaves the earlier ones for the caller to stop.
    An adopted socket is shared with other processes: stopping its port only
    closes this process's copy (Twisted does not shut an adopted socket
    down), and the others keep accepting.
    """
    if adopted:
        for inherited in adopted:
            opened.append(reactor.adoptStreamPort(inherited.fd, inherited.family, site))
            # The reactor holds its own duplicate; the inherited number is ours to close.
            os.close(inherited.fd)
        return
    for description in listen:
        endpoint = serverFromString(reactor, with_default_backlog(description))
        opened.append(await endpoint.listen(site))


def with_default_backlog(description: str) -> str:
    """``description`` with ``:backlog=DEFAULT_BACKLOG`` added, unless it names one.

    Only ``tcp:``, ``tcp6:`` and ``ssl:`` descriptions take a backlog this
    way; any other is returned as it is.
    """
    (prefix, kind), *pieces = _split(description)
    before = _POSITIONS_BEFORE_BACKLOG.get(kind)
    if prefix is not None or before is None:
        return description
    positional = sum(1 for key, _value in pieces if key is None)
    if positional > before or any(key == "backlog" for key, _value in pieces):
        return description
    return f"{description}:backlog={DEFAULT_BACKLOG}"


def shared_tcp_address(description: str) -> TcpAddress:
    r"""Parse a ``tcp:`` or ``tcp6:`` endpoint description, as Twisted would.

    ``tcp:PORT[:interface=HOST][:backlog=N]`` (positionally PORT:HOST:N) and
    ``tcp6:PORT[:backlog=N][:interface=HOST]`` (positionally PORT:N:HOST);
    a backslash escapes a colon (``tcp6:8081:interface=\:\:1``).

    Raises:
        ConfigError: another endpoint type, or a malformed description.
    """
    kind, *pieces = _split(description)
    if kind[1] not in ("tcp", "tcp6") or kind[0] is not None:
        raise ConfigError(
            f"--listen: {description!r} cannot be shared by worker processes; "
            "with --workers above 1 give tcp: or tcp6: endpoints"
        )
    six = kind[1] == "tcp6"
    names = ("port", "backlog", "interface") if six else ("port", "interface", "backlog")
    values: dict[str, str] = {}
    for index, (key, value) in enumerate(pieces):
        name = key if key is not None else (names[index] if index < len(names) else "")
        if name not in names or name in values:
            raise ConfigError(f"--listen: {description!r}: unexpected {key or value!r}")
        values[name] = value
    try:
        port = int(values["port"])
        backlog = int(values.get("backlog", DEFAULT_BACKLOG))
    except (KeyError, ValueError):
        raise ConfigError(f"--listen: {description!r}: expected a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--listen: {description!r}: the port must be 0-65535")
    family = socket.AF_INET6 if six else socket.AF_INET
    interface = values.get("interface", "::" if six else "")
    return TcpAddress(family, interface, port, backlog)


def bind_shared(description: str) -> socket.socket:
    """Bind and listen on a TCP endpoint description, for workers to adopt.

    The socket is non-blocking (``adoptStreamPort`` needs it; the flag
    belongs to the socket, so every worker's copy has it) and reuses the
    address as Twisted's own TCP ports do.

    Raises:
        ConfigError: not a TCP description (see ``shared_tcp_address``).
        OSError: the address cannot be bound (in use, not ours, ...).
    """
    address = shared_tcp_address(description)
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if address.family == socket.AF_INET6:
            # Numeric only, as Twisted's tcp6 endpoint; keeps a scope id (fe80::1%eth0).
            info = socket.getaddrinfo(
                address.interface, address.port, 0, 0, 0, socket.AI_NUMERICHOST
            )
            sock.bind(info[0][4])
        else:
            sock.bind((address.interface, address.port))
        sock.listen(address.backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _split(description: str) -> list[tuple[str | None, str]]:
    """Split ``a:b=c`` into ``[(None, "a"), ("b", "c")]``; a backslash escapes what follows."""
    pieces: list[tuple[str | None, str]] = []
    key: str | None = None
    current = ""
    escaped = False
    for char in description:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            pieces.append((key, current))
            key, current = None, ""
        elif char == "=" and key is None:
            key, current = current, ""
        else:
            current += char
    pieces.append((key, current))
    return pieces
