"""The crash scenario: SIGKILL ``twistd chat`` mid-traffic, restart it, audit the history.

Used by ``tests/test_crash.py`` (small numbers, in CI) and by
``bench/crash_test.py`` (large numbers, many runs). One run:

1. starts ``twistd -n chat`` as a subprocess on a SQLite file in a temporary
   folder, registers one user per client and creates a room;
2. each client opens a real Autobahn WebSocket and sends its planned messages,
   each with a unique ``client_msg_id``, keeping up to ``window`` unacknowledged;
   a message is *acknowledged* when the sender sees it broadcast back (the
   server broadcasts only after the commit);
3. after ``kill_after`` acknowledgements in total (a random number), the server
   gets SIGKILL; the clients see their connections drop;
4. a new server starts on the same file; each client reconnects and sends every
   message it has no acknowledgement for (in flight at the kill, or never
   sent), with the same ``client_msg_id``, plus a few acknowledged ones, whose
   answer must carry the id acknowledged before;
5. the room's history, paged with ``after=`` (limit 500), must hold every
   acknowledged message exactly once with the acknowledged id, no
   ``client_msg_id`` twice, and strictly increasing ids.

No sleeping: every wait is on a Deferred (a line of the server's output, a
socket opening or closing, a frame arriving, the process ending).
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.web.client import HTTPConnectionPool

from tests.test_twistd import TwistdProcess, chat_env, free_port, twistd_args
from tests.test_twistd import json_call as call

PAGE = 500
PASSWORD = "crash-test-password"
# The scenario measures durability, not the abuse limits: lift them.
UNLIMITED = {
    "MESSAGE_RATE": "100000",
    "MESSAGE_BURST": "1000000",
    "REGISTER_LIMIT": "1000000",
    "LOG_LEVEL": "info",
}


@dataclass(frozen=True)
class CrashSettings:
    """The size of one run.

    Attributes:
        clients: WebSocket clients, one user each, all in one room.
        messages: messages each client plans to send.
        window: the most unacknowledged messages one client has in flight.
        resend_acked: acknowledged messages each client sends again after the
            restart, to check that a repeat answers with the original id.
    """

    clients: int = 3
    messages: int = 30
    window: int = 5
    resend_acked: int = 3


@dataclass
class CrashResult:
    """What one run found; ``ok`` is True when nothing was lost, doubled or renumbered."""

    planned: int = 0
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
            f"kill after {self.kill_after} acks: acked before kill {self.acked_before_kill}, "
            f"in flight {self.in_flight_at_kill} (already stored {self.stored_but_unacked}); "
            f"acked {self.acked}/{self.planned}, found exactly once {self.found_once}, "
            f"lost {self.lost}, duplicated {self.duplicated}, wrong id {self.wrong_id}, "
            f"repeats checked {self.resent_acked}, history {self.history_rows} rows"
            + ("" if self.ok else f"; PROBLEMS: {'; '.join(self.problems)}")
        )


class Server:
    """One ``twistd -n chat`` child on a SQLite file; fires when it listens and ends."""

    def __init__(self, reactor: Any, workdir: str, database: str) -> None:
        self._reactor = reactor
        self._workdir = workdir
        self._database = database
        self.port = 0
        self.process: TwistdProcess | None = None
        self._transport: Any = None

    async def start(self) -> None:
        """Spawn the server on a free port; return once it logged that it listens."""
        self.port = free_port()
        self.process = TwistdProcess()
        args = twistd_args(self.port)
        env = chat_env(DATABASE_URL=f"sqlite:///{self._database}", **UNLIMITED)
        self._transport = self._reactor.spawnProcess(
            self.process, sys.executable, [sys.executable, *args], env=env, path=self._workdir
        )
        await self.process.listening

    @property
    def base(self) -> str:
        """The server's HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True until the process has ended."""
        return self.process is not None and not self.process.ended.called

    def signal(self, name: str) -> None:
        """Send a signal ("KILL", "TERM") if the process still runs."""
        if self.running:
            self._transport.signalProcess(name)

    async def stop(self, name: str = "KILL") -> None:
        """Signal the process (if it runs) and wait until it has ended."""
        if self.process is None:
            return
        self.signal(name)
        await self.process.ended


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


async def history(
    pool: HTTPConnectionPool, base: str, token: str, room_id: int
) -> list[dict[str, Any]]:
    """Return every message of the room, paging forward with ``after=``."""
    rows: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await call(
            pool, "GET", f"{base}/api/messages?roomId={room_id}&after={after}&limit={PAGE}", token
        )
        rows.extend(page)
        if len(page) < PAGE:
            return rows
        after = page[-1]["id"]


