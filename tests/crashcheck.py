"""The crash scenario: SIGKILL ``twistd chat`` mid-traffic, restart it, audit the history.

Used by ``tests/test_crash.py`` (small numbers, in CI) and by
``bench/crash_test.py`` (large numbers, many runs). One run:

1. starts ``twistd -n chat`` as a subprocess (by default on a SQLite file in
   a temporary folder), registers one user per client and creates a room;
2. each client opens a real Autobahn WebSocket and sends its planned messages,
   each with a unique ``client_msg_id``, keeping up to ``window`` unacknowledged;
   a message is *acknowledged* when the sender sees it broadcast back (the
   server broadcasts only after the commit);
3. after ``kill_after`` acknowledgements in total (a random number), a process
   gets SIGKILL (``CrashSettings.kill``):

   * ``server``: the one process; every client's connection drops;
   * ``worker`` (with ``--workers``): the worker holding client 0's socket
     (found in ``/proc``); its clients' connections drop, the others' go on
     until all their messages are answered, and the supervisor restarts it;
   * ``supervisor`` (with ``--workers``): the supervisor; its workers see
     their lifeline end, refuse new messages (``store_unavailable``, not a
     problem then), close every socket with 1001 and exit, which the run
     waits for;

4. the clients whose connection dropped reconnect (to a new server, but for
   ``worker``) and each client sends every message it has no acknowledgement
   for (in flight at the kill, refused, or never sent), with the same
   ``client_msg_id``, plus a few acknowledged ones, whose answer must carry
   the id acknowledged before;
5. the room's history, paged with ``after=`` (limit 500), must hold every
   acknowledged message exactly once with the acknowledged id, no
   ``client_msg_id`` twice, and strictly increasing ids.

No sleeping: every wait is on a Deferred (a line of the server's output, a
socket opening or closing, a frame arriving, the process ending), except for
waiting until a killed supervisor's workers are gone, which polls ``/proc``
with a deadline (nobody can wait for another process's children).
"""

from __future__ import annotations

import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import ProcessExitedAlready
from twisted.web.client import HTTPConnectionPool

from tests.crashclients import CrashResult, Sender
from tests.procsockets import owner
from tests.test_twistd import chat_env, free_port, twistd_args
from tests.test_twistd import json_call as call
from tests.workers_support import WatchedTwistd, kill_if_running, wait_until_gone

__all__ = ["CrashResult", "CrashSettings", "Server", "run_crash_scenario"]

PAGE = 500
PASSWORD = "crash-test-password"
# The scenario measures durability, not the abuse limits: lift them.
UNLIMITED = {
    "MESSAGE_RATE": "100000",
    "MESSAGE_BURST": "1000000",
    "REGISTER_LIMIT": "1000000",
    "LOG_LEVEL": "info",
}
KILL_SERVER = "server"
KILL_WORKER = "worker"
KILL_SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class CrashSettings:
    """The size of one run, and what is killed.

    Attributes:
        clients: WebSocket clients, one user each, all in one room.
        messages: messages each client plans to send.
        window: the most unacknowledged messages one client has in flight.
        resend_acked: acknowledged messages each client sends again after the
            restart, to check that a repeat answers with the original id.
        workers: ``--workers`` of every server (1: a single process).
        kill: ``server``, ``worker`` or ``supervisor`` (see the module).
    """

    clients: int = 3
    messages: int = 30
    window: int = 5
    resend_acked: int = 3
    workers: int = 1
    kill: str = KILL_SERVER


