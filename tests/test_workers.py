"""End to end: ``twistd -n chat --workers 2`` as a subprocess, on PostgreSQL and Redis.

Nothing on the wire names the worker that serves a connection; the kernel
does: the server end of each accepted connection is a file descriptor of one
worker (``tests/procsockets.py`` reads it from ``/proc``). The kernel hands
new connections to whichever worker accepts first, so a test opens sockets
until each worker holds one (at most ``MAX_TRIES``).
"""

from __future__ import annotations

import os
import signal
import sys
from functools import partial

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.procsockets import is_gone, owner
from tests.test_twistd import (
    CLOSE_GOING_AWAY,
    TWISTD,
    chat_env,
    free_port,
    json_call,
    next_message,
)
from tests.workers_support import (
    SKIP,
    WatchedTwistd,
    start_supervisor,
    wait_until_gone,
)
from tests.wsclient import RecordingClient, close_tcp, connect_tcp

MAX_TRIES = 30


class WorkersEndToEndTests(TestCase):
    """Two workers behind one port: both serve, they share rooms, and they stop together."""

    skip = SKIP
    timeout = 60

    async def start(self) -> tuple[WatchedTwistd, int]:
        """Start the supervisor on a scratch schema; return it once both workers serve."""
        self.port = free_port()
        process, self.transport = await start_supervisor(self, self.port)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.call = partial(json_call, self.pool)
        self.base = f"http://127.0.0.1:{self.port}"
        return process, self.port

    async def room_with_users(self) -> tuple[list[str], int]:
        """Register two users (alice owns a new room); return their tokens and the room."""
        base = self.base
        tokens = []
        for name in ("alice", "bob"):
            body = {"username": name, "password": "correct horse"}
            session = await self.call("POST", f"{base}/api/register", body=body, expect=201)
            tokens.append(session["token"])
        room = await self.call(
            "POST", f"{base}/api/rooms/create", tokens[0], {"name": "Lobby"}, expect=201
        )
        return tokens, room["id"]

    async def one_socket_per_worker(
        self, process: WatchedTwistd, tokens: list[str], room_id: int
    ) -> tuple[dict[int, RecordingClient], list[RecordingClient]]:
        """Open sockets (users in turn) until each worker holds one; return them by worker."""
        pids = process.worker_pids()
        by_worker: dict[int, RecordingClient] = {}
        opened: list[RecordingClient] = []
        held: list[int | None] = []
        while len(by_worker) < len(pids) and len(opened) < MAX_TRIES:
            token = tokens[len(opened) % len(tokens)]
            headers = {"Authorization": f"Bearer {token}"}
            client = await connect_tcp(reactor, self.port, f"/ws?roomId={room_id}", headers)
            self.addCleanup(close_tcp, client)
            opened.append(client)
            assert client.transport is not None
            address = client.transport.getHost()
            assert isinstance(address, IPv4Address)
            pid = owner(self.port, address.port, pids.values())
            held.append(pid)
            for worker, worker_pid in pids.items():
                if pid == worker_pid:
                    by_worker.setdefault(worker, client)
        self.assertEqual(len(by_worker), len(pids), f"workers {pids} held sockets as {held}")
        return by_worker, opened

    async def test_both_workers_serve_share_rooms_and_drain_on_sigterm(self) -> None:
        """Sockets land on both; a message crosses workers both ways; SIGTERM: 1001 everywhere."""
        process, port = await self.start()
        pids = process.worker_pids()
        self.assertEqual(sorted(pids), [1, 2])
        self.assertIn(
            f"with 2 workers (pids {pids[1]}, {pids[2]})".encode(), process.output, "announced"
        )
        tokens, room_id = await self.room_with_users()
        by_worker, opened = await self.one_socket_per_worker(process, tokens, room_id)

        for sender, receiver in ((1, 2), (2, 1)):
            content = f"from worker {sender}"
            by_worker[sender].send_json({"content": content})
            # Its own worker delivers it at once; the other one hears it through Redis.
            self.assertEqual((await next_message(by_worker[sender]))["content"], content)
            self.assertEqual((await next_message(by_worker[receiver]))["content"], content)

        # A ticket is redeemed by whichever worker gets the handshake (they are in Redis).
        for _ in range(4):
            ticket = await self.call("POST", f"{self.base}/api/ws-ticket", tokens[1], expect=201)
            target = f"/ws?roomId={room_id}&ticket={ticket['ticket']}"
            client = await connect_tcp(reactor, port, target)
            self.addCleanup(close_tcp, client)
            opened.append(client)

        self.transport.signalProcess("TERM")
        for client in opened:
            self.assertEqual(await client.closed, CLOSE_GOING_AWAY)
        self.assertEqual(await process.ended, (None, signal.SIGTERM))
        self.assertTrue(all(is_gone(pid) for pid in pids.values()))
        log = process.output
        for worker, pid in pids.items():
            self.assertIn(f"worker {worker} (pid {pid}) stopped".encode(), log)
        self.assertIn(b"chatservice stopped (2 workers)", log)
        self.assertIn(b"Server Shut Down.", log)
        self.assertNotIn(b"restarting", log)
        self.assertNotIn(b"Traceback", log)
        for token in tokens:
            self.assertNotIn(token.encode(), log)

    async def test_a_killed_worker_is_restarted_and_serves_again(self) -> None:
        """SIGKILL to worker 1: the death is logged, a new worker 1 serves; SIGINT drains all."""
        process, port = await self.start()
        killed = process.worker_pids()[1]
        mark = len(process.output)
        os.kill(killed, signal.SIGKILL)
        again = await process.wait_for(rb"worker 1 \(pid (\d+)\) serves again", after=mark)
        restarted = int(again.group(1))
        self.assertNotEqual(restarted, killed)
        self.assertEqual(process.worker_pids()[1], restarted)
        self.assertIn(
            f"worker 1 (pid {killed}) killed by signal 9; restarting it in 0.5 s".encode(),
            process.output,
        )
        tokens, room_id = await self.room_with_users()
        by_worker, _ = await self.one_socket_per_worker(process, tokens, room_id)
        by_worker[2].send_json({"content": "to the new worker 1"})
        self.assertEqual((await next_message(by_worker[1]))["content"], "to the new worker 1")
        self.assertEqual((await next_message(by_worker[2]))["content"], "to the new worker 1")
        # SIGINT (a Ctrl-C) stops the pool as SIGTERM does.
        self.transport.signalProcess("INT")
        for client in by_worker.values():
            self.assertEqual(await client.closed, CLOSE_GOING_AWAY)
        self.assertEqual(await process.ended, (None, signal.SIGINT))
        self.assertIn(f"worker 1 (pid {restarted}) stopped".encode(), process.output)

    async def test_workers_drain_and_exit_when_the_supervisor_is_killed(self) -> None:
        """SIGKILL to the supervisor: each worker sees its lifeline end, closes 1001, exits."""
        process, port = await self.start()
        pids = process.worker_pids()
        tokens, room_id = await self.room_with_users()
        _, opened = await self.one_socket_per_worker(process, tokens, room_id)
        self.transport.signalProcess("KILL")
        self.assertEqual(await process.ended, (None, signal.SIGKILL))
        for client in opened:
            self.assertEqual(await client.closed, CLOSE_GOING_AWAY)
        await wait_until_gone(list(pids.values()))