def audit(result: CrashResult, senders: list[Sender], rows: list[dict[str, Any]]) -> None:
    """Check the final history against what the senders saw acknowledged."""
    result.history_rows = len(rows)
    ids = [row["id"] for row in rows]
    for earlier, later in zip(ids, ids[1:], strict=False):
        if later <= earlier:
            result.problem(f"history ids not strictly increasing: {earlier} then {later}")
            break
    counts = Counter(row.get("client_msg_id") for row in rows)
    stored = {row.get("client_msg_id"): row["id"] for row in rows}
    duplicated = [key for key, n in counts.items() if n > 1]
    result.duplicated = len(duplicated)
    for key in duplicated[:5]:
        result.problem(f"{key} stored {counts[key]} times")
    planned = {key for sender in senders for key in sender.planned}
    strangers = [key for key in counts if key not in planned]
    if strangers:
        result.problem(f"{len(strangers)} messages in history that nobody sent: {strangers[:3]}")
    for sender in senders:
        for key in sender.planned:
            acked_id = sender.acked.get(key)
            if acked_id is None:
                result.problem(f"{key} was never acknowledged")
                continue
            result.acked += 1
            if key not in stored:
                result.lost += 1
                result.problem(f"{key} acknowledged as id {acked_id} but not in history")
            elif stored[key] != acked_id:
                result.wrong_id += 1
                result.problem(f"{key} acknowledged as id {acked_id}, stored as {stored[key]}")
            elif counts[key] == 1:
                result.found_once += 1


async def run_crash_scenario(
    reactor: Any,
    workdir: str,
    settings: CrashSettings,
    rng: random.Random,
    on_server: Callable[[Server], None] = lambda server: None,
) -> CrashResult:
    """Run the scenario once in ``workdir`` (an existing empty folder); return what it found.

    ``on_server`` is called with each server before it starts, so that a
    test can register its cleanup. Every server and connection is gone when
    this returns or raises.
    """
    result = CrashResult(planned=settings.clients * settings.messages)
    total = result.planned
    result.kill_after = rng.randint(1, max(1, total - 1))
    database = os.path.join(os.path.abspath(workdir), "chat.sqlite3")
    pool = HTTPConnectionPool(reactor, persistent=False)
    servers: list[Server] = []
    senders: list[Sender] = []
    acks = 0
    first = Server(reactor, workdir, database)

    def on_ack() -> None:
        nonlocal acks
        acks += 1
        if acks == result.kill_after:
            first.signal("KILL")

    async def start(server: Server) -> None:
        servers.append(server)
        on_server(server)
        await server.start()

    try:
        # -- phase 1: traffic until the kill ---------------------------------
        await start(first)
        owner = None
        for index in range(settings.clients):
            session = await call(
                pool,
                "POST",
                f"{first.base}/api/register",
                body={"username": f"crash{index}", "password": PASSWORD},
                expect=201,
            )
            sender = Sender(
                index,
                session["user"]["id"],
                session["token"],
                settings.messages,
                settings.window,
                on_ack,
                result,
            )
            senders.append(sender)
            owner = owner or sender.token
        assert owner is not None
        room = await call(
            pool, "POST", f"{first.base}/api/rooms/create", owner, {"name": "crash"}, expect=201
        )
        room_id = room["id"]
        await gatherResults([s.connect(reactor, first.port, room_id) for s in senders])
        # The ack counter kills the server; should every message be answered
        # first (only if some were refused), kill it then.
        everything = gatherResults([s.send(list(s.planned)) for s in senders])
        everything.addCallback(lambda _: first.signal("KILL"))
        assert first.process is not None
        await first.process.ended
        await gatherResults([s.lost for s in senders])
        result.acked_before_kill = sum(len(s.acked) for s in senders)
        unacked = {s.index: [k for k in s.planned if k not in s.acked] for s in senders}
        in_flight = {k for s in senders for k in s.in_flight}
        result.in_flight_at_kill = len(in_flight)

        # -- phase 2: restart, resend what was not acknowledged ----------------
        second = Server(reactor, workdir, database)
        await start(second)
        before = await history(pool, second.base, owner, room_id)
        result.stored_but_unacked = sum(
            1 for row in before if row.get("client_msg_id") in in_flight
        )
        await gatherResults([s.connect(reactor, second.port, room_id) for s in senders])
        repeats: dict[str, int] = {}
        sending = []
        for sender in senders:
            again = rng.sample(sorted(sender.acked), min(settings.resend_acked, len(sender.acked)))
            repeats.update((key, sender.acked[key]) for key in again)
            sending.append(sender.send(unacked[sender.index] + again))
        await gatherResults(sending)
        result.resent_acked = len(repeats)
        rows = await history(pool, second.base, owner, room_id)
        audit(result, senders, rows)
        await gatherResults([Deferred.fromCoroutine(s.close()) for s in senders])
        await second.stop("TERM")
        return result
    finally:
        for server in servers:
            await server.stop("KILL")
        for sender in senders:
            await sender.close()
        await pool.closeCachedConnections()