class Server:
    """One ``twistd -n chat`` child; fires when it listens and ends."""

    def __init__(
        self,
        reactor: Any,
        workdir: str,
        database_url: str,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._reactor = reactor
        self._workdir = workdir
        self._database_url = database_url
        self._workers = workers
        self._env = dict(env or {})
        self.port = 0
        self.process: WatchedTwistd | None = None
        self._transport: Any = None

    async def start(self) -> None:
        """Spawn the server on a free port; return once it logged that it listens."""
        self.port = free_port()
        self.process = WatchedTwistd()
        args = [*twistd_args(self.port), "--workers", str(self._workers)]
        env = chat_env(DATABASE_URL=self._database_url, **UNLIMITED, **self._env)
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

    def worker_pids(self) -> dict[int, int]:
        """Each worker's pid (with ``--workers``), as the supervisor logged it."""
        return self.process.worker_pids() if self.process is not None else {}

    def signal(self, name: str) -> None:
        """Send a signal ("KILL", "TERM") if the process still runs."""
        if self.running:
            try:
                self._transport.signalProcess(name)
            except ProcessExitedAlready:
                pass  # exited; its end is on its way

    async def stop(self, name: str = "KILL") -> None:
        """Signal the process (if it runs) and wait until it has ended.

        After SIGKILL, workers the supervisor left behind are killed too.
        """
        if self.process is None:
            return
        self.signal(name)
        await self.process.ended
        if name == "KILL":
            kill_if_running(list(self.worker_pids().values()))


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
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    on_started: Callable[[Server], None] = lambda server: None,
) -> CrashResult:
    """Run the scenario once in ``workdir`` (an existing empty folder); return what it found.

    ``on_server`` is called with each server before it starts, so that a
    test can register its cleanup; ``on_started`` with the first server once
    it listens, before any user exists. The servers use ``database_url`` (a
    SQLite file in ``workdir`` by default) and the extra environment ``env``
    (``REDIS_URL`` for workers). Every server and connection is gone when
    this returns or raises.
    """
    result = CrashResult(planned=settings.clients * settings.messages, killed=settings.kill)
    total = result.planned
    result.kill_after = rng.randint(1, max(1, total - 1))
    if database_url is None:
        database_url = f"sqlite:///{os.path.join(os.path.abspath(workdir), 'chat.sqlite3')}"
    pool = HTTPConnectionPool(reactor, persistent=False)
    servers: list[Server] = []
    senders: list[Sender] = []
    acks = 0
    killed: Deferred[None] = Deferred()
    victim: list[int] = []

    def new_server() -> Server:
        return Server(reactor, workdir, database_url, settings.workers, env)

    first = new_server()

    def kill() -> None:
        if killed.called:
            return
        if settings.kill == KILL_WORKER:
            os.kill(victim[0], signal.SIGKILL)
        else:
            for sender in senders:
                sender.draining = settings.kill == KILL_SUPERVISOR
            first.signal("KILL")
        killed.callback(None)

    def on_ack() -> None:
        nonlocal acks
        acks += 1
        if acks == result.kill_after:
            kill()

    async def start(server: Server) -> None:
        servers.append(server)
        on_server(server)
        await server.start()

    try:
        # -- phase 1: traffic until the kill ---------------------------------
        await start(first)
        on_started(first)
        owner_token = None
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
            owner_token = owner_token or sender.token
        assert owner_token is not None
        room = await call(
            pool,
            "POST",
            f"{first.base}/api/rooms/create",
            owner_token,
            {"name": "crash"},
            expect=201,
        )
        room_id = room["id"]
        await gatherResults([s.connect(reactor, first.port, room_id) for s in senders])
        if settings.kill == KILL_WORKER:
            port = senders[0].local_port
            held = owner(first.port, port, first.worker_pids().values()) if port else None
            assert held is not None, "no worker holds client 0's socket"
            victim.append(held)
        supervised = list(first.worker_pids().values())
        # The ack counter kills; should every message be answered first (only
        # if some were refused), kill then.
        everything = gatherResults([s.send(list(s.planned)) for s in senders])
        everything.addCallback(lambda _: kill())
        await killed
        if settings.kill == KILL_WORKER:
            # The killed worker's clients lose their connection; the others finish.
            await gatherResults([_either(s.lost, s.done) for s in senders])
        else:
            assert first.process is not None
            await first.process.ended
            await gatherResults([s.lost for s in senders])
            if settings.kill == KILL_SUPERVISOR:
                await wait_until_gone(supervised)
        result.refused = sum(s.refused for s in senders)
        result.acked_before_kill = sum(len(s.acked) for s in senders)
        unacked = {s.index: [k for k in s.planned if k not in s.acked] for s in senders}
        in_flight = {k for s in senders for k in s.in_flight}
        result.in_flight_at_kill = len(in_flight)

        # -- phase 2: reconnect, resend what was not acknowledged ------------
        if settings.kill == KILL_WORKER:
            second = first
        else:
            second = new_server()
            await start(second)
        before = await history(pool, second.base, owner_token, room_id)
        result.stored_but_unacked = sum(
            1 for row in before if row.get("client_msg_id") in in_flight
        )
        dropped = [s for s in senders if not s.connected_now]
        await gatherResults([s.connect(reactor, second.port, room_id) for s in dropped])
        repeats: dict[str, int] = {}
        sending = []
        for sender in senders:
            sender.draining = False
            again = rng.sample(sorted(sender.acked), min(settings.resend_acked, len(sender.acked)))
            repeats.update((key, sender.acked[key]) for key in again)
            sending.append(sender.send(unacked[sender.index] + again))
        await gatherResults(sending)
        result.resent_acked = len(repeats)
        rows = await history(pool, second.base, owner_token, room_id)
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


def _either(first: Deferred[None], second: Deferred[None]) -> Deferred[None]:
    """A Deferred that fires when either of two (never failing) Deferreds does."""
    either: Deferred[None] = Deferred()

    def fire(value: None) -> None:
        if not either.called:
            either.callback(None)
        return value

    first.addCallback(fire)
    second.addCallback(fire)
    return either
