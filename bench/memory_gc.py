"""A full garbage collection's pause on a ``memory:`` store, by messages stored.

CPython's full (generation-2) collection visits every element of every
list it walks, tracked or not. A ``memory:`` store keeps per-room columns
that grow with every message; if they are lists, each full collection
walks all of them in the reactor thread, and S2's tail on ``memory:`` grew
as the store filled (bench/RESULTS.md). This fills a ``MemoryStore`` whose
rooms were made after ``gc.freeze()`` (as the harness makes its rooms after
start-up, when ``twistd chat`` has frozen its start-up heap) and times one
``gc.collect()`` at each size.

    PYTHONPATH=. python bench/memory_gc.py [--sizes 50000,100000,200000,400000]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from chatservice.models import NewMessage, NewRoom
from chatservice.store.memory import MemoryStore

T = TypeVar("T")


def _now(answer: Deferred[T]) -> T:
    """The result of a memory store's answer, which has fired already."""
    results: list[T] = []
    answer.addCallback(results.append)
    return results[0]


def main() -> None:
    """Fill the store step by step and print the full collection's time at each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="50000,100000,200000,400000",
        type=lambda text: [int(n) for n in text.split(",")],
    )
    args = parser.parse_args()
    store = MemoryStore(Clock())
    gc.collect()
    gc.freeze()
    user = _now(store.create_user("ann", b"h", 0))
    rooms = [_now(store.create_room(NewRoom(f"r{i}", "", user.id, 0))) for i in range(50)]
    stored = 0
    for size in args.sizes:
        while stored < size:
            store.add_messages(
                [
                    NewMessage(
                        rooms[(stored + k) % 50].id, user.id, "ann", f"~B1.{stored + k}~", 0
                    )
                    for k in range(100)
                ]
            )
            stored += 100
        gc.collect()
        began = time.perf_counter()
        gc.collect()
        pause = (time.perf_counter() - began) * 1000
        tracked = len(gc.get_objects())
        print(f"{stored:8d} messages: full collection {pause:5.1f} ms, {tracked} tracked")


if __name__ == "__main__":
    main()
