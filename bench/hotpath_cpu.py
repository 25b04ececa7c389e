"""CPU time per message of the WebSocket path, in one process, without a network or a disk.

``bench/ws_throughput.py`` measures the real thing, but on a shared machine
its numbers move with the disk and the neighbours by ±10 %. This one runs
the service on the memory store with in-memory transports (the test
harness of ``tests.wsclient``): a client sends messages over its socket
and two sockets receive each one, so what it times is the Python work of
parsing, posting, committing (in memory), publishing and framing — what a
change to the hot path changes. It prints the best of several rounds, in
microseconds of process CPU per message (client work included, the same in
both); compare two commits in one run:

    git worktree add /tmp/base <commit>
    (cd /tmp/base && PYTHONPATH=. python /path/to/bench/hotpath_cpu.py)
    PYTHONPATH=. python bench/hotpath_cpu.py
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from twisted.trial.unittest import TestCase

from tests.wsclient import MemoryWorld, RecordingClient, memory_world


class _Host(TestCase):
    """A test case only to own the world's clean-ups."""

    def runTest(self) -> None:
        """Never run."""


def bench_world(**settings: Any) -> MemoryWorld:
    """An in-memory service whose rate limits never slow the sender down."""
    return memory_world(_Host(), message_burst=10**6, message_rate=10**5, **settings)


def best_per_message(
    world: MemoryWorld, sender: RecordingClient, rounds: int, messages: int
) -> float:
    """The best round's CPU seconds per message that ``sender`` sends (flushed every 50)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for n in range(messages):
            sender.send_json({"content": f"message {n}"})
            if n % 50 == 49:
                world.chat.flush()
        world.chat.flush()
        best = min(best, (time.process_time() - start) / messages)
    return best


def options(doc: str, rounds: int) -> argparse.Namespace:
    """``--rounds`` (default ``rounds``) and ``--messages`` per round, described by ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--messages", type=int, default=2000)
    return parser.parse_args()


def main(rounds: int, messages: int) -> float:
    """The best round's CPU seconds per message."""
    world = bench_world()
    alice, _ = world.rest.register("alice")
    bob, _ = world.rest.register("bob")
    sender = world.chat.open(alice)
    world.chat.open(bob)
    return best_per_message(world, sender, rounds, messages)


if __name__ == "__main__":
    given = options(__doc__, rounds=7)
    per_message = main(given.rounds, given.messages)
    print(
        f"{per_message * 1e6:.1f} us of CPU per message "
        f"(best of {given.rounds} rounds of {given.messages})"
    )
