"""CPU time per WebSocket handshake of the service, in one process, without a network.

The shared harness's S3 scenario (connects/s with 64 handshakes in flight)
moves with the machine's load; this one runs the real service (by default
through the door its own ports serve, ``upgrade_router`` -> Autobahn ->
``HandshakeGate`` -> protocol; ``--door site``: ``Site`` -> Klein ->
``HandshakeGate`` -> Autobahn -> protocol) on in-memory transports
(``tests.wsclient``), so what it times is the Python work of one handshake:
parsing the request, routing, the token or ticket check, the room's access
decision, the socket count, the upgrade and joining the room. The client is
a raw socket that sends the request's bytes and reads the answer, so its
own cost is close to nothing. Each socket is closed after its handshake, untimed (see ``_close``).

``--store sqlite`` runs the default store on a temporary file with its
thread pool inline, so the SQL work of every read is counted but not the
threads' hand-off (which the real server pays too, on top).

It prints the median of several rounds, in microseconds of process CPU per
handshake, and the Python function calls per handshake (counted by
``cProfile`` in one more round): on a loaded machine the CPU time moves by
±20 % from run to run, the call count not at all, so it shows a change
that is smaller than the noise. Compare two commits in one run, alternating:

    git worktree add /tmp/base <commit>
    (cd /tmp/base && PYTHONPATH=. python /path/to/bench/handshake_cpu.py)
    PYTHONPATH=. python bench/handshake_cpu.py
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from typing import Any

from twisted.test.iosim import IOPump, connectedServerAndClient
from twisted.trial.unittest import TestCase

from chatservice.store import pool as store_pool
from chatservice.store.sql import SQLStore
from tests.fakes import FakeReactor, ImmediateThreadPool
from tests.wsclient import (
    MemoryWorld,
    RawClient,
    handshake_request,
    memory_world,
    result_now,
)

MODES = ("token", "ticket")


class _Host(TestCase):
    """A test case only to own the world's clean-ups."""

    def runTest(self) -> None:
        """Never run."""


def _inline_pool(self: store_pool.Pool) -> None:
    """Run the store's queries in the calling thread (``Pool.open`` replaced)."""
    self.threadpool = ImmediateThreadPool()  # type: ignore[assignment]


def _world(store_kind: str, sockets: int, door: str) -> MemoryWorld:
    host = _Host()
    changes: dict[str, Any] = {"max_sockets_per_user": sockets + 10, "direct": door == "direct"}
    if store_kind == "memory":
        return memory_world(host, **changes)
    store_pool.Pool.open = _inline_pool  # type: ignore[method-assign]
    path = os.path.join(tempfile.mkdtemp(prefix="handshake-cpu-"), "chat.sqlite3")
    reactor = FakeReactor()
    store = SQLStore.sqlite(path, reactor, reactor=reactor)
    store.clock = reactor  # type: ignore[attr-defined]  # what memory_world reads
    return memory_world(host, store=store, **changes)


def _handshake(world: MemoryWorld, request: bytes) -> tuple[RawClient, IOPump]:
    """One client's handshake, pumped until it is answered."""
    client, _, pump = connectedServerAndClient(
        lambda: world.chat.site.buildProtocol(None),
        lambda: RawClient(request),
        greet=False,
        clock=world.reactor,
    )
    while pump.flush():
        pass
    return client, pump


def _close(client: RawClient, pump: IOPump) -> None:
    """Drop a socket, untimed.

    Kept open, sockets would slow the next handshakes down in the bench only:
    ``MemoryReactorClock.callLater`` sorts its whole list of timers (one per
    socket), where a real reactor pushes onto a heap.
    """
    assert client.transport is not None
    client.transport.loseConnection()
    while pump.flush():
        pass


def main(
    store_kind: str,
    mode: str,
    rounds: int,
    sockets: int,
    profiler: cProfile.Profile | None = None,
    door: str = "direct",
) -> list[float]:
    """Every round's CPU seconds per handshake (only the handshakes run under ``profiler``)."""
    world = _world(store_kind, 10, door)
    token, _ = world.rest.register("alice")
    # A warm-up handshake: the room is joined once, as in S3.
    _handshake(world, handshake_request("/ws?roomId=1", {"Authorization": f"Bearer {token}"}))
    results = []
    for _ in range(rounds):
        if mode == "ticket":
            # Issued as ``POST /api/ws-ticket`` does, without its per-user rate.
            identity = world.service._tokens.verify(token)
            tickets = [world.service.cluster.issue_ticket(identity) for _ in range(sockets)]
            targets = [f"/ws?roomId=1&ticket={result_now(t)}" for t in tickets]
        else:
            targets = [f"/ws?roomId=1&token={token}"] * sockets
        requests = [handshake_request(target) for target in targets]
        spent = 0.0
        for request in requests:
            start = time.process_time()
            if profiler is not None:
                profiler.enable()
            client, pump = _handshake(world, request)
            if profiler is not None:
                profiler.disable()
            spent += time.process_time() - start
            if not client.received.startswith(b"HTTP/1.1 101"):
                raise AssertionError(client.received[:200])
            _close(client, pump)
        results.append(spent / sockets)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sockets", type=int, default=300)
    parser.add_argument(
        "--door",
        choices=("direct", "site"),
        default="direct",
        help="the service's own ports (upgrade_router) or a Site mounting resource()",
    )
    options = parser.parse_args()
    for mode in MODES if options.mode == "both" else (options.mode,):
        per_round = main(options.store, mode, options.rounds, options.sockets, door=options.door)
        profiler = cProfile.Profile()
        main(options.store, mode, 1, options.sockets, profiler, options.door)
        calls = pstats.Stats(profiler).total_calls / options.sockets  # type: ignore[attr-defined]
        print(
            f"{options.store} {mode} ({options.door}): "
            f"{statistics.median(per_round) * 1e6:.1f} us of CPU "
            f"per handshake (median of {options.rounds} rounds of {options.sockets}; "
            f"best {min(per_round) * 1e6:.1f}); {calls:.0f} Python calls per handshake"
        )