class WorkersRefusalTests(TestCase):
    """Settings several workers cannot run with stop twistd at once, in one line."""

    timeout = 30

    async def refusal(self, **settings: str) -> str:
        workdir = self.mktemp()
        os.makedirs(workdir)
        args = [*TWISTD, "-n", "--pidfile=", "chat", "--workers", "2"]
        args += ["--listen", "tcp:0:interface=127.0.0.1"]
        out, err, code = await getProcessOutputAndValue(
            sys.executable, args, env=chat_env(**settings), path=workdir
        )
        output = str((out + err).decode("utf-8", "replace"))
        self.assertNotEqual(code, 0, output)
        lines = output.strip().splitlines()
        self.assertEqual(len(lines), 1, output)
        return lines[0]

    async def test_memory_store_is_refused_naming_database_url(self) -> None:
        """--workers 2 with DATABASE_URL=memory: names DATABASE_URL."""
        line = await self.refusal(DATABASE_URL="memory:", REDIS_URL="redis://127.0.0.1:1/0")
        self.assertIn("DATABASE_URL (--database-url)", line)
        self.assertIn("memory:", line)

    async def test_missing_redis_is_refused_naming_redis_url(self) -> None:
        """--workers 2 without REDIS_URL names REDIS_URL."""
        line = await self.refusal(DATABASE_URL="sqlite:///chat.sqlite3")
        self.assertIn("REDIS_URL (--redis-url)", line)
