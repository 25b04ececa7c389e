"""SQLite's search backlog when the store cannot write, with several processes, and sealed.

A search on SQLite is a read, as it was before the backlog, unless
messages wait to be indexed: only then does it take the writers' lock to
index them first. While the store cannot write (a full disk, a read-only
file) a search still answers, from the index as it is (without the few
messages still waiting), and it never ends the write episode that
``/health`` reports: a transaction that wrote nothing is not a write.

The last classes check several processes on one file and an encrypted
store with edits and a key rotation of waiting rows: FTS5's integrity
check against the messages table passes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from chatservice.errors import ChatError, StoreFull, StoreReadOnly
from chatservice.health import Health
from chatservice.models import Message, NewMessage, Room, User
from chatservice.store import IWriteState
from chatservice.store.database import Txn
from chatservice.store.sealing import Sealing
from chatservice.store.search_backlog import BACKLOG_IDS, index_backlog
from chatservice.store.sql import SQLStore
from tests.sealing_contract import NEW_RING, OLD_RING
from tests.store_contract import MixinBase, failure_of
from tests.test_search_backlog import index_and_check, indexed_upto


def _pragma(statement: str) -> Callable[[Txn], None]:
    def run(txn: Txn) -> None:
        txn.execute(statement)

    return run


# Too big for the pages left on a full disk: the row needs overflow pages,
# and indexing the waiting one writes a segment of 800 distinct words.
_REFUSED = "refused " + "y" * 5000
_WAITING = "findable " + " ".join(f"w{i}" for i in range(800))


class _EpisodeSearchMixin(MixinBase):
    """A search while the store refuses writes: it answers and leaves the episode alone."""

    store: SQLStore
    user: User
    room: Room
    error_type: type[ChatError] = ChatError

    def build_store(self) -> SQLStore:
        path = self.mktemp()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        store = SQLStore.sqlite(path, reactor, reactor=reactor, retry_delays=(0.01,))
        self.addCleanup(store.close)
        return store

    async def refuse_writes(self) -> None:
        raise NotImplementedError

    async def set_up_store(self) -> None:
        self.store = self.build_store()
        await self.store.start()
        self.user = await self.store.create_user("alice", b"h", 1)
        self.room = await self.store.ensure_room("General", "", 1)

    async def post(self, content: str) -> Message:
        [posted] = await self.store.add_messages(
            [NewMessage(self.room.id, self.user.id, "alice", content, 1)]
        )
        return posted.message

    async def search_ids(self, word: str) -> list[int]:
        return [m.id for m in await self.store.search_messages(word, None, None, 10)]

    async def test_search_with_messages_waiting_answers_from_the_index(self) -> None:
        """A message waits, and the store cannot index it: the search answers what is indexed."""
        await self.set_up_store()
        indexed = await self.post("findable words")
        await self.store.run_interaction("index", index_backlog)
        await self.post(_WAITING)
        await self.refuse_writes()
        await failure_of(self, Deferred.fromCoroutine(self.post(_REFUSED)), self.error_type)
        self.assertEqual(await self.search_ids("findable"), [indexed.id])
        self.assertIsInstance(IWriteState(self.store).write_fault(), self.error_type)

    async def test_search_with_nothing_waiting_answers_and_keeps_the_episode(self) -> None:
        """Nothing waits: the search stays a read, and the episode goes on.

        An empty write transaction would commit, and ``WriteEpisode``
        would end the episode (``/health`` 200, "can write again") while
        every post still fails; on a ``query_only`` store its ``BEGIN
        IMMEDIATE`` would be refused.
        """
        await self.set_up_store()
        posted = await self.post("findable words")
        await self.store.run_interaction("index", index_backlog)
        await self.refuse_writes()
        await failure_of(self, Deferred.fromCoroutine(self.post(_REFUSED)), self.error_type)
        self.assertEqual(await self.search_ids("findable"), [posted.id])
        self.assertIsInstance(IWriteState(self.store).write_fault(), self.error_type)
        self.assertEqual((await Health(self.store).check()).http_status, 503)


class SearchDuringFullDiskTests(_EpisodeSearchMixin, TestCase):
    """SQLITE_FULL (``PRAGMA max_page_count``), filled with rows of a table of the test's own.

    Not with message rows, as ``test_store_errors`` does: those would wait
    in the backlog themselves.
    """

    error_type = StoreFull

    async def refuse_writes(self) -> None:
        conn = sqlite3.connect(self.store.description.removeprefix("sqlite:"))
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            with conn:
                conn.execute("CREATE TABLE review_padding (x TEXT)")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
            for size in (2000, 200, 20, 1):
                while True:
                    try:
                        with conn:
                            conn.execute("INSERT INTO review_padding VALUES (?)", ("x" * size,))
                    except sqlite3.OperationalError:
                        break
        finally:
            conn.close()
        await self.store.run_read("cap", _pragma(f"PRAGMA max_page_count = {pages}"))


class SearchOnReadOnlyStoreTests(_EpisodeSearchMixin, TestCase):
    """SQLITE_READONLY (``PRAGMA query_only``, test_store_errors' read-only stand-in).

    ``query_only`` refuses even ``BEGIN IMMEDIATE``; a file opened
    read-only (``mode=ro``, or no write permission) lets it and an empty
    commit through, as a full disk does.
    """

    error_type = StoreReadOnly

    async def refuse_writes(self) -> None:
        await self.store.run_read("ro", _pragma("PRAGMA query_only = 1"))


class _Files(MixinBase):
    def setUp(self) -> None:
        self.path = self.mktemp()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def open_store(self, sealing: Sealing | None = None) -> SQLStore:
        kwargs = {} if sealing is None else {"sealing": sealing}
        store = SQLStore.sqlite(self.path, reactor, reactor=reactor, **kwargs)  # type: ignore[arg-type]
        self.addCleanup(store.close)
        return store


class TwoProcessesOneFileTests(_Files, TestCase):
    """Two stores (as two worker processes would) on one file: one mark, one index."""

    async def test_posts_edits_and_searches_from_both_keep_the_index_whole(self) -> None:
        first = self.open_store()
        await first.start()
        second = self.open_store()
        await second.start()
        user = await first.create_user("alice", b"h", 1)
        room = await first.ensure_room("General", "", 1)
        ids: list[int] = []
        for n in range(BACKLOG_IDS * 3):
            store = first if n % 2 else second
            [posted] = await store.add_messages(
                [NewMessage(room.id, user.id, "alice", f"word{n} common", 1)]
            )
            ids.append(posted.message.id)
            if n % 7 == 0:
                other = second if n % 2 else first
                await other.edit_message(posted.message.id, user.id, f"edited{n} common", 2)
            if n % 11 == 0:
                await first.delete_message(ids[n // 2], user.id, 3)
            if n % 13 == 0:
                await second.search_messages("common", None, None, 5)
        await first.run_interaction("check", index_and_check)
        found = await second.search_messages("edited7", None, None, 5)
        self.assertEqual([m.id for m in found], [ids[7]])


class EncryptedBacklogTests(_Files, TestCase):
    """ENCRYPTION_KEY: rows hold tokens; edits, deletes and a rotation of waiting rows."""

    async def test_rotation_and_changes_of_waiting_rows_keep_the_index_whole(self) -> None:
        store = self.open_store(Sealing(OLD_RING))
        await store.start()
        user = await store.create_user("alice", b"h", 1)
        room = await store.ensure_room("General", "", 1)
        ids = []
        for text in ("zebrafish one", "quokka two", "marmalade three", "pomegranate four"):
            [posted] = await store.add_messages([NewMessage(room.id, user.id, "alice", text, 1)])
            ids.append(posted.message.id)
        await store.run_interaction("index", index_backlog)
        indexed = await store.run_read("mark", indexed_upto)
        [waiting] = await store.add_messages(
            [NewMessage(room.id, user.id, "alice", "xylophone five", 1)]
        )
        await store.edit_message(ids[0], user.id, "zebrafish edited", 2)
        await store.edit_message(waiting.message.id, user.id, "xylophone edited", 2)
        await store.delete_message(ids[1], user.id, 3)
        self.assertLess(indexed, waiting.message.id)
        await store.close()

        rotated = self.open_store(Sealing(NEW_RING))
        await rotated.start()
        while not (await rotated.reseal_batch(2)).done:
            pass
        await rotated.run_interaction("check", index_and_check)
        for word, expected in (
            ("zebrafish", [ids[0]]),
            ("one", []),
            ("quokka", []),
            ("xylophone", [waiting.message.id]),
            ("five", []),
            ("pomegranate", [ids[3]]),
        ):
            found: Sequence[Message] = await rotated.search_messages(word, None, None, 10)
            self.assertEqual([m.id for m in found], expected, word)
