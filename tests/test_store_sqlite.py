"""The store contract and SQLStore's own rules on SQLite (a temporary file)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from twisted.internet import reactor
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.errors import StoreUnavailable
from chatservice.keyring import KeyRing
from chatservice.store import IChatStore, UnsupportedStoreURL, open_store
from chatservice.store.database import Txn
from chatservice.store.sealing import PLAINTEXT, Sealing
from chatservice.store.sql import SQLStore
from tests.access_contract import AccessContractMixin
from tests.account_contract import AccountContractMixin
from tests.hook_contract import HookContractMixin
from tests.hook_sealing_contract import HookSealingContractMixin
from tests.read_contract import ReadContractMixin
from tests.sealing_contract import OLD_RING
from tests.store_contract import MixinBase, SQLStoreContractMixin, SQLStoreMixin, failure_of
from tests.timeline_contract import SQLTimelineMixin, TimelineContractMixin
from tests.upload_contract import UploadContractMixin


class SQLiteDatabase(MixinBase):
    """Each test gets its own database file."""

    sealing = PLAINTEXT
    """How the stores of ``build_store`` seal message text."""

    def setUp(self) -> None:
        self.path = self.mktemp()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def build_store(
        self, clock: IReactorTime | None = None, retry_delays: Sequence[float] = (0.01, 0.02)
    ) -> SQLStore:
        store = SQLStore.sqlite(
            self.path,
            clock if clock is not None else reactor,
            reactor=reactor,
            retry_delays=retry_delays,
            sealing=self.sealing,
        )
        self.addCleanup(store.close)
        return store


class SQLiteContractTests(
    SQLiteDatabase,
    SQLStoreContractMixin,
    TimelineContractMixin,
    AccessContractMixin,
    AccountContractMixin,
    UploadContractMixin,
    ReadContractMixin,
    HookContractMixin,
    TestCase,
):
    """SQLStore on SQLite keeps every rule of IChatStore, across restarts too."""


class SQLiteStoreTests(SQLiteDatabase, SQLStoreMixin, SQLTimelineMixin, TestCase):
    """Migrations, retries, errors and closing on SQLite."""

    def execute_raw(self, sql: str) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(sql)
        conn.close()

    def transient_error(self) -> Exception:
        return sqlite3.OperationalError("database is locked")

    async def test_connections_use_wal_full_sync_and_foreign_keys(self) -> None:
        """Every connection runs in WAL mode with synchronous=FULL and foreign keys on."""
        store = await self.started()

        def pragmas(txn: Txn) -> list[object]:
            return [
                txn.query_one(f"PRAGMA {name}")[0]  # type: ignore[index]
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]

        self.assertEqual(await store.run_read("pragmas", pragmas), ["wal", 2, 1, 5000])

    async def test_history_pages_use_the_room_index(self) -> None:
        """Every history query searches the (room_id, id) index and sorts nothing."""
        from chatservice.store import message_queries as pages

        store = await self.started()
        queries = [pages._PAGE_AFTER, pages._PAGE_BEFORE, pages._PAGE_NEWEST]
        params = {"room_id": 1, "after": 1, "before": 1, "limit": 1}

        def plans(txn: Txn) -> list[str]:
            return [
                " ".join(str(row[-1]) for row in txn.query("EXPLAIN QUERY PLAN " + q, params))
                for q in queries
            ]

        for plan in await store.run_read("plans", plans):
            self.assertIn("USING INDEX messages_room_id_id", plan)
            self.assertNotIn("TEMP B-TREE", plan)

    async def test_event_pages_use_the_room_index(self) -> None:
        """get_events walks the (room_id, id) indexes of messages and events, sorting nothing."""
        from chatservice.store import timeline_queries

        store = await self.started()

        def plan(txn: Txn, sql: str) -> str:
            rows = txn.query("EXPLAIN QUERY PLAN " + sql, {"room_id": 1, "after": 1, "limit": 1})
            return " ".join(str(row[-1]) for row in rows)

        for sql, index in (
            (timeline_queries._ROOM_MESSAGES, "messages_room_id_id"),
            (timeline_queries._ROOM_CHANGES, "events_room_id_id"),
        ):
            found = await store.run_read("plan", plan, sql)
            self.assertIn(f"INDEX {index}", found)
            self.assertNotIn("TEMP B-TREE", found)

    async def test_pages_cost_the_same_queries_for_any_number_of_messages(self) -> None:
        """History is 3 queries and events 4, however many replies and reactions a page has."""
        from chatservice.models import NewMessage
        from chatservice.store import message_queries, timeline_queries

        store = await self.started()
        user = await store.create_user("alice", b"h", 1)
        room = await store.ensure_room("General", "", 1)
        posted = await store.add_messages(
            [NewMessage(room.id, user.id, "alice", f"m{n}", n) for n in range(30)]
        )
        first = [p.message for p in posted]
        await store.add_messages(
            [NewMessage(room.id, user.id, "alice", "re", 1, None, m.id) for m in first[:10]]
        )
        for message in first[::3]:
            await store.set_reaction(message.id, user.id, "👍", True, 1)
            await store.edit_message(message.id, user.id, "edited", 2)

        def traced(txn: Txn) -> tuple[list[str], list[str], list[str], int, int, int]:
            connection = txn._cursor.connection
            history: list[str] = []
            connection.set_trace_callback(history.append)
            page = message_queries.get_messages(txn, room.id, 100, None, None)
            events: list[str] = []
            connection.set_trace_callback(events.append)
            timeline = timeline_queries.get_events(txn, room.id, 0, 200)
            later: list[str] = []
            connection.set_trace_callback(later.append)
            changes = timeline_queries.get_events(txn, room.id, 40, 200)
            connection.set_trace_callback(None)
            return history, events, later, len(page), len(timeline), len(changes)

        history, events, later, *counts = await store.run_read("traced", traced)
        self.assertEqual(counts, [40, 40 + 20, 20])
        # Rows, reactions, attachments, previews.
        self.assertEqual(len(history), 4, history)
        # New messages, changes, reactions, attachments, previews.
        self.assertEqual(len(events), 5, events)
        # Changes of messages before the page: their rows are read by id
        # instead (and none of them is a reply, so no previews).
        self.assertEqual(len(later), 5, later)

    async def test_batches_and_changes_keep_the_search_index_whole(self) -> None:
        """FTS5's integrity check, against the messages table, passes after batches and changes.

        New messages wait in the search backlog and are indexed in bulk; an
        edit or a delete that told the index to remove words it never held
        would corrupt it, which the check (rank 1: compare with the content
        table) finds once the backlog is indexed.
        """
        from chatservice.models import NewMessage
        from chatservice.store.search_backlog import index_backlog

        store = await self.started()
        user = await store.create_user("alice", b"h", 1)
        rooms = [await store.ensure_room(name, "", 1) for name in ("General", "Other")]
        for batch in range(3):
            room = rooms[batch % 2]
            posted = await store.add_messages(
                [
                    NewMessage(room.id, user.id, "alice", f"batch {batch} word {n}", n, cid)
                    for n, cid in enumerate((f"{batch}a", None, f"{batch}b", f"{batch}a", None))
                ]
            )
            self.assertEqual([p.created for p in posted], [True, True, True, False, True])
            await store.edit_message(posted[1].message.id, user.id, f"edited {batch}", 2)
            await store.delete_message(posted[2].message.id, user.id, 3)

        def check(txn: Txn, match: str) -> int:
            index_backlog(txn)
            txn.execute(
                "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
            )
            row = txn.query_one(
                "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH :match",
                {"match": match},
            )
            assert row is not None
            return int(row[0])

        # Batches 0 and 2 went to the first room, 1 to the second; the
        # room column is checked with the words, so it agrees with messages.
        for match, count in (
            ("word", 3 * 2),
            (f'word AND room_id : "{rooms[0].id}"', 2 * 2),
            (f'room_id : "{rooms[1].id}"', 5 - 1),
        ):
            self.assertEqual(await store.run_interaction("check", check, match), count, match)

    async def test_room_filtered_search_reads_only_that_rooms_matches(self) -> None:
        """Past the probe, FTS5 hands the join only the room's matches, not every room's.

        The review's case: a word in many messages of one room, searched in
        another. The probe reads at most ``PROBE_ROWS`` of the words'
        matches; what FTS5's MATCH of the rooms then yields (the plan's
        outer loop, pinned by the newest-first test) is counted here: it
        follows the searched room, whatever the other rooms hold. The
        quiet room's messages sit before, inside and past the probe, and
        every page still comes newest first, each message once.
        """
        from chatservice.models import NewMessage
        from chatservice.store.search_queries import PROBE_ROWS, fts5_query

        store = await self.started()
        user = await store.create_user("alice", b"h", 1)
        busy, quiet = [await store.ensure_room(name, "", 1) for name in ("Busy", "Quiet")]

        def noise(count: int) -> list[NewMessage]:
            return [NewMessage(busy.id, user.id, "alice", f"hello {n}", n) for n in range(count)]

        def said(text: str) -> list[NewMessage]:
            return [NewMessage(quiet.id, user.id, "alice", text, 1)]

        posted = await store.add_messages(
            said("hello a") + noise(PROBE_ROWS) + said("hello b") + noise(PROBE_ROWS - 10)
            + said("hello c") + noise(5)
        )  # fmt: skip
        a, b, c = [p.message.id for p in posted if p.message.room_id == quiet.id]

        def handed_out(txn: Txn, rooms: list[int] | None) -> int:
            row = txn.query_one(
                "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH :match",
                {"match": fts5_query((("hello",),), rooms)},
            )
            assert row is not None
            return int(row[0])

        everything = 3 + 2 * PROBE_ROWS - 5
        for rooms, count in (
            ([quiet.id], 3),
            ([busy.id, quiet.id], everything),
            (None, everything),
        ):
            self.assertEqual(await store.run_read("count", handed_out, rooms), count, rooms)
        for before, limit, expected in ((None, 10, [c, b, a]), (None, 2, [c, b]), (b, 10, [a])):
            found = await store.search_messages("hello", [quiet.id], before, limit)
            self.assertEqual([m.id for m in found], expected, (before, limit))

    async def test_unopenable_file_is_store_unavailable(self) -> None:
        """start() on a path that cannot be opened fails with StoreUnavailable naming it."""
        self.path = os.path.join(self.mktemp(), "missing-dir", "chat.sqlite3")
        error = await failure_of(self, self.build_store().start(), StoreUnavailable)
        self.assertIn(self.path, error.message)

    async def test_foreign_keys_refuse_unknown_sender(self) -> None:
        """A message from an unknown sender fails with NotFound, not a driver error."""
        from chatservice.errors import NotFound
        from chatservice.models import NewMessage

        store = await self.started()
        room = await store.ensure_room("General", "", 1)
        await self.assertFailure(
            store.add_messages([NewMessage(room.id, 999, "ghost", "boo", 1)]), NotFound
        )


class OpenSQLiteURLTests(SynchronousTestCase):
    """open_store reads sqlite:/// URLs as API.md describes, opening nothing."""

    def sqlite_path(self, url: str) -> str:
        store = open_store(url, Clock())
        assert isinstance(store, SQLStore)
        self.assertEqual(store.dialect.name, "sqlite")
        return store.description.removeprefix("sqlite:")

    def test_three_slashes_is_a_relative_path(self) -> None:
        """sqlite:///chat.sqlite3 names chat.sqlite3 in the working directory."""
        self.assertEqual(self.sqlite_path("sqlite:///chat.sqlite3"), "chat.sqlite3")
        self.assertEqual(self.sqlite_path("sqlite:///data/chat.db"), "data/chat.db")

    def test_four_slashes_is_an_absolute_path(self) -> None:
        """sqlite:////var/lib/chat.sqlite3 names /var/lib/chat.sqlite3."""
        self.assertEqual(
            self.sqlite_path("sqlite:////var/lib/chat.sqlite3"), "/var/lib/chat.sqlite3"
        )

    def test_path_is_percent_decoded(self) -> None:
        """Percent-escapes in the path are decoded."""
        self.assertEqual(self.sqlite_path("sqlite:///my%20chat.db"), "my chat.db")

    def test_open_store_creates_no_file(self) -> None:
        """open_store does not touch the database; start() does."""
        path = os.path.abspath(self.mktemp())
        self.sqlite_path("sqlite:///" + path)
        self.assertFalse(os.path.exists(path))

    def test_malformed_sqlite_urls_are_unsupported(self) -> None:
        """A host, an empty path, a query or :memory: is an UnsupportedStoreURL."""
        for url in (
            "sqlite://host/chat.db",
            "sqlite:///",
            "sqlite:",
            "sqlite:///chat.db?mode=ro",
            "sqlite:///:memory:",
        ):
            self.assertRaises(UnsupportedStoreURL, open_store, url, Clock())


class SQLiteSealingContractTests(SQLiteDatabase, HookSealingContractMixin, TestCase):
    """Encryption at rest on SQLite: sealed on write, opened on read, rotated, checked."""

    at_rest = True

    async def sealed_store(self, key_ring: KeyRing | None) -> IChatStore:
        store = SQLStore.sqlite(self.path, reactor, reactor=reactor, sealing=Sealing(key_ring))
        self.addCleanup(store.close)
        await store.start()
        return store

    def raw_rows(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute("SELECT id, content, sealed FROM messages ORDER BY id").fetchall()

    def raw_webhooks(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(
                "SELECT id, secret, sealed_secret FROM webhooks ORDER BY id"
            ).fetchall()


class SQLiteSealedContractTests(
    SQLiteDatabase,
    SQLStoreContractMixin,
    TimelineContractMixin,
    AccessContractMixin,
    AccountContractMixin,
    TestCase,
):
    """Every rule of IChatStore holds on SQLite with ENCRYPTION_KEY set, search included."""

    sealing = Sealing(OLD_RING)
