"""SQLite's search backlog: new messages are indexed in bulk, and never missed or mis-indexed.

``store/search_backlog.py``: a commit indexes the waiting messages only
once they are ``BACKLOG_IDS`` ids behind, a search indexes them first, and
the edit and delete triggers leave a waiting row alone. FTS5's own
integrity check (rank 1: compare with the content table) is the oracle for
"the index matches the messages"; it fails if a trigger ever removed words
the index never held.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from chatservice.models import ErasePage, NewMessage, Posted
from chatservice.store.database import Txn
from chatservice.store.migrations import load_migrations, migrate
from chatservice.store.search_backlog import BACKLOG_IDS, index_backlog
from chatservice.store.sql import SQLStore
from tests.store_contract import insert_early_rows
from tests.test_store_sqlite import SQLiteDatabase


def indexed_upto(txn: Txn) -> int:
    """The backlog's mark: every message up to it is indexed."""
    row = txn.query_one("SELECT indexed_upto FROM search_backlog")
    assert row is not None
    return int(row[0])


def _in_index(txn: Txn, word: str) -> list[int]:
    """The ids FTS5 itself holds for ``word``, without indexing what waits."""
    rows = txn.query(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH :match ORDER BY rowid",
        {"match": f'content : "{word}"'},
    )
    return [int(row[0]) for row in rows]


def index_and_check(txn: Txn) -> None:
    """Index what waits, then let FTS5 compare its index with the messages table."""
    index_backlog(txn)
    txn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")


