"""Send a socket's first bytes of a reactor turn at once, when nothing waits before them.

Why: Twisted's ``transport.write`` only buffers. It registers the socket for
writability (an ``epoll_ctl``), the next reactor turn's ``doWrite`` sends and
unregisters it (a second ``epoll_ctl``): three system calls and several layers
of Python dispatch per socket and turn. Fan-out writes once per socket per
committed batch, so under a steady load that cycle was a large part of a
delivery's cost (bench/RESULTS.md). When the transport holds nothing, the
first write of a turn is sent now; whatever the kernel does not take goes to
``transport.write`` as before, so order, back-pressure (the producer's
pause), ``loseConnection`` and error handling all stay Twisted's.

Only the first write per connection and turn: later ones in the same turn
go through ``transport.write`` and leave together in one send, as before.
Sending each at once would turn a turn's many small writes to a socket
(the ``memory:`` store publishes each message as it is stored) into one
system call each, and cost the peer a read each (S1 on ``memory:`` fell
from 363 k to 66 k deliveries/s when every write was sent at once).

Only plain TCP and UNIX connections (``twisted.internet.tcp.Connection``,
whose buffer and ``writeSomeData`` this reads) send eagerly, and only with a
clock to tell the turns apart; TLS, other transports and clock-less callers
keep ``transport.write``. ``tests/test_eager_send.py`` pins the Twisted
internals this relies on.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from twisted.internet import tcp
from twisted.internet.interfaces import IReactorTime, ITransport


class Turn:
    """The connections sent to at once in this turn of one reactor; forgotten at the next.

    One per reactor, shared by every socket (``turn_for``), so a socket pays
    for eager sending with one reference, not a closure of its own (S3
    counts bytes per idle socket).
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self.sent: set[tcp.Connection] = set()

    def mark(self, connection: tcp.Connection) -> None:
        """Remember ``connection`` until the reactor's next turn."""
        if not self.sent:
            self._clock.callLater(0, self.sent.clear)
        self.sent.add(connection)


_turns: WeakKeyDictionary[IReactorTime, Turn] = WeakKeyDictionary()


def turn_for(transport: ITransport, clock: IReactorTime | None) -> Turn | None:
    """The turn to send ``transport``'s writes eagerly in, or None to leave them to Twisted."""
    if clock is None or not isinstance(transport, tcp.Connection):
        return None
    turn = _turns.get(clock)
    if turn is None:
        turn = _turns[clock] = Turn(clock)
    return turn


def send_eagerly(connection: ITransport, turn: Turn, data: bytes) -> None:
    """Write ``data``: at once if it is the connection's first write this turn and nothing waits.

    ``connection`` is one that ``turn_for`` gave ``turn`` for.
    """
    assert isinstance(connection, tcp.Connection)
    if (
        connection in turn.sent
        or connection.dataBuffer
        or connection._tempDataBuffer
        or not connection.connected
        or connection.disconnecting
        # Aborted: closed on the next turn, so Twisted drops what is written.
        or connection._aborting
        # startTLS: bytes must go through the TLS layer, never straight out.
        or connection.TLS
    ):
        connection.write(data)
        return
    turn.mark(connection)
    sent = connection.writeSomeData(data)
    if type(sent) is int:
        if sent == len(data):
            return
        data = data[sent:]
    # The rest (or all of it, if the socket failed: the reactor's ``doWrite``
    # then meets the same error and closes the connection).
    connection.write(data)
