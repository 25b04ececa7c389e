"""Send a socket's bytes in the same reactor turn when nothing waits before them.

Why: Twisted's ``transport.write`` only buffers. It registers the socket for
writability (an ``epoll_ctl``), the next reactor turn's ``doWrite`` sends and
unregisters it (a second ``epoll_ctl``): three system calls and several layers
of Python dispatch per write. Fan-out writes once per socket per committed
batch, so under a steady load that cycle was a large part of a delivery's
cost (bench/RESULTS.md). When the transport holds nothing, this sends now;
whatever the kernel does not take goes to ``transport.write`` as before, so
order, back-pressure (the producer's pause), ``loseConnection`` and error
handling all stay Twisted's.

Only plain TCP and UNIX connections (``twisted.internet.tcp.Connection``,
whose buffer and ``writeSomeData`` this reads) send eagerly; TLS and other
transports keep ``transport.write``. ``tests/test_eager_send.py`` pins the
Twisted internals this relies on.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import tcp
from twisted.internet.interfaces import ITransport


def eager_writer(transport: ITransport) -> Callable[[bytes], None]:
    """Return the function that writes ``data`` to ``transport``, sending at once when it can."""
    if not isinstance(transport, tcp.Connection):
        return transport.write
    connection = transport

    def write(data: bytes) -> None:
        if (
            connection.dataBuffer
            or connection._tempDataBuffer
            or not connection.connected
            or connection.disconnecting
        ):
            connection.write(data)
            return
        sent = connection.writeSomeData(data)
        if type(sent) is int:
            if sent == len(data):
                return
            data = data[sent:]
        # The rest (or all of it, if the socket failed: the reactor's
        # ``doWrite`` then meets the same error and closes the connection).
        connection.write(data)

    return write
