r"""Fan-out deliveries per second: ``twistd chat --workers 2`` against one process, same load.

Both configurations run at once, each a ``twistd -n chat`` child on a
scratch PostgreSQL schema of its own and on the same Redis (``REDIS_URL`` in
both, so the one process also publishes every message, as it would in a
deployment), each with the same sockets open: ``--rooms`` rooms, each with
``--receivers`` sockets that only read and ``--publishers`` sockets that send
in a closed loop on delivery: a room's publishers may be at most ``--ahead``
messages ahead of the room's slowest receiver (see ``bench/fanout_clients.py``
for why the loop is not closed on the sender's own acknowledgement). Every
message is delivered to every socket of its room. Only one configuration
has traffic at a time: they take turns in slices (``--warmup`` seconds,
then ``--seconds`` counted), alternating which goes first, ``--reps`` slices
each. A slice counts acknowledged messages, deliveries (message frames
received by all sockets), and the CPU time of each server process (the
supervisor and each worker, from ``/proc/<pid>/stat``), of the load
generator, of PostgreSQL and Redis, of every other process, and of
interrupts (``/proc/stat``: the kernel moving loopback packets); after it,
sending stops until every delivery owed has arrived, so no backlog spills
into the next slice.

The machine is shared, so what the other processes used during a slice is
printed with it, and the summary keeps only the slices where they used
less than ``--max-others`` percent of a core: the medians of those, and
their ratio, are the result. It also says how the kernel spread the
sockets over the workers (each accepted socket belongs to one worker's file
table, see ``tests/procsockets.py``).

The receivers count message frames with ``bytes.count`` on what arrives
(no frame parsing in Python), and the load generator's reactor sleeps
``--coalesce-ms`` per turn so that each read takes a batch of frames: its
CPU per delivery stays low whatever the server's write pattern. Caveat,
printed with the numbers: on a 2-core machine the load generator,
PostgreSQL, Redis and two workers share two cores, so two workers cannot
have a core each; nothing is pinned (``taskset`` could only move the
contention around).

    PYTHONPATH=. python bench/workers_fanout.py \
        --database postgresql://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/14 \
        [--rooms 1] [--receivers 1000] [--publishers 8] [--ahead 2048] [--reps 6]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall, deferLater, react

from bench.fanout_clients import Counts, Publisher, Receiver, RoomGate
from bench.proccpu import TICKS, children, machine_ticks, snapshot, ticks_between
from bench.rawws import RawWebSocket, close_all
from bench.scratch import scratch_schema
from bench.twistd_server import TwistdServer, postgres_schema_url, request
from tests.procsockets import owners

CONNECT_BATCH = 50  # at most the listen backlog (50) at once: no SYN is dropped


@dataclass
class Result:
    """One configuration's numbers."""

    label: str
    seconds: float = 0.0
    acks: int = 0
    deliveries: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    loadgen_cpu: float = 0.0
    postgres_cpu: float = 0.0
    redis_cpu: float = 0.0
    machine_busy: float = 0.0
    interrupts_cpu: float = 0.0
    others_cpu: float = 0.0
    expected: int = 0
    spread: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def kept_up(self) -> float:
        """Deliveries counted over deliveries owed; well below 1, the clients lagged."""
        return self.deliveries / self.expected if self.expected else 0.0

    @property
    def delivery_rate(self) -> float:
        """Deliveries per second."""
        return self.deliveries / self.seconds

    @property
    def server_cpu(self) -> float:
        """Percent of one core used by the server's processes together."""
        return sum(self.cpu.values())

    def report(self) -> str:
        """A few lines for this configuration."""
        cpu = ", ".join(f"{name} {percent:.0f}%" for name, percent in self.cpu.items())
        spread = ", ".join(f"{name} {n}" for name, n in self.spread.items())
        return (
            f"{self.label:10s} {self.acks / self.seconds:8.0f} msgs/s  "
            f"{self.delivery_rate:9.0f} deliveries/s  "
            f"({self.delivery_rate / max(self.server_cpu, 1) * 100:7.0f} per server CPU-second)\n"
            f"{'':10s} CPU (% of one core): {cpu}; load generator {self.loadgen_cpu:.0f}%; "
            f"PostgreSQL {self.postgres_cpu:.0f}%, Redis {self.redis_cpu:.0f}%; "
            f"interrupts {self.interrupts_cpu:.0f}%; machine {self.machine_busy:.0f}% of "
            f"{os.cpu_count()} cores busy; other processes {self.others_cpu:.0f}%\n"
            f"{'':10s} receivers kept up: counted {self.deliveries} deliveries of the "
            f"{self.expected} the acknowledged messages make ({self.kept_up:.0%})\n"
            f"{'':10s} sockets per server process: {spread}"
            + (f"\n{'':10s} error frames: {self.errors}" if self.errors else "")
        )


