"""The crash scenario's clients: each sends its planned messages and notes what came back.

See ``tests/crashcheck.py`` for the scenario; a message is acknowledged when
its sender sees it broadcast back, which the server does only after the
commit. ``CrashResult`` collects what the clients and the final audit found.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint


@dataclass
class CrashResult:
    """What one run found; ``ok`` is True when nothing was lost, doubled or renumbered."""

    planned: int = 0
    killed: str = "server"
    kill_after: int = 0
    acked_before_kill: int = 0
    in_flight_at_kill: int = 0
    stored_but_unacked: int = 0
    acked: int = 0
    found_once: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong_id: int = 0
    resent_acked: int = 0
    history_rows: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def problem(self, text: str) -> None:
        """Record one failed check (the first few are kept verbatim)."""
        if len(self.problems) < 20:
            self.problems.append(text)
        elif len(self.problems) == 20:
            self.problems.append("... more problems left out")

    def summary(self) -> str:
        """One line with the counts."""
        return (
            f"{self.killed} killed after {self.kill_after} acks: "
            f"acked before kill {self.acked_before_kill}, refused while draining {self.refused}, "
            f"in flight {self.in_flight_at_kill} (already stored {self.stored_but_unacked}); "
            f"acked {self.acked}/{self.planned}, found exactly once {self.found_once}, "
            f"lost {self.lost}, duplicated {self.duplicated}, wrong id {self.wrong_id}, "
            f"repeats checked {self.resent_acked}, history {self.history_rows} rows"
            + ("" if self.ok else f"; PROBLEMS: {'; '.join(self.problems)}")
        )


class CrashClient(WebSocketClientProtocol):
    """A WebSocket connection of one ``Sender``; hands every frame to it."""

    factory: SenderFactory

    def connectionMade(self) -> None:  # noqa: N802 - Twisted hook
        """Turn Nagle off: small frames must not wait for delayed ACKs."""
        super().connectionMade()
        self.transport.setTcpNoDelay(True)  # type: ignore[union-attr]

    def onOpen(self) -> None:  # noqa: N802 - Autobahn hook
        """Tell the sender it may send."""
        self.factory.sender.connected(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803
        """Pass the decoded frame on."""
        self.factory.sender.received(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:  # noqa: N802, N803
        """Tell the sender the connection is gone."""
        self.factory.sender.disconnected(self, reason)


class SenderFactory(WebSocketClientFactory):
    """Builds the connections of one ``Sender``."""

    protocol = CrashClient  # type: ignore[assignment]  # Factory types it loosely

    def __init__(self, url: str, token: str, sender: Sender) -> None:
        super().__init__(url, headers={"Authorization": f"Bearer {token}"})
        self.sender = sender


class Sender:
    """One user's client: the messages it plans, sends and has seen acknowledged.

    It survives reconnections; ``acked`` maps ``client_msg_id`` to the id the
    server acknowledged it with.
    """

    def __init__(
        self,
        index: int,
        user_id: int,
        token: str,
        messages: int,
        window: int,
        on_ack: Callable[[], None],
        result: CrashResult,
    ) -> None:
        self.index = index
        self.user_id = user_id
        self.token = token
        self.planned = [f"c{index}-m{n}" for n in range(messages)]
        self.window = window
        self.acked: dict[str, int] = {}
        self.in_flight: set[str] = set()
        self._queue: deque[str] = deque()
        self._on_ack = on_ack
        self._result = result
        self._protocol: CrashClient | None = None
        self._opened: Deferred[None] | None = None
        self.lost: Deferred[None] = Deferred()
        self.done: Deferred[None] = Deferred()
        # Once a server drains (its supervisor was killed), refusing new
        # messages is what it should do: they stay unacknowledged, for later.
        self.draining = False
        self.refused = 0

    # -- connecting -------------------------------------------------------------

    def connect(self, reactor: Any, port: int, room_id: int) -> Deferred[None]:
        """Open a new connection to the room; fires once it is open."""
        self.in_flight.clear()
        self.lost = Deferred()
        self._opened = Deferred()
        factory = SenderFactory(f"ws://127.0.0.1:{port}/ws?roomId={room_id}", self.token, self)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        connecting = endpoint.connect(factory)
        opened = self._opened

        def failed(failure: Any) -> None:
            if not opened.called:
                opened.errback(failure)

        connecting.addErrback(failed)
        return opened

    def connected(self, protocol: CrashClient) -> None:
        """The handshake succeeded."""
        self._protocol = protocol
        if self._opened is not None and not self._opened.called:
            self._opened.callback(None)

    def disconnected(self, protocol: CrashClient, reason: str | None) -> None:
        """The connection ended (the server died or we closed it)."""
        if protocol is self._protocol:
            self._protocol = None
        if self._opened is not None and not self._opened.called:
            self._opened.errback(
                ConnectionError(f"client {self.index}: handshake failed: {reason}")
            )
        if not self.lost.called:
            self.lost.callback(None)

    @property
    def local_port(self) -> int | None:
        """This client's port on 127.0.0.1 while connected (which worker holds it is in /proc)."""
        if self._protocol is None or self._protocol.transport is None:
            return None
        port: int = self._protocol.transport.getHost().port  # type: ignore[attr-defined]
        return port

    @property
    def connected_now(self) -> bool:
        """True while the connection is open."""
        return self._protocol is not None

    async def close(self) -> None:
        """Close the connection, if open, and wait until it is gone."""
        if self._protocol is not None:
            self._protocol.sendClose()
            await self.lost

    # -- sending ----------------------------------------------------------------

    def send(self, client_msg_ids: list[str]) -> Deferred[None]:
        """Send these messages with the window; ``done`` fires when all are answered."""
        self._queue = deque(client_msg_ids)
        self.done = Deferred()
        self._pump()
        return self.done

    def _pump(self) -> None:
        protocol = self._protocol
        while protocol is not None and self._queue and len(self.in_flight) < self.window:
            client_msg_id = self._queue.popleft()
            self.in_flight.add(client_msg_id)
            frame = {"content": f"{client_msg_id} says hello", "client_msg_id": client_msg_id}
            protocol.sendMessage(json.dumps(frame).encode("utf-8"))
        if not self._queue and not self.in_flight and not self.done.called:
            self.done.callback(None)

    def received(self, frame: dict[str, Any]) -> None:
        """Count our own messages coming back as acknowledgements."""
        kind = frame.get("type")
        client_msg_id = frame.get("client_msg_id")
        if kind == "error":
            if self.draining and frame.get("code") == "store_unavailable":
                self.refused += 1
            else:
                self._result.problem(f"client {self.index}: error frame {frame}")
            if client_msg_id in self.in_flight:
                self.in_flight.discard(client_msg_id)
                self._pump()
            return
        if kind != "message" or frame.get("sender_id") != self.user_id:
            return
        if not isinstance(client_msg_id, str):
            self._result.problem(f"client {self.index}: own message without client_msg_id")
            return
        message_id = frame["id"]
        previous = self.acked.get(client_msg_id)
        if previous is not None and previous != message_id:
            self._result.wrong_id += 1
            self._result.problem(
                f"{client_msg_id} acknowledged as id {previous}, then as id {message_id}"
            )
        if previous is None:
            self.acked[client_msg_id] = message_id
            self._on_ack()
        if client_msg_id in self.in_flight:
            self.in_flight.discard(client_msg_id)
            self._pump()
        elif previous is None:
            self._result.problem(f"{client_msg_id} acknowledged but never sent")
