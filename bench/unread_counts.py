"""The cost of ``GET /api/rooms``' unread counts: a user in 500 rooms, one of a million messages.

Bulk-loads a fresh store (SQLite by default, or ``--database`` a PostgreSQL
URL with an empty database): one room of ``--rows`` messages and
``--rooms - 1`` rooms of ``--per-room`` messages each, all from another
user, every room owned by the reader (a member since creation, so every
message is unread: the worst case, each count stops at ``COUNT_LIMIT``).
Every fifth message mentions the reader. Then times ``room_counts`` for all
the rooms, one call after another (``--requests`` of them): first with
everything unread, then after marking every room read (each walk ends at
once). Prints p50/p90/p99/max per case and the counts of the big room.

    PYTHONPATH=. python bench/unread_counts.py [--rows 1000000] [--rooms 500] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

from twisted.internet.task import react

from chatservice.models import NewRoom
from chatservice.store.database import Txn
from chatservice.store.sql import SQLStore


def bulk_load(txn: Txn, room_id: int, user_id: int, reader_id: int, rows: int) -> None:
    """Insert ``rows`` messages into one room; every fifth mentions the reader."""
    batch = 50_000
    for start in range(0, rows, batch):
        numbers = range(start, min(rows, start + batch))
        txn.execute_many(
            "INSERT INTO messages (room_id, sender_id, username, content, ts, mentioned)"
            " VALUES (:room_id, :sender_id, :username, :content, :ts, :mentioned)",
            (
                {
                    "room_id": room_id,
                    "sender_id": user_id,
                    "username": "writer",
                    "content": f"message {n} with some typical chat length text",
                    "ts": 1_700_000_000_000 + n,
                    "mentioned": str(reader_id) if n % 5 == 0 else None,
                }
                for n in numbers
            ),
        )
    txn.execute(
        "INSERT INTO mentions (message_id, user_id, room_id)"
        " SELECT id, :reader, room_id FROM messages"
        " WHERE room_id = :room AND mentioned IS NOT NULL",
        {"reader": reader_id, "room": room_id},
    )


def newest(txn: Txn, room_id: int) -> int:
    """The room's newest message id."""
    row = txn.query_one("SELECT MAX(id) FROM messages WHERE room_id = :r", {"r": room_id})
    assert row is not None
    return int(row[0])


def percentiles(samples: list[float]) -> str:
    """p50/p90/p99/max of ``samples`` (ms)."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {at(0.5):7.2f}  p90 {at(0.9):7.2f}  p99 {at(0.99):7.2f}  max {ordered[-1]:7.2f} ms"
    )


async def timed(store: SQLStore, reader: int, room_ids: list[int], requests: int) -> list[float]:
    """Latencies (ms) of ``requests`` successive ``room_counts`` calls for every room."""
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await store.room_counts(reader, room_ids)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """Load, then measure the two cases."""
    workdir = tempfile.mkdtemp(prefix="chat-unread-bench-", dir=args.dir)
    try:
        if args.database:
            store = SQLStore.postgresql(args.database, reactor)
        else:
            store = SQLStore.sqlite(os.path.join(workdir, "chat.sqlite3"), reactor)
        await store.start()
        try:
            reader = await store.create_user("reader", b"not a hash", 1)
            writer = await store.create_user("writer", b"not a hash", 1)
            rooms = [
                await store.create_room(NewRoom(f"room {n}", "", reader.id, 1))
                for n in range(args.rooms)
            ]
            started = time.perf_counter()
            for n, room in enumerate(rooms):
                rows = args.rows if n == 0 else args.per_room
                await store.run_interaction(
                    "bulk_load", bulk_load, room.id, writer.id, reader.id, rows
                )
            # What autovacuum does soon after a bulk load: without statistics
            # PostgreSQL may plan a mention walk as a full bitmap scan.
            await store.run_interaction("analyze", lambda txn: txn.execute("ANALYZE"))
            total = args.rows + (args.rooms - 1) * args.per_room
            print(
                f"loaded {total} messages into {args.rooms} rooms "
                f"({args.rows} in the biggest) in {time.perf_counter() - started:.1f} s"
            )
            room_ids = [room.id for room in rooms]
            counts = await store.room_counts(reader.id, room_ids)
            print(f"the big room: {counts[room_ids[0]]}")
            unread = await timed(store, reader.id, room_ids, args.requests)
            print(f"{args.rooms} rooms, all unread (capped): {percentiles(unread)}")
            for room_id in room_ids:
                last = await store.run_read("newest", newest, room_id)
                await store.set_read_marker(reader.id, room_id, last)
            read = await timed(store, reader.id, room_ids, args.requests)
            print(f"{args.rooms} rooms, all read:            {percentiles(read)}")
        finally:
            await store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parse() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="messages in the big room")
    parser.add_argument("--rooms", type=int, default=500, help="rooms the reader is in")
    parser.add_argument("--per-room", type=int, default=200, help="messages in each other room")
    parser.add_argument("--requests", type=int, default=50, help="timed calls per case")
    parser.add_argument("--database", default="", help="a PostgreSQL URL (empty database)")
    parser.add_argument("--dir", default=None, help="where the SQLite file goes")
    return parser.parse_args()


if __name__ == "__main__":
    react(lambda reactor: main(reactor, parse()))