@dataclass
class Load:
    """One server with its sockets open: the configuration a slice measures."""

    label: str
    server: TwistdServer
    pids: dict[str, int]
    receivers: list[Receiver]
    gates: list[RoomGate]
    sockets: list[RawWebSocket]
    counts: Counts
    per_room: int
    spread: dict[str, int]


async def open_load(
    reactor: Any, server: TwistdServer, args: argparse.Namespace, label: str
) -> Load:
    """Register the users, create the rooms and open every socket of one server."""
    per_room = args.receivers + args.publishers
    users = server.register_users("user", args.rooms * per_room)
    conn = http.client.HTTPConnection(server.host, timeout=30)
    rooms = [
        request(conn, "POST", "/api/rooms/create", users[0][0], {"name": f"fan-{n}"}, expect=201)[
            "id"
        ]
        for n in range(args.rooms)
    ]
    conn.close()
    counts = Counts()
    gates = {room: RoomGate(args.ahead) for room in rooms}
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.port)
    sockets: list[RawWebSocket] = []
    for index, (token, user_id) in enumerate(users):
        room = rooms[index // per_room]

        def build(
            token: str = token, user_id: int = user_id, room: int = room, index: int = index
        ) -> RawWebSocket:
            gate = gates[room]
            if index % per_room < args.publishers:
                publisher = Publisher(counts, gate, token, user_id, server.host, room)
                gate.publishers.append(publisher)
                return publisher
            receiver = Receiver(token, server.host, room)
            gate.receivers.append(receiver)
            return receiver

        connected = await endpoint.connect(Factory.forProtocol(build))
        assert isinstance(connected, RawWebSocket)
        sockets.append(connected)
        if len(sockets) % CONNECT_BATCH == 0:
            await gatherResults([s.opened for s in sockets[-CONNECT_BATCH:]])
    await gatherResults([s.opened for s in sockets])
    workers = children(server.pid)
    pids = {"supervisor" if workers else "process": server.pid}
    pids.update({f"worker {n}": pid for n, pid in enumerate(workers, 1)})
    ports = [s.transport.getHost().port for s in sockets]  # type: ignore[union-attr]
    held = owners(server.port, ports, pids.values())
    spread = {name: sum(1 for p in held.values() if p == pid) for name, pid in pids.items()}
    print(f"{label}: {len(sockets)} sockets open in {args.rooms} rooms ({per_room} per room)")
    return Load(
        label,
        server,
        pids,
        [s for s in sockets if isinstance(s, Receiver)],
        list(gates.values()),
        sockets,
        counts,
        per_room,
        spread,
    )


async def measure_slice(reactor: Any, load: Load, args: argparse.Namespace) -> Result:
    """Send for warm-up + measurement, stop, and wait until every delivery has arrived."""
    counts = load.counts
    counts.sending = True
    counts.measured_acks = counts.measured_deliveries = 0
    counts.errors.clear()
    # Each turn: sleep (reads then take a batch of frames each: the load
    # generator's CPU per delivery stays low however the server writes), then
    # let the publishers send as far ahead of the slowest receiver as allowed.
    tick = LoopingCall(turn, load.gates, args.coalesce_ms / 1000)
    tick.start(max(args.coalesce_ms, 1.0) / 1000)
    await deferLater(reactor, args.warmup, lambda: None)
    start = snapshot()
    start_machine = machine_ticks()
    start_loadgen = time.process_time()
    start_received = sum(r.messages for r in load.receivers)
    counts.measuring = True
    started = time.perf_counter()
    await deferLater(reactor, args.seconds, lambda: None)
    elapsed = time.perf_counter() - started
    counts.measuring = False
    received = sum(r.messages for r in load.receivers) - start_received
    loadgen = time.process_time() - start_loadgen
    used = ticks_between(start, snapshot())
    busy, interrupts, total = (b - a for a, b in zip(start_machine, machine_ticks(), strict=True))
    ours = {os.getpid(), *load.pids.values()}

    def percent(ticks: int) -> float:
        return 100 * ticks / TICKS / elapsed

    postgres = sum(t for name, t in used.values() if name == "postgres")
    redis = sum(t for name, t in used.values() if name == "redis-server")
    others = sum(
        t
        for pid, (name, t) in used.items()
        if pid not in ours and name not in ("postgres", "redis-server")
    )
    result = Result(
        load.label,
        seconds=elapsed,
        acks=counts.measured_acks,
        deliveries=received + counts.measured_deliveries,
        cpu={name: percent(used.get(pid, ("", 0))[1]) for name, pid in load.pids.items()},
        loadgen_cpu=100 * loadgen / elapsed,
        postgres_cpu=percent(postgres),
        redis_cpu=percent(redis),
        machine_busy=100 * (os.cpu_count() or 1) * busy / total,
        interrupts_cpu=100 * (os.cpu_count() or 1) * interrupts / total,
        others_cpu=percent(others),
        spread=load.spread,
        errors=dict(counts.errors),
        expected=counts.measured_acks * load.per_room,
    )
    # Stop, and let the backlog reach the receivers before the next slice.
    tick.stop()
    counts.sending = False
    counts.drained = Deferred()
    counts.check_drained()
    counts.drained.addTimeout(60, reactor)
    await counts.drained
    deadline = time.monotonic() + 120
    while any(g.delivered < g.sent for g in load.gates) and time.monotonic() < deadline:
        await deferLater(reactor, 0.1, lambda: None)
        for gate in load.gates:
            gate.refresh()
    return result


def turn(gates: list[RoomGate], sleep: float) -> None:
    """One tick of the load generator: sleep (to read in batches), then refresh the gates."""
    if sleep > 0:
        time.sleep(sleep)
    for gate in gates:
        gate.refresh()


def start_server(args: argparse.Namespace, workers: int, cleanup: list[Any]) -> TwistdServer:
    """A server on a scratch schema (dropped by ``cleanup``), started."""
    schema, drop = scratch_schema(args.database, "chat_fanout")
    cleanup.append(drop)
    workdir = tempfile.mkdtemp(prefix="chat-fanout-", dir=args.dir)
    if not args.keep:
        cleanup.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    server = TwistdServer(
        postgres_schema_url(args.database, schema),
        workdir,
        WORKERS=str(workers),
        REDIS_URL=args.redis,
        BCRYPT_ROUNDS="4",
        WS_PING_INTERVAL="0",
        # A receiver may be --ahead frames behind by design, not a slow consumer.
        WS_MAX_BUFFER=str(8 * 2**20),
        LOG_LEVEL="info",
    )
    cleanup.append(server.stop)
    server.start()
    return server


def median(values: list[float]) -> float:
    """The middle value (the mean of the two middle ones)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return (ordered[middle] + ordered[~middle]) / 2


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """Both servers up at once; measure them in alternating slices; print the ratio."""
    print(
        f"{os.cpu_count()} cores; {args.rooms} rooms x ({args.receivers} receivers + "
        f"{args.publishers} publishers, at most {args.ahead} messages ahead of the slowest "
        f"receiver); slices of {args.warmup:g} s "
        f"warm-up + {args.seconds:g} s measured, {args.reps} per configuration, alternating; "
        f"PostgreSQL + Redis ({args.redis}); nothing pinned; load generator reads coalesced "
        f"every {args.coalesce_ms:g} ms"
    )
    cleanup: list[Any] = []
    try:
        one = start_server(args, 1, cleanup)
        many = start_server(args, args.workers, cleanup)
        loads = [
            await open_load(reactor, one, args, "1 process"),
            await open_load(reactor, many, args, f"{args.workers} workers"),
        ]
        results: dict[str, list[Result]] = {load.label: [] for load in loads}
        for rep in range(args.reps):
            for load in loads if rep % 2 == 0 else loads[::-1]:
                result = await measure_slice(reactor, load, args)
                results[load.label].append(result)
                print(f"\n-- slice {rep + 1}\n{result.report()}")
        for load in loads:
            await close_all(reactor, load.sockets)
        for server in (one, many):
            if "Traceback" in server.log_text():
                print(f"the server logged a traceback; see {server.log_path}")
    finally:
        for step in reversed(cleanup):
            step()
    summary(results, args.max_others)


def summary(results: dict[str, list[Result]], max_others: float) -> None:
    """Medians over the slices other processes did not disturb, and their ratio."""
    print(f"\n== medians over slices where other processes used under {max_others:g}% of a core")
    rates = {}
    for label, slices in results.items():
        clean = [r for r in slices if r.others_cpu < max_others]
        if not clean:
            print(f"{label:10s} no undisturbed slice")
            continue
        rates[label] = median([r.delivery_rate for r in clean])
        cpu = median([r.server_cpu for r in clean])
        print(
            f"{label:10s} {rates[label]:9.0f} deliveries/s  server CPU {cpu:.0f}% of a core "
            f"({len(clean)} of {len(slices)} slices)"
        )
    if len(rates) == 2:
        (one, base), (many, value) = rates.items()
        print(f"ratio of deliveries/s, {many} / {one}: {value / base:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rooms", type=int, default=1)
    parser.add_argument("--receivers", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument(
        "--ahead",
        type=int,
        default=2048,
        help="messages a room's publishers may be ahead of its slowest receiver",
    )
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--reps", type=int, default=6, help="slices per configuration")
    parser.add_argument(
        "--coalesce-ms",
        type=float,
        default=10.0,
        help="the load generator sleeps this long per reactor turn, to read in batches (0: off)",
    )
    parser.add_argument(
        "--max-others",
        type=float,
        default=15.0,
        help="slices where other processes used more CPU (%% of a core) are left out",
    )
    parser.add_argument("--dir", default=None, help="where the temporary folders go")
    parser.add_argument("--keep", action="store_true", help="keep the server logs")
    options = parser.parse_args()
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
