"""Full-text search latency on a room of 1,000,000 messages, SQLite and PostgreSQL.

Fills one room with ``--rows`` messages of generated text: a fixed
vocabulary of ``--vocabulary`` made-up words whose frequencies follow
Zipf's law (the most common word is in about two messages of three, the
rarest in a few dozen), 3 to 20 words a message, seeded, so every run
searches the same text. The rows are bulk-loaded into a database at
schema version 1 (plain messages), migrated to version 2 (the
timeline: reply, edit and delete columns, and an empty table of
changes), then ``SQLStore.start()`` applies the search
migration, which indexes them all; both times are printed. Then
``SQLStore.search_messages(words, [room], None, 50)`` runs
``--queries`` times for each kind of two-word query (frequent+frequent,
frequent+rare, rare+rare, middle+middle, and frequent+frequent paging back
from a random ``before``; frequent = among the 20 most common words,
middle = ranks 100 to 1,000, rare = ranks 2,000 to 20,000), one at a time,
and p50/p90/p99/max are printed per kind and overall. The target is p99
under 50 ms.

    PYTHONPATH=. python bench/search_latency.py [--rows 1000000] [--queries 200]
    PYTHONPATH=. python bench/search_latency.py --database postgresql://postgres@127.0.0.1:5432/test

SQLite runs in a temporary directory, removed at the end; with
``--database`` PostgreSQL runs too, in a schema of its own that is dropped
at the end. ``--explain`` prints each kind's query plan on PostgreSQL.

``--other-room-rows N`` also fills a second room with N messages saying
"hello" (a word the generated text never has) and times searching "hello"
in the big room: no match there, so a room-filtered search that reads every
match of its words in all rooms shows up as a cost that grows with N.

    PYTHONPATH=. python bench/search_latency.py --rows 1000 --other-room-rows 400000
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from bench.scratch import scratch_schema
from bench.twistd_server import percentiles
from chatservice.store.database import Txn
from chatservice.store.migrations import load_migrations, migrate
from chatservice.store.search_queries import postgresql_search_sql
from chatservice.store.sql import SQLStore

LIMIT = 50
SEARCH_VERSION = 3  # the migration that builds the index
FREQUENT = range(0, 20)
MIDDLE = range(100, 1_000)
RARE = range(2_000, 20_000)
_SYLLABLES = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"]
_INSERT = (
    "INSERT INTO messages (room_id, sender_id, username, content, ts)"
    " VALUES (:room_id, :sender_id, :username, :content, :ts)"
)


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """``size`` distinct made-up words, shortest first: common words are short."""
    words: dict[str, None] = {}
    while len(words) < size:
        length = rng.choice((1, 2, 2, 3, 3, 3, 4))
        words["".join(rng.choice(_SYLLABLES) for _ in range(length))] = None
    return sorted(words, key=len)


@dataclass
class Corpus:
    """How to generate the messages, and the query words with their message counts."""

    words: list[str]
    cumulative: list[float]
    seed: int
    counts: dict[str, int]

    @classmethod
    def build(cls, size: int, seed: int) -> Corpus:
        """A Zipf (s = 1) vocabulary of ``size`` words; the query words are counted."""
        words = vocabulary(size, random.Random(seed))
        cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(size)))
        tracked = [words[r] for picks in (FREQUENT, MIDDLE, RARE) for r in picks if r < size]
        return cls(words, cumulative, seed, dict.fromkeys(tracked, 0))

    def messages(self, rows: int) -> Iterator[str]:
        """Yield ``rows`` message texts (the same ones for the same seed), counting words."""
        rng = random.Random(self.seed + 1)
        counts = self.counts
        batch = 10_000
        for start in range(0, rows, batch):
            lengths = rng.choices(range(3, 21), k=min(batch, rows - start))
            tokens = rng.choices(self.words, cum_weights=self.cumulative, k=sum(lengths))
            at = 0
            for length in lengths:
                words = tokens[at : at + length]
                at += length
                for word in set(words):
                    if word in counts:
                        counts[word] += 1
                yield " ".join(words).capitalize() + rng.choice(".,!?")


def load_sqlite(txn: Txn, room_id: int, user_id: int, texts: Iterator[str]) -> None:
    """Insert the messages in this one transaction (executemany, 10,000 at a time)."""
    while chunk := list(itertools.islice(texts, 10_000)):
        txn.execute_many(
            _INSERT,
            (
                {"room_id": room_id, "sender_id": user_id, "username": "bench", "content": text,
                 "ts": 1_700_000_000_000}
                for text in chunk
            ),
        )  # fmt: skip


def load_postgresql(
    dsn: str, schema: str, room_id: int, user_id: int, texts: Iterator[str]
) -> None:
    """``COPY`` the messages in, the fast path for a bulk load."""
    import psycopg

    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn, conn.cursor() as cur:
        columns = "room_id, sender_id, username, content, ts"
        with cur.copy(f"COPY messages ({columns}) FROM STDIN") as copy:
            for text in texts:
                copy.write_row((room_id, user_id, "bench", text, 1_700_000_000_000))


async def migrate_below(store: SQLStore, version: int) -> None:
    """Apply the migrations older than ``version`` on an unstarted store, then close it."""
    store.database.open()
    try:
        older = [m for m in load_migrations() if m.version < version]
        await store.run_interaction("migrate", migrate, older, 0)
    finally:
        await store.close()


async def prepare(store: SQLStore) -> tuple[int, int, int]:
    """Bring an empty database to version 1 with a user and two rooms; return their ids."""
    await migrate_below(store, 2)
    store.database.open()
    try:
        # In version 1's own columns: the store's create_room writes the
        # columns later versions add, which this database does not have yet.
        return await store.run_interaction("prepare", _version_1_rows)
    finally:
        await store.close()


def _version_1_rows(txn: Txn) -> tuple[int, int, int]:
    user_id = txn.insert(
        "INSERT INTO users (username, username_key, password_hash, created_at)"
        " VALUES ('bench', 'bench', :hash, 1)",
        {"hash": b"not a password hash"},
    )
    rooms = [
        txn.insert(
            "INSERT INTO rooms (name, name_key, description, created_by, created_at)"
            " VALUES (:name, :key, :description, :user_id, 1)",
            {"name": name, "key": name.casefold(), "description": text, "user_id": user_id},
        )
        for name, text in (("Big", "a million messages"), ("Other", "--other-room-rows messages"))
    ]
    return rooms[0], rooms[1], user_id


Query = tuple[str, int | None]  # the words, and the cursor or None


def queries(corpus: Corpus, rng: random.Random, top: int) -> dict[str, Callable[[], Query]]:
    """The kinds of two-word query, each drawing its words (and cursor) at random."""
    words = corpus.words
    frequent = [words[r] for r in FREQUENT]
    middle = [words[r] for r in MIDDLE if r < len(words)]
    rare = [words[r] for r in RARE if r < len(words)]

    def two(first: list[str], second: list[str], paging: bool = False) -> Callable[[], Query]:
        def query() -> Query:
            a = rng.choice(first)
            b = rng.choice(second)
            while b == a:
                b = rng.choice(second)
            return f"{a} {b}", rng.randint(1, top) if paging else None

        return query

    return {
        "frequent+frequent": two(frequent, frequent),
        "frequent+rare": two(frequent, rare),
        "rare+rare": two(rare, rare),
        "middle+middle": two(middle, middle),
        "frequent+frequent before=<random>": two(frequent, frequent, paging=True),
    }


async def measure(store: SQLStore, room_id: int, corpus: Corpus, args: argparse.Namespace) -> None:
    """Run every kind of query ``args.queries`` times and print the latencies."""
    top = await store.run_read("top", _top_id)
    kinds = queries(corpus, random.Random(args.seed + 2), top)
    for make in kinds.values():  # warm-up: the first reads pull the index into the cache
        for _ in range(20):
            query, before = make()
            await store.search_messages(query, [room_id], before, LIMIT)
    everything: list[float] = []
    for label, make in kinds.items():
        latencies: list[float] = []
        found = 0
        for _ in range(args.queries):
            query, before = make()
            started = time.perf_counter()
            page = await store.search_messages(query, [room_id], before, LIMIT)
            latencies.append((time.perf_counter() - started) * 1000)
            found += len(page)
        everything += latencies
        print(f"  {label:<34}{percentiles(latencies)}  {found / args.queries:4.1f} found/query")
        if args.explain and store.dialect.name == "postgresql" and "before" not in label:
            print(
                "    "
                + "\n    ".join(await store.run_read("explain", _explain, make()[0], room_id))
            )
    print(f"  {'all kinds':<34}{percentiles(everything)}")
    if args.other_room_rows:
        latencies = []
        for _ in range(args.queries):
            started = time.perf_counter()
            page = await store.search_messages("hello", [room_id], None, LIMIT)
            latencies.append((time.perf_counter() - started) * 1000)
            assert not page, page
        label = f"hello (in {args.other_room_rows} other)"
        print(f"  {label:<34}{percentiles(latencies)}")


def _explain(txn: Txn, words: str, room_id: int) -> list[str]:
    sql = "EXPLAIN (ANALYZE, BUFFERS) " + postgresql_search_sql(False, 1)
    rows = txn.query(sql, {"words": words, "room_0": room_id, "limit": LIMIT})
    return [f"{words}:"] + [str(row[0]) for row in rows]


def _top_id(txn: Txn) -> int:
    row = txn.query_one("SELECT MAX(id) FROM messages")
    assert row is not None
    return int(row[0])


def _analyze(txn: Txn) -> None:
    txn.execute("ANALYZE messages")


async def run(label: str, store_for: Callable[[], SQLStore], load: Any, args: Any) -> None:
    """Prepare, load, migrate (index) and measure one database."""
    corpus = Corpus.build(args.vocabulary, args.seed)
    room_id, other_id, user_id = await prepare(store_for())
    started = time.perf_counter()
    await load(room_id, user_id, corpus.messages(args.rows))
    await load(other_id, user_id, itertools.repeat("hello", args.other_room_rows))
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    await migrate_below(store_for(), SEARCH_VERSION)
    timeline = time.perf_counter() - started
    store = store_for()
    started = time.perf_counter()
    await store.start()  # applies the search migration: indexes every message
    indexed = time.perf_counter() - started
    try:
        if store.dialect.name == "postgresql":
            await store.run_interaction("analyze", _analyze)
        print(
            f"\n{label}: {args.rows} messages loaded in {loaded:.1f} s; migrated to the"
            f" timeline in {timeline:.1f} s; search index built in {indexed:.1f} s"
        )
        for name, picks in (("frequent", FREQUENT), ("middle", MIDDLE), ("rare", RARE)):
            counts = [corpus.counts[corpus.words[r]] for r in picks if r < len(corpus.words)]
            print(f"  {name} words are in {min(counts)} to {max(counts)} messages each")
        print(f"  search_messages(2 words, [room], limit={LIMIT}), {args.queries} per kind:")
        await measure(store, room_id, corpus, args)
    finally:
        await store.close()


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """SQLite in a temporary directory; then PostgreSQL in a scratch schema if asked."""
    folder = tempfile.mkdtemp(prefix="chat-search-bench-", dir=args.dir)
    path = os.path.join(folder, "chat.sqlite3")
    try:

        def sqlite_store() -> SQLStore:
            return SQLStore.sqlite(path, reactor)

        async def sqlite_load(room_id: int, user_id: int, texts: Iterator[str]) -> None:
            store = sqlite_store()
            store.database.open()
            try:
                await store.run_interaction("bulk_load", load_sqlite, room_id, user_id, texts)
            finally:
                await store.close()

        await run(f"SQLite {path}", sqlite_store, sqlite_load, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not args.database:
        return
    from twisted.internet.threads import deferToThread

    schema, drop = scratch_schema(args.database, "chat_search_bench")
    try:

        def pg_store() -> SQLStore:
            return SQLStore.postgresql(args.database, reactor, options=f"-c search_path={schema}")

        async def pg_load(room_id: int, user_id: int, texts: Iterator[str]) -> None:
            await deferToThread(load_postgresql, args.database, schema, room_id, user_id, texts)

        await run(f"PostgreSQL (schema {schema})", pg_store, pg_load, args)
    finally:
        drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="per kind of query")
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", default=None, help="where the SQLite file goes")
    parser.add_argument("--database", default="", help="also run on this PostgreSQL URL")
    parser.add_argument("--other-room-rows", type=int, default=0, help="'hello' in room 2")
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL query plans")
    options = parser.parse_args()
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
