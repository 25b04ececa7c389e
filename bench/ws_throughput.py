"""Stored messages per second through the real WebSocket path of ``twistd chat``.

The server is a ``twistd -n chat`` child process (its own core); this process
is the load generator. ``--senders`` WebSocket connections (one user each)
are spread round-robin over ``--rooms`` rooms, so each message is delivered
to ``senders / rooms`` sockets (the sender's own included): several rooms
keep the fan-out from dominating what is measured. Each sender runs a closed
loop with up to ``--window`` unacknowledged messages, where a message is
acknowledged when its sender sees it broadcast back, which the server does
only after the commit: acknowledged messages per second = stored messages
per second. After ``--warmup`` seconds it measures for ``--seconds``, then
stops sending, waits for the last acknowledgements and checks that the
database holds exactly the acknowledged messages.

Prints stored msgs/s, deliveries/s, ack latency p50/p90/p99, and the CPU time
the server and the load generator used. The server's Python code runs under
one GIL, so a server near one core of CPU is saturated; the load generator
must stay well below a core, or it is what is being measured.

    PYTHONPATH=. python bench/ws_throughput.py [--senders 200] [--rooms 20] [--window 10]
    PYTHONPATH=. python bench/ws_throughput.py --database postgresql://postgres@127.0.0.1:5432/test
    PYTHONPATH=. python bench/ws_throughput.py --redis redis://127.0.0.1:6379/14

SQLite (the default, a temporary file) runs with the store's own settings:
WAL and ``synchronous=FULL``. With ``--database postgresql://...`` the
server's tables go to a scratch schema that is dropped afterwards.
``--profile gil`` (or ``all``) also samples the server with py-spy during the
measurement (``pip install py-spy``; a profiled run is a little slower) and
prints where its time goes: ``gil`` counts only the thread holding the GIL,
which is what a server bound by one core of Python work is made of. The raw
collapsed stacks are kept with ``--keep``.

The load generator speaks RFC 6455 itself on plain Twisted sockets (masking
with an all-zero key, which the RFC allows and which leaves the payload
bytes as they are), so that it needs little CPU per frame and never competes
with the server for the second core: a general-purpose client library parses
and masks every frame in Python, as the server does.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater, react

from bench.rawws import OP_TEXT, RawWebSocket, client_frame, close_all
from bench.scratch import scratch_schema
from bench.twistd_server import (
    TwistdServer,
    percentiles,
    postgres_schema_url,
    request,
)


@dataclass
class Totals:
    """What every socket counts, shared by all of them."""

    sending: bool = True
    measuring: bool = False
    acked: int = 0
    measured_acks: int = 0
    measured_deliveries: int = 0
    in_flight: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    drained: Deferred[None] | None = None

    def check_drained(self) -> None:
        """Fire ``drained`` once sending stopped and nothing is in flight."""
        if not self.sending and self.in_flight == 0 and self.drained and not self.drained.called:
            self.drained.callback(None)


class LoadSocket(RawWebSocket):
    """One sender: a WebSocket client in a closed loop with a window."""

    def __init__(
        self, totals: Totals, token: str, user_id: int, room_id: int, host: str, window: int
    ) -> None:
        super().__init__(token, host, room_id)
        self.totals = totals
        self.user_id = user_id
        self.window = window
        self._sent_at: dict[str, float] = {}
        self._next = 0
        self._sender_marker = f'"sender_id":{user_id},'.encode()

    def on_text(self, buf: bytes, start: int, end: int) -> None:
        payload = buf[start:end]
        totals = self.totals
        if not payload.startswith(b'{"type":"message"'):
            if payload.startswith(b'{"type":"error"'):
                error = json.loads(payload)
                totals.errors[error.get("code", "?")] += 1
                # A refused message is answered: it leaves the window unstored.
                if self._sent_at.pop(error.get("client_msg_id"), None) is not None:
                    totals.in_flight -= 1
                    self._in_flight_down()
            return
        if totals.measuring:
            totals.measured_deliveries += 1
        if self._sender_marker not in payload:
            return
        client_msg_id = json.loads(payload)["client_msg_id"]
        sent_at = self._sent_at.pop(client_msg_id)
        totals.acked += 1
        totals.in_flight -= 1
        if totals.measuring:
            totals.measured_acks += 1
            totals.latencies_ms.append((time.perf_counter() - sent_at) * 1000)
        self._in_flight_down()

    def _in_flight_down(self) -> None:
        if self.totals.sending:
            self.fill()
        else:
            self.totals.check_drained()

    def fill(self) -> None:
        """Send until the window is full."""
        transport = self.transport
        assert transport is not None
        totals = self.totals
        now = time.perf_counter()
        while len(self._sent_at) < self.window and totals.sending:
            n = self._next
            self._next += 1
            client_msg_id = str(n)
            payload = b'{"content":"bench message %d from user %d","client_msg_id":"%d"}' % (
                n,
                self.user_id,
                n,
            )
            self._sent_at[client_msg_id] = now
            totals.in_flight += 1
            transport.write(client_frame(OP_TEXT, payload))


class Profiler:
    """py-spy sampling the server for a while, collapsed stacks to a file."""

    def __init__(self, pid: int, seconds: float, output: str, gil_only: bool) -> None:
        executable = shutil.which("py-spy") or os.path.join(
            os.path.dirname(sys.executable), "py-spy"
        )
        self.output = output
        self.gil_only = gil_only
        self.process = subprocess.Popen(
            [
                executable,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds))),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                output,
                "--nonblocking",
                *(["--gil"] if gil_only else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def report(self, top: int = 25) -> None:
        """Wait for py-spy, then print the functions with the most own and total samples."""
        self.process.wait(60)
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        with open(self.output, encoding="utf-8", errors="replace") as stacks:
            for line in stacks:
                stack, _, count_text = line.rstrip("\n").rpartition(" ")
                if not stack:
                    continue
                count = int(count_text)
                total += count
                frames = [_short(frame) for frame in stack.split(";")]
                own[frames[-1]] += count
                for frame in set(frames):
                    inclusive[frame] += count
        if not total:
            print("py-spy recorded nothing (is ptrace allowed?)")
            return
        which = "the thread holding the GIL" if self.gil_only else "all busy threads"
        print(f"\nserver profile, {total} samples of {which}, raw stacks in {self.output}")
        print("  own time:")
        for name, count in own.most_common(top):
            print(f"    {100 * count / total:5.1f}%  {name}")
        print("  total time (function and what it calls):")
        for name, count in inclusive.most_common(top):
            print(f"    {100 * count / total:5.1f}%  {name}")


def _short(frame: str) -> str:
    """``function (path/to/module.py:line)`` -> ``function (module.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def stored_count(database_url: str, dsn_schema: tuple[str, str] | None) -> int:
    """How many messages the server's database holds (read after it stopped)."""
    if dsn_schema is not None:
        import psycopg

        dsn, schema = dsn_schema
        with psycopg.connect(dsn) as conn:
            row = conn.execute(f'SELECT COUNT(*) FROM "{schema}".messages').fetchone()
            assert row is not None
            return int(row[0])
    path = database_url[len("sqlite:///") :]
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


async def run_load(
    reactor: Any, server: TwistdServer, args: argparse.Namespace, users: list[tuple[str, int]]
) -> Totals:
    """Connect every sender, run warm-up and measurement, drain; print the numbers."""
    totals = Totals()
    conn = http.client.HTTPConnection(server.host, timeout=30)
    token = users[0][0]
    rooms = [
        request(conn, "POST", "/api/rooms/create", token, {"name": f"bench-{n}"}, expect=201)["id"]
        for n in range(args.rooms)
    ]
    conn.close()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.port)
    sockets: list[LoadSocket] = []
    for index, (user_token, user_id) in enumerate(users):
        room_id = rooms[index % len(rooms)]

        def build(token: str = user_token, user: int = user_id, room: int = room_id) -> LoadSocket:
            return LoadSocket(totals, token, user, room, server.host, args.window)

        protocol = await endpoint.connect(Factory.forProtocol(build))
        assert isinstance(protocol, LoadSocket)
        sockets.append(protocol)
    await gatherResults([s.opened for s in sockets])
    print(
        f"{len(sockets)} sockets open in {len(rooms)} rooms "
        f"({len(sockets) / len(rooms):.1f} sockets per room = deliveries per message); "
        f"window {args.window}"
    )
    for sock in sockets:
        sock.fill()
    await deferLater(reactor, args.warmup, lambda: None)
    totals.measuring = True
    server_cpu = server.cpu_seconds()
    client_cpu = time.process_time()
    started = time.perf_counter()
    profiler = (
        Profiler(
            server.pid,
            args.seconds,
            os.path.join(args.workdir, "server-profile.txt"),
            gil_only=args.profile == "gil",
        )
        if args.profile
        else None
    )
    await deferLater(reactor, args.seconds, lambda: None)
    totals.measuring = False
    elapsed = time.perf_counter() - started
    server_cpu = server.cpu_seconds() - server_cpu
    client_cpu = time.process_time() - client_cpu
    totals.sending = False
    totals.drained = Deferred()
    totals.check_drained()
    totals.drained.addTimeout(30, reactor)
    await totals.drained
    rate = totals.measured_acks / elapsed
    print(
        f"stored (acknowledged) {rate:10.0f} msgs/s  "
        f"({totals.measured_acks} in {elapsed:.1f} s)\n"
        f"deliveries            {totals.measured_deliveries / elapsed:10.0f} frames/s\n"
        f"ack latency           {percentiles(totals.latencies_ms)}\n"
        f"CPU                   server {100 * server_cpu / elapsed:5.1f}% of a core, "
        f"load generator {100 * client_cpu / elapsed:5.1f}%"
    )
    if totals.errors:
        print(f"error frames: {dict(totals.errors)}")
    await close_all(reactor, sockets)
    if profiler is not None:
        profiler.report()
    return totals


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """Start the server on the chosen database, register the senders, run the load."""
    cleanup: list[Callable[[], None]] = []
    args.workdir = tempfile.mkdtemp(prefix="chat-ws-bench-", dir=args.dir)
    if not args.keep:
        cleanup.append(lambda: shutil.rmtree(args.workdir, ignore_errors=True))
    dsn_schema: tuple[str, str] | None = None
    if args.database.startswith(("postgresql:", "postgres:")):
        schema, drop = scratch_schema(args.database, "chat_ws_bench")
        cleanup.append(drop)
        dsn_schema = (args.database, schema)
        database_url = postgres_schema_url(args.database, schema)
        where = f"PostgreSQL, scratch schema {schema}"
    else:
        database_url = f"sqlite:///{os.path.join(args.workdir, 'chat.sqlite3')}"
        where = f"SQLite {database_url} (WAL, synchronous=FULL)"
    settings = {"BCRYPT_ROUNDS": "4", "LOG_LEVEL": "info"}
    if args.redis:
        # Room events, message rates and socket counts then go through Redis.
        settings["REDIS_URL"] = args.redis
    server = TwistdServer(database_url, args.workdir, **settings)
    print(f"store: {where}; Redis: {args.redis or 'none'}")
    try:
        with server:
            users = server.register_users("sender", args.senders)
            run = Deferred.fromCoroutine(run_load(reactor, server, args, users))
            run.addTimeout(args.warmup + args.seconds + 120, reactor)
            totals = await run
        stored = stored_count(database_url, dsn_schema)
        verdict = "ok" if stored == totals.acked else "MISMATCH"
        print(f"database holds {stored} messages; {totals.acked} were acknowledged: {verdict}")
        if args.keep:
            print(f"server log and profile kept in {args.workdir}")
        if "Traceback" in server.log_text():
            print(f"the server logged a traceback; see {server.log_path}")
    finally:
        for step in reversed(cleanup):
            step()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--database",
        default="sqlite",
        help="'sqlite' (a temporary file, the default) or a postgresql:// DSN",
    )
    parser.add_argument(
        "--profile",
        choices=("gil", "all"),
        default=None,
        help="sample the server with py-spy: only the thread holding the GIL, or all busy ones",
    )
    parser.add_argument(
        "--redis", default=None, help="a redis:// URL: share through Redis as several processes do"
    )
    parser.add_argument("--dir", default=None, help="where the temporary folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the folder (log, profile)")
    options = parser.parse_args()
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
