"""CPU per message with Web Push on and off: what the direct-message trigger adds to the hot path.

The set-up of ``bench/hotpath_cpu.py`` (memory store, in-memory sockets;
alice sends, two sockets receive), in three rooms: General (a room that is
not direct: one dict lookup per message with push on), a direct room whose
other member has a socket open (the cluster is asked, nothing is sent),
and a direct room whose other member is away without a subscription (the
cluster, then the store is asked). Pushes themselves are never sent here:
``bench`` measures the path every message takes, not delivery. Prints
microseconds of process CPU per message, the best of several rounds:

    PYTHONPATH=. python bench/push_hotpath.py
"""

from __future__ import annotations

from typing import Any

from bench.hotpath_cpu import bench_world, best_per_message, options
from chatservice.vapid import new_key_pair


def measure(push: bool, where: str, rounds: int, messages: int) -> float:
    """The best round's CPU seconds per message."""
    settings: dict[str, Any] = {}
    if push:
        private, _ = new_key_pair()
        settings.update(vapid_private_key=private, vapid_subject="mailto:bench@chat.invalid")
    world = bench_world(**settings)
    alice, _ = world.rest.register("alice")
    bob, bob_id = world.rest.register("bob")
    room_id = 1
    if where != "general":
        status, room = world.rest.call("POST", "/api/dms", alice, {"user_id": bob_id})
        assert status == 200, room
        room_id = room["id"]
    sender = world.chat.open(alice, room_id)
    if where == "direct, recipient online":
        world.chat.open(bob, room_id)
    else:
        world.chat.open(alice, room_id)  # a second receiving socket, as in hotpath_cpu
    return best_per_message(world, sender, rounds, messages)


if __name__ == "__main__":
    given = options(__doc__, rounds=5)
    for where in ("general", "direct, recipient online", "direct, recipient away"):
        off = measure(False, where, given.rounds, given.messages)
        on = measure(True, where, given.rounds, given.messages)
        print(
            f"{where:26} push off {off * 1e6:7.1f} µs/message   push on {on * 1e6:7.1f} "
            f"µs/message   ({(on / off - 1) * 100:+.1f} %)"
        )
