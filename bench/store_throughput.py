"""Store throughput with group commit, and history latency on a big room.

Two measurements on a SQLite file (WAL, synchronous=FULL, so every commit
waits for fsync), through the same ``SQLStore`` the service uses:

1. Write throughput: ``--senders`` concurrent senders, each posting its next
   message as soon as the previous one is acknowledged (closed loop), for
   ``--seconds``; once through ``GroupCommitStore.add_message`` and once with
   one ``add_messages`` transaction per message, for comparison.
2. Read latency: ``get_messages(limit=50)`` on a room of ``--rows`` messages
   (bulk-loaded in one transaction): the newest page, pages ``before`` a
   random id and pages ``after`` a random id.

    python bench/store_throughput.py [--senders 200] [--seconds 10] [--rows 1000000]

With ``--dsn postgresql://...`` the same runs on PostgreSQL, in a scratch
schema that is dropped afterwards. With ``--sealed`` the store seals
message text under a fresh key (``ENCRYPTION_KEY``; ``store.sealing``):
compare a run with and without it. The bulk-loaded history is then sealed
by the rotation step (``reseal_batch``), whose rate is printed too, so the
read phase opens sealed rows.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import react

from bench.scratch import scratch_schema
from bench.twistd_server import percentiles
from chatservice.keyring import new_key, parse_key_ring
from chatservice.models import NewMessage, NewRoom, Posted
from chatservice.store.batching import GroupCommitStore
from chatservice.store.database import Txn
from chatservice.store.sealing import PLAINTEXT, Sealing
from chatservice.store.sql import SQLStore
from tests.fakes import count_commits

reactor: Any = _reactor


async def write_phase(
    label: str,
    post: Callable[[NewMessage], Awaitable[Posted]],
    room_id: int,
    user_id: int,
    senders: int,
    seconds: float,
) -> None:
    """Run ``senders`` closed-loop senders for ``seconds`` and print the rate."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def sender(index: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            new = NewMessage(room_id, user_id, "bench", f"s{index} m{n}", int(time.time() * 1000))
            started = time.perf_counter()
            await post(new)
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1

    started = time.perf_counter()
    await gatherResults([Deferred.fromCoroutine(sender(i)) for i in range(senders)])
    elapsed = time.perf_counter() - started
    rate = len(latencies) / elapsed
    print(f"{label}: {rate:10.0f} messages/s ({len(latencies)} in {elapsed:.1f} s)")
    print(f"  ack latency  {percentiles(latencies)}")


def bulk_load(txn: Txn, room_id: int, user_id: int, rows: int) -> None:
    """Insert ``rows`` messages into one room in this single transaction."""
    batch = 50_000
    for start in range(0, rows, batch):
        txn.execute_many(
            "INSERT INTO messages (room_id, sender_id, username, content, ts)"
            " VALUES (:room_id, :sender_id, :username, :content, :ts)",
            (
                {
                    "room_id": room_id,
                    "sender_id": user_id,
                    "username": "bench",
                    "content": f"history message {n} with some typical chat length text",
                    "ts": 1_700_000_000_000 + n,
                }
                for n in range(start, min(rows, start + batch))
            ),
        )


def id_range(txn: Txn, room_id: int) -> tuple[int, int]:
    """Return the smallest and largest message id of a room."""
    row = txn.query_one(
        "SELECT MIN(id), MAX(id) FROM messages WHERE room_id = :room_id", {"room_id": room_id}
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def read_phase(store: SQLStore, rows: int, requests: int) -> None:
    """Bulk-load a big room and print get_messages(limit=50) latencies."""
    user = await store.create_user("reader", b"h", 1)
    room = await store.create_room(NewRoom("Big", "", None, 1))
    started = time.perf_counter()
    await store.run_interaction("bulk_load", bulk_load, room.id, user.id, rows)
    print(f"\nloaded {rows} messages into one room in {time.perf_counter() - started:.1f} s")
    if store.database.sealing.enabled:
        started = time.perf_counter()
        resealed = 0
        while not (step := await store.reseal_batch(1000)).done:
            resealed += step.resealed
        elapsed = time.perf_counter() - started
        print(f"sealed them (rotation, batches of 1000): {resealed / elapsed:.0f} rows/s")
    low, high = await store.run_read("id_range", id_range, room.id)
    rng = random.Random(42)
    cases: dict[str, Callable[[], Deferred[Any]]] = {
        "newest page      ": lambda: store.get_messages(room.id, 50),
        "before=<random>  ": lambda: store.get_messages(
            room.id, 50, before=rng.randint(low, high)
        ),
        "after=<random>   ": lambda: store.get_messages(room.id, 50, after=rng.randint(low, high)),
    }
    for label, call in cases.items():
        latencies: list[float] = []
        returned = 0
        for _ in range(requests):
            t0 = time.perf_counter()
            page = await call()
            latencies.append((time.perf_counter() - t0) * 1000)
            returned += len(page)
        print(f"get_messages(limit=50) {label} {percentiles(latencies)}")
        print(f"  {returned / requests:.1f} messages per page on average")


async def main(args: argparse.Namespace) -> None:
    """Run both phases on SQLite, or on PostgreSQL with --dsn."""
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    sealing = Sealing(parse_key_ring(new_key())) if args.sealed else PLAINTEXT
    if args.dsn:
        schema, cleanup = scratch_schema(args.dsn, "chat_bench")
        store = SQLStore.postgresql(
            args.dsn,
            reactor,
            pool_size=5,
            sealing=sealing,
            options=f"-c search_path={schema}",
        )
        where = f"PostgreSQL ({store.description}, schema {schema})"
    else:
        folder = tempfile.mkdtemp(prefix="chat-bench-", dir=args.dir)
        path = os.path.join(folder, "bench.sqlite3")
        cleanup = lambda: shutil.rmtree(folder)  # noqa: E731
        store = SQLStore.sqlite(path, reactor, sealing=sealing)
        where = f"SQLite {path} (WAL, synchronous=FULL)"
    sealed = "sealed (ENCRYPTION_KEY set)" if args.sealed else "plain text"
    print(
        f"store: {where}, {sealed}; {args.senders} concurrent senders, "
        f"{args.seconds:.0f} s per run\n"
    )
    batching = GroupCommitStore(store)
    await batching.start()
    try:
        user = await store.create_user("bench", b"h", 1)
        room = await store.ensure_room("General", "", 1)
        original = store.add_messages
        commits = count_commits(store)

        async def grouped(new: NewMessage) -> Posted:
            return await batching.add_message(new)

        await write_phase(
            "group commit (GroupCommitStore)   ",
            grouped,
            room.id,
            user.id,
            args.senders,
            args.seconds,
        )
        print(
            f"  {len(commits)} transactions, {statistics.mean(commits):.1f} messages each "
            f"on average, largest {max(commits)}"
        )

        async def single(new: NewMessage) -> Posted:
            (posted,) = await original([new])
            return posted

        await write_phase(
            "one transaction per message       ",
            single,
            room.id,
            user.id,
            args.senders,
            min(args.seconds, 5.0),
        )
        await read_phase(store, args.rows, args.requests)
    finally:
        await batching.close()
        cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--dir", default=None, help="where the SQLite file goes (a real disk, for real fsyncs)"
    )
    parser.add_argument("--dsn", default="", help="run on PostgreSQL instead of SQLite")
    parser.add_argument("--sealed", action="store_true", help="seal message text at rest")
    options = parser.parse_args()
    react(lambda _reactor: Deferred.fromCoroutine(main(options)))