class SearchBacklogTests(SQLiteDatabase, TestCase):
    """The backlog on a real SQLite file, through ``SQLStore``."""

    async def _store(self) -> tuple[SQLStore, int, int]:
        store = self.build_store()
        await store.start()
        user = await store.create_user("alice", b"h", 1)
        room = await store.ensure_room("General", "", 1)
        return store, user.id, room.id

    async def started(self) -> SQLStore:
        store = self.build_store()
        await store.start()
        return store

    async def _post(self, store: SQLStore, user_id: int, room_id: int, text: str) -> Posted:
        [posted] = await store.add_messages([NewMessage(room_id, user_id, "alice", text, 1)])
        return posted

    async def test_new_messages_wait_until_the_backlog_is_full(self) -> None:
        """Below ``BACKLOG_IDS`` nothing is indexed; the batch that reaches it indexes them all."""
        store, user_id, room_id = await self._store()
        start = await store.run_read("mark", indexed_upto)
        first = await self._post(store, user_id, room_id, "early bird")
        waiting = [first.message.id]
        while waiting[-1] - start < BACKLOG_IDS - 1:
            waiting.append((await self._post(store, user_id, room_id, "filler")).message.id)
        self.assertEqual(await store.run_read("mark", indexed_upto), start)
        self.assertEqual(await store.run_read("fts", _in_index, "early"), [])

        last = await self._post(store, user_id, room_id, "last one")
        self.assertEqual(await store.run_read("mark", indexed_upto), last.message.id)
        self.assertEqual(await store.run_read("fts", _in_index, "early"), [first.message.id])
        self.assertEqual(await store.run_read("fts", _in_index, "filler"), waiting[1:])
        self.assertEqual(await store.run_read("fts", _in_index, "last"), [last.message.id])

    async def test_a_search_indexes_what_waits_before_it_reads(self) -> None:
        """A message posted just now is found, and the search moved the mark to it."""
        store, user_id, room_id = await self._store()
        posted = await self._post(store, user_id, room_id, "fresh words")
        self.assertEqual(await store.run_read("fts", _in_index, "fresh"), [])
        found = await store.search_messages("fresh", None, None, 10)
        self.assertEqual([m.id for m in found], [posted.message.id])
        self.assertEqual(await store.run_read("mark", indexed_upto), posted.message.id)

    async def test_nothing_waiting_means_nothing_to_index(self) -> None:
        """``index_backlog`` with an empty backlog moves nothing, even on an empty database."""
        store, user_id, room_id = await self._store()
        self.assertEqual(await store.run_interaction("index", index_backlog), 0)
        posted = await self._post(store, user_id, room_id, "one")
        self.assertEqual(await store.run_interaction("index", index_backlog), 1)
        self.assertEqual(await store.run_interaction("index", index_backlog), 0)
        self.assertEqual(await store.run_read("mark", indexed_upto), posted.message.id)

    async def test_changes_to_waiting_messages_keep_the_index_whole(self) -> None:
        """Edits, deletes and an erasure of rows still waiting: indexed as they are by then.

        Without the triggers' guard each change would tell FTS5 to remove
        words it never held, which the integrity check finds.
        """
        store, user_id, room_id = await self._store()
        edited, deleted, erased_a, kept = [
            (await self._post(store, user_id, room_id, text)).message.id
            for text in ("old wording", "gone soon", "alpha erased", "kept as is")
        ]
        other = await store.create_user("bob", b"h", 1)
        await store.add_messages([NewMessage(room_id, other.id, "bob", "beta erased", 1)])
        await store.edit_message(edited, user_id, "new wording", 2)
        await store.delete_message(deleted, user_id, 3)
        await store.erase_messages(ErasePage(other.id, other.id, 10, 4))
        self.assertLess(await store.run_read("mark", indexed_upto), edited)

        await store.run_interaction("check", index_and_check)
        for word, ids in (
            ("wording", [edited]),
            ("old", []),
            ("gone", []),
            ("alpha", [erased_a]),
            ("beta", []),
            ("kept", [kept]),
        ):
            self.assertEqual(await store.run_read("fts", _in_index, word), ids, word)

    async def test_changes_to_indexed_messages_still_reach_the_index(self) -> None:
        """Past the mark the triggers act as before: the old words go, the new ones come."""
        store, user_id, room_id = await self._store()
        edited = (await self._post(store, user_id, room_id, "first draft")).message.id
        deleted = (await self._post(store, user_id, room_id, "short lived")).message.id
        await store.run_interaction("index", index_backlog)
        await store.edit_message(edited, user_id, "second draft", 2)
        await store.delete_message(deleted, user_id, 3)
        self.assertEqual(await store.run_read("fts", _in_index, "first"), [])
        self.assertEqual(await store.run_read("fts", _in_index, "second"), [edited])
        self.assertEqual(await store.run_read("fts", _in_index, "short"), [])
        await store.run_interaction("check", index_and_check)

    async def test_the_migration_counts_every_earlier_message_as_indexed(self) -> None:
        """On a version-11 database (indexed as stored), the mark starts at the newest message.

        An edit of such a message must then remove its old words (the guard
        lets the trigger act), or the index would keep them.
        """
        store = self.build_store()
        store.database.open()
        before = [m for m in load_migrations() if m.version < 12]
        await store.run_interaction("migrate", migrate, before, 0)

        def as_version_11(txn: Txn) -> tuple[int, int, int]:
            user_id, room_id, message_id = insert_early_rows(txn, "stored by version eleven")
            # Version 11 indexed each batch in its own transaction.
            txn.execute(
                "INSERT INTO messages_fts (rowid, content, room_id)"
                " SELECT id, content, room_id FROM messages WHERE id = :id",
                {"id": message_id},
            )
            return user_id, room_id, message_id

        user_id, _, message_id = await store.run_interaction("insert", as_version_11)
        await store.close()
        store = await self.started()
        self.assertEqual(await store.run_read("mark", indexed_upto), message_id)
        await store.edit_message(message_id, user_id, "edited by twelve", 2)
        self.assertEqual(await store.run_read("fts", _in_index, "eleven"), [])
        self.assertEqual(await store.run_read("fts", _in_index, "twelve"), [message_id])
        await store.run_interaction("check", index_and_check)

    async def test_rows_indexed_by_another_writer_are_not_indexed_twice(self) -> None:
        """A full 'rebuild' (or a process of the previous version) indexed rows past the mark.

        Indexing them again would corrupt the external-content index, which
        the integrity check finds; the backlog's statement skips them.
        """
        store, user_id, room_id = await self._store()
        waiting = [
            (await self._post(store, user_id, room_id, f"word{n}")).message.id for n in (1, 2)
        ]

        def rebuild(txn: Txn) -> None:
            txn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")

        await store.run_interaction("rebuild", rebuild)
        self.assertLess(await store.run_read("mark", indexed_upto), waiting[0])
        await store.run_interaction("check", index_and_check)
        self.assertEqual(await store.run_read("mark", indexed_upto), waiting[-1])
        self.assertEqual(await store.run_read("fts", _in_index, "word2"), [waiting[1]])
