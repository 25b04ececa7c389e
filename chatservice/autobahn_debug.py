"""Autobahn's debug lines cost nothing unless they are written.

Autobahn formats the arguments of its debug log lines (a pretty-printed
options dump, coloured type names) on every connection and handshake,
before the logger decides to drop them. ``install`` swaps its module-level
helpers for ones that defer or skip that work; ``websocket.py`` installs
them when it is imported, before any connection exists.
"""

from __future__ import annotations

from pprint import pformat

from autobahn.twisted import websocket as autobahn_twisted
from autobahn.websocket import protocol as autobahn_protocol


class _FormatWhenLogged:
    """A value that Autobahn would pretty-print, formatted only if a log line is written.

    Autobahn pretty-prints its ~50 protocol options for a debug line on
    every new connection (``WebSocketProtocol._connectionMade``), logged or
    not: ~9 % of a handshake's CPU in the S3 profile (~120 us), and still
    ~23 us (4 % of the direct door's handshake) as a plain ``repr``. The
    logger formats an event's arguments only when an observer keeps it.
    (Autobahn's other use, ``Timings.__str__``, needs ``trackTimings``,
    which the service never turns on.)
    """

    __slots__ = ("_value",)

    def __init__(self, value: object, *_: object, **__: object) -> None:
        self._value = value

    def __str__(self) -> str:
        return pformat(self._value)

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _plain(value: object, *_: object, **__: object) -> object:
    """The value itself, for a log line to format only if it is ever written."""
    return value


def install() -> None:
    """Make Autobahn's debug-line helpers lazy (once per process; idempotent).

    ``pformat`` becomes ``_FormatWhenLogged``. Autobahn also colours the
    arguments of its debug lines (``hltype``, ``hlval``: ``click.style`` on
    a qualified name) before the logger decides to drop them: ~18 calls per
    handshake, ~8 % of its CPU in bench/handshake_cpu.py. Passed through as
    they are, they cost a call each.
    """
    autobahn_protocol.pformat = _FormatWhenLogged  # type: ignore[attr-defined,assignment]
    for module in (autobahn_protocol, autobahn_twisted):
        for name in ("hltype", "hlval"):
            if hasattr(module, name):
                setattr(module, name, _plain)
