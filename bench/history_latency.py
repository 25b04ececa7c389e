"""History page latency over real HTTP against ``twistd chat`` with a 1,000,000-message room.

First bulk-loads ``--rows`` messages into one room of a fresh SQLite file,
through ``SQLStore`` (migrations applied, one transaction, the bulk path of
``bench/store_throughput.py``), then starts a ``twistd -n chat`` child
process on that file and sends ``GET /api/messages?roomId=...&limit=50``
requests one after another on one kept-alive HTTP connection: ``--requests``
for the newest page, then as many with ``before=<random id>`` (and
``after=<random id>``). Prints p50/p90/p99/max per kind; the target is p99
under 10 ms. The time is the client's: request written to response read.

    PYTHONPATH=. python bench/history_latency.py [--rows 1000000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import tempfile
import time
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from bench.store_throughput import bulk_load, id_range
from bench.twistd_server import TwistdServer, percentiles, register, request
from chatservice.models import NewRoom
from chatservice.store.sql import SQLStore

LIMIT = 50


async def load(reactor: Any, path: str, rows: int) -> tuple[int, int, int]:
    """Create the room and bulk-load it; return (room id, lowest id, highest id)."""
    store = SQLStore.sqlite(path, reactor)
    await store.start()
    try:
        user = await store.create_user("loader", b"not a password hash", 1)
        room = await store.create_room(NewRoom("Big", "a million messages", user.id, 1))
        started = time.perf_counter()
        await store.run_interaction("bulk_load", bulk_load, room.id, user.id, rows)
        low, high = await store.run_read("id_range", id_range, room.id)
        print(f"loaded {rows} messages into one room in {time.perf_counter() - started:.1f} s")
        return room.id, low, high
    finally:
        await store.close()


def measure(
    conn: http.client.HTTPConnection, token: str, path_for: Any, requests: int
) -> tuple[list[float], float]:
    """Send ``requests`` GETs built by ``path_for()``; return latencies (ms) and rows per page."""
    latencies: list[float] = []
    returned = 0
    for _ in range(requests):
        path = path_for()
        started = time.perf_counter()
        page = request(conn, "GET", path, token)
        latencies.append((time.perf_counter() - started) * 1000)
        returned += len(page)
    return latencies, returned / requests


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """Load the room, start the server on it, measure the three kinds of page."""
    workdir = tempfile.mkdtemp(prefix="chat-history-bench-", dir=args.dir)
    path = os.path.join(workdir, "chat.sqlite3")
    try:
        room_id, low, high = await load(reactor, path, args.rows)
        size = sum(os.path.getsize(f) for f in (path, path + "-wal") if os.path.exists(f))
        print(f"database file {size / 2**20:.0f} MiB; ids {low}..{high}")
        # From here on the reactor only waits: the client below blocks on purpose,
        # one request at a time, while the server runs in its own process.
        with TwistdServer(f"sqlite:///{path}", workdir, BCRYPT_ROUNDS="4") as server:
            conn = http.client.HTTPConnection(server.host, timeout=30)
            token, _ = register(conn, "reader")
            rng = random.Random(args.seed)
            base = f"/api/messages?roomId={room_id}&limit={LIMIT}"
            kinds = {
                "newest page    ": lambda: base,
                "before=<random>": lambda: f"{base}&before={rng.randint(low + LIMIT, high)}",
                "after=<random> ": lambda: f"{base}&after={rng.randint(low, high - LIMIT)}",
            }
            measure(conn, token, kinds["newest page    "], 200)  # warm-up
            print(
                f"GET /api/messages limit={LIMIT}, {args.requests} sequential requests each, "
                "one kept-alive connection:"
            )
            for label, path_for in kinds.items():
                latencies, per_page = measure(conn, token, path_for, args.requests)
                print(f"  {label}  {percentiles(latencies)}  {per_page:.0f} rows/page")
            conn.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", default=None, help="where the SQLite file goes")
    options = parser.parse_args()
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
