"""CPU per commit of ``add_messages`` on SQLite, by batch size: what group commit saves.

S2 (a steady 2,000 msg/s over 50 rooms) commits up to 500 times a second
with ``COMMIT_INTERVAL`` at 2 ms, about four messages each; the harness can
only show the server's total CPU. This times the store alone, through the
same ``SQLStore`` the service uses (WAL, ``synchronous=FULL``, the search
index's backlog caught up every ``BACKLOG_IDS`` ids, a thread hand-off per
commit), on a temporary file: process
CPU (every thread, kernel time included) per commit and per message, for
each batch size in turn, with the wall time's tail, and (on Linux) how that
CPU splits between the reactor thread and the store's thread.

    PYTHONPATH=. python bench/commit_cpu.py                 # batches of 1, 4 and 20
    PYTHONPATH=. python bench/commit_cpu.py --batches 1,20 --commits 500
    PYTHONPATH=. python bench/commit_cpu.py --no-fsync       # to split the cost

``--no-fsync`` (``synchronous=OFF``) and ``--no-fts`` (no search index) are
never settings of the service: they only show how much of a commit's CPU
the fsync and the index are. The database grows as the run goes (every
batch size adds to it), so compare runs of the same options.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import react

from bench.proccpu import TICKS, cpu_ticks
from chatservice.models import NewMessage, NewRoom
from chatservice.store import pool, search_backlog
from chatservice.store import sql as sql_store
from chatservice.store.sql import SQLStore


def _without_fsync() -> None:
    """Make every new SQLite connection ``synchronous=OFF`` (measurement only)."""
    normal = pool.sqlite_on_connect

    def unsynced(busy_timeout_ms: int) -> Any:
        setup = normal(busy_timeout_ms)

        def on_connect(conn: Any) -> None:
            setup(conn)
            conn.execute("PRAGMA synchronous = OFF")

        return on_connect

    sql_store.sqlite_on_connect = unsynced  # type: ignore[attr-defined]


def _thread_cpu() -> dict[int, float]:
    """CPU seconds so far of each thread of this process, by thread id (Linux; else empty)."""
    pid = os.getpid()
    tasks = f"/proc/{pid}/task"
    if not os.path.isdir(tasks):
        return {}
    return {int(task): cpu_ticks(pid, int(task)) / TICKS for task in os.listdir(tasks)}


def _split(before: dict[int, float], after: dict[int, float], commits: int) -> str:
    """Microseconds of CPU per commit of the reactor thread and of the store's thread(s)."""
    if not after:
        return ""
    used = {task: cpu - before.get(task, 0.0) for task, cpu in after.items()}
    reactor_thread = used.get(os.getpid(), 0.0)  # the main thread's id is the process id
    others = sum(used.values()) - reactor_thread
    return (
        f"; reactor thread {reactor_thread / commits * 1e6:.0f},"
        f" store thread {others / commits * 1e6:.0f} us"
    )


async def _run(reactor: Any, args: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp(prefix="commit-cpu-")
    store = SQLStore.sqlite(os.path.join(folder, "chat.sqlite3"), reactor)
    try:
        await store.start()
        user = await store.create_user("ann", b"not a hash", 0)
        rooms = [await store.create_room(NewRoom(f"r{i}", "", user.id, 0)) for i in range(50)]
        sent = 0
        for size in args.batches:
            walls: list[float] = []
            threads_before = _thread_cpu()
            cpu_start = time.process_time()
            for _ in range(args.commits):
                batch = []
                for _ in range(size):
                    sent += 1
                    content = f"~B1.{sent}.1796648121436~" + "x" * 40  # S2's shape
                    room = rooms[sent % len(rooms)]
                    batch.append(NewMessage(room.id, user.id, "ann", content, 0, f"c{sent}"))
                began = time.perf_counter()
                await store.add_messages(batch)
                walls.append((time.perf_counter() - began) * 1000)
            cpu = (time.process_time() - cpu_start) / args.commits * 1e6
            split = _split(threads_before, _thread_cpu(), args.commits)
            walls.sort()
            p99 = walls[int(0.99 * len(walls))]
            print(
                f"batch {size:3d}: {cpu:6.0f} us CPU per commit, {cpu / size:5.0f} per message;"
                f" wall p50 {walls[len(walls) // 2]:.2f} p99 {p99:.2f} max {walls[-1]:.2f} ms"
                f"{split}"
            )
    finally:
        await store.close()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    """Parse the options and time the batches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batches", default="1,4,20", type=lambda text: [int(n) for n in text.split(",")]
    )
    parser.add_argument("--commits", type=int, default=1500, help="commits per batch size")
    parser.add_argument("--no-fsync", action="store_true", help="synchronous=OFF, to split")
    parser.add_argument("--no-fts", action="store_true", help="skip the search index, to split")
    args = parser.parse_args()
    if args.no_fsync:
        _without_fsync()
    if args.no_fts:
        search_backlog.index_if_due = lambda txn, newest_id: None
    react(lambda reactor: ensureDeferred(_run(reactor, args)))


if __name__ == "__main__":
    main()
