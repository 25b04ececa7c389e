"""``python -m chatservice.copystore``: SQLite into PostgreSQL, ids and all.

The copying tests need ``CHAT_TEST_POSTGRES`` (each works in a fresh schema,
dropped afterwards, like ``tests.test_store_postgresql``); the refusals of
bad URLs and bad sources run everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
from pathlib import Path
from typing import Any

import bcrypt
from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.blobstore import LocalBlobStore
from chatservice.copystore import CopyCounts, CopyError, copy_store, main
from chatservice.errors import NotFound
from chatservice.file_models import NewUpload
from chatservice.keyring import KeyRing, parse_key_ring
from chatservice.models import Message, NewMessage, NewRoom, Room, TimelineEvent, User
from chatservice.store.db_blobs import DatabaseBlobStore
from chatservice.store.sealing import Sealing
from chatservice.store.sql import SQLStore
from tests.copy_support import CopyCase
from tests.sealing_contract import OLD_RING

ROUNDS = 4


def sqlite_url(path: str) -> str:
    """The ``DATABASE_URL`` of an absolute SQLite path (four slashes)."""
    return "sqlite:///" + str(Path(path).absolute())


def run_main(*argv: str) -> tuple[int, str, str]:
    """Run the command's ``main`` and return its status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


class CommandRefusalTests(SynchronousTestCase):
    """Wrong URLs and wrong sources are one-line errors with a non-zero status."""

    def test_bad_source_url_is_one_line_error(self) -> None:
        """A --from that is not a sqlite:/// URL exits 1 with one line on stderr."""
        status, out, err = run_main("--from", "mysql://x/y", "--to", "postgresql://h/db")
        self.assertEqual(status, 1)
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1)
        self.assertTrue(err.startswith("copystore: error: --from:"), err)

    def test_bad_target_url_is_one_line_error_without_password(self) -> None:
        """A --to that is not postgresql:// exits 1, and its password is not echoed."""
        path = self.mktemp()
        status, _, err = run_main("--from", sqlite_url(path), "--to", "mysql://u:s3cret@h/db")
        self.assertEqual(status, 1)
        self.assertEqual(err.count("\n"), 1)
        self.assertIn("--to must be a postgresql:// URL", err)
        self.assertNotIn("s3cret", err)

    def test_missing_source_file_is_refused_and_not_created(self) -> None:
        """A --from naming no file is an error; the copy never creates it."""
        path = self.mktemp()
        error = self.assertRaises(CopyError, copy_store, sqlite_url(path), "postgresql://h/db")
        self.assertIn("no SQLite file", str(error))
        self.assertFalse(Path(path).exists())

    def test_source_that_is_not_a_chat_database_is_refused(self) -> None:
        """A SQLite file without schema_version is not copied."""
        path = self.mktemp()
        sqlite3.connect(path).close()
        error = self.assertRaises(CopyError, copy_store, sqlite_url(path), "postgresql://h/db")
        self.assertIn("not a chatservice database", str(error))

    def test_source_at_an_older_schema_is_refused(self) -> None:
        """A file at an older schema version must be migrated by the service first."""
        path = self.mktemp()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE schema_version (version INTEGER)")
            conn.commit()
        error = self.assertRaises(CopyError, copy_store, sqlite_url(path), "postgresql://h/db")
        self.assertIn("start chatservice once", str(error))

    def test_batch_size_below_one_is_a_usage_error(self) -> None:
        """--batch-size 0 is refused by the argument parser (status 2)."""
        with contextlib.redirect_stderr(io.StringIO()):
            error = self.assertRaises(
                SystemExit,
                main,
                ["--from", "sqlite:///a", "--to", "postgresql://h/d", "--batch-size", "0"],
            )
        self.assertEqual(error.code, 2)


class CopyStoreTests(CopyCase, TestCase):
    """A SQLite store filled through SQLStore comes out the same on PostgreSQL."""

    def copy(self, batch_size: int = 7) -> CopyCounts:
        """Copy this test's SQLite file into its schema, in small batches."""
        return copy_store(sqlite_url(self.sqlite_path), self.target, batch_size=batch_size)

    async def fill_sqlite(self) -> tuple[list[User], list[bytes], list[Room], list[Message]]:
        """Fill a SQLite store the way the service does; close it before copying.

        Besides 40 messages: a reply, an edit, a delete and three reactions,
        so 46 events, 5 of them rows of ``events`` (a message is its own
        creation event). The messages come back in their current state.
        """
        store = SQLStore.sqlite(self.sqlite_path, reactor, sealing=self.sealing)
        await store.start()
        try:
            users: list[User] = []
            hashes: list[bytes] = []
            for name in ("alice", "Bob", "çelik"):
                hashed = bcrypt.hashpw(f"pw-{name}".encode(), bcrypt.gensalt(ROUNDS))
                users.append(await store.create_user(name, hashed, 1_700_000_000_000 + len(users)))
                hashes.append(hashed)
            rooms = [await store.ensure_room("General", "Everyone", 1_600_000_000_000)]
            rooms.append(
                await store.create_room(
                    NewRoom("Dev", "code talk", users[0].id, 1_700_000_000_123)
                )
            )
            rooms.append(
                await store.create_room(NewRoom("Empty", "", users[1].id, 1_700_000_000_456))
            )
            batch: list[NewMessage] = []
            for i in range(40):
                sender = users[i % 3]
                room = rooms[i % 2]
                client_msg_id = f"c-{i}" if i % 3 == 0 else None
                batch.append(
                    NewMessage(
                        room.id,
                        sender.id,
                        sender.username,
                        f"message {i} ✓",
                        1_700_000_100_000 + i,
                        client_msg_id,
                    )
                )
            posted = [p.message for p in await store.add_messages(batch)]
            first, second, third = posted[0], posted[1], posted[2]
            await store.add_messages(
                [NewMessage(first.room_id, users[1].id, "Bob", "re ✓", 1, "r", first.id)]
            )
            await store.edit_message(
                first.id, first.sender_id, "edited ✓", 1_700_000_200_000, [users[2].id]
            )
            await store.set_read_marker(users[2].id, first.room_id, first.id)
            await store.delete_message(second.id, second.sender_id, 1_700_000_200_001)
            for user, emoji in ((users[0], "👍"), (users[1], "👍"), (users[2], ":tada:")):
                await store.set_reaction(third.id, user.id, emoji, True, 1_700_000_200_002)
            messages = []
            for room in rooms:
                messages += await self.history(store, room.id)
        finally:
            await store.close()
        return users, hashes, rooms, sorted(messages, key=lambda m: m.id)

    async def open_target(self) -> SQLStore:
        store = self.build_store()
        await store.start()
        return store

    async def events(self, store: SQLStore, room_id: int) -> list[TimelineEvent]:
        """Every event of a room, paging forward with ``after=``."""
        events: list[TimelineEvent] = []
        after = 0
        while page_of := await store.get_events(room_id, after, 5):
            events.extend(page_of)
            after = page_of[-1].id
        return events

    async def history(self, store: SQLStore, room_id: int, page: int = 6) -> list[Message]:
        """Every message of a room, paging forward with ``after=``."""
        messages: list[Message] = []
        after = 0
        while page_of := await store.get_messages(room_id, page, after=after):
            messages.extend(page_of)
            after = page_of[-1].id
        return messages

    def snapshot(self) -> list[list[tuple[Any, ...]]]:
        """Every row of the target's chat tables, to show that a refusal changed nothing."""
        return [
            self.admin(f"SELECT * FROM {table} ORDER BY 1")
            for table in ("users", "rooms", "messages", "events", "reactions", "schema_version")
        ]

    async def test_copy_keeps_users_rooms_and_messages_with_their_ids(self) -> None:
        """Users (hashes too), rooms, messages, events and reactions arrive the same, ids too."""
        users, hashes, rooms, messages = await self.fill_sqlite()
        source = SQLStore.sqlite(self.sqlite_path, reactor, sealing=self.sealing)
        await source.start()
        events = [await self.events(source, room.id) for room in rooms]
        await source.close()
        keys = 0 if self.sealing.ring is None else 1
        self.assertEqual(
            self.copy(),
            CopyCounts(3, 3, 41, 5, 3, mentions=1, read_markers=1, sealing_keys=keys, members=2),
        )
        store = await self.open_target()
        for user, hashed in zip(users, hashes, strict=True):
            self.assertEqual(await store.get_user(user.id), user)
            credentials = await store.get_credentials(user.username.upper())
            self.assertEqual(credentials.user, user)
            self.assertEqual(credentials.password_hash, hashed)
            self.assertTrue(
                bcrypt.checkpw(f"pw-{user.username}".encode(), credentials.password_hash)
            )
        self.assertEqual(list(await store.list_rooms()), rooms)
        for room, room_events in zip(rooms, events, strict=True):
            expected = [m for m in messages if m.room_id == room.id]
            self.assertEqual(await self.history(store, room.id), expected)
            self.assertEqual(await self.events(store, room.id), room_events)
        self.assertIn("c-0", {m.client_msg_id for m in messages})
        self.assertEqual(
            [(m.edited_at, m.deleted, m.content) for m in messages[:2]],
            [(1_700_000_200_000, False, "edited ✓"), (None, True, "")],
        )
        self.assertEqual(len(messages[2].reactions), 2)
        # Mentions and read markers arrive too: the counts are the same.
        self.assertEqual(messages[0].mentions, (users[2].id,))
        reader, room_ids = users[2].id, [room.id for room in rooms]
        counts = await store.room_counts(reader, room_ids)
        source = SQLStore.sqlite(self.sqlite_path, reactor, sealing=self.sealing)
        await source.start()
        self.assertEqual(counts, await source.room_counts(reader, room_ids))
        await source.close()
        self.assertEqual(counts[messages[0].room_id].last_read_id, messages[0].id)
        replies = [m for m in messages if m.reply_to is not None]
        self.assertEqual([m.reply_preview.excerpt for m in replies], ["edited ✓"])  # type: ignore[union-attr]
        self.assertEqual(len([e for room_events in events for e in room_events]), 46)

    async def test_accounts_keep_their_generations_sessions_and_flags(self) -> None:
        """Revoked sessions, generations, admins, disabled and deleted accounts are kept."""
        users, _, _, _ = await self.fill_sqlite()
        source = SQLStore.sqlite(self.sqlite_path, reactor, sealing=self.sealing)
        await source.start()
        alice, bob, celik = (user.id for user in users)
        await source.revoke_session(alice, "s-1", 4_000_000_000, 1_700_000_000)
        await source.revoke_all_sessions(bob)
        await source.revoke_session(bob, "s-2", 4_000_000_000, 1_700_000_000)
        await source.set_admin("alice", True)
        await source.set_disabled(bob, 1_700_000_300_000)
        await source.delete_account(celik, 1_700_000_400_000)
        before = await source.get_accounts([alice, bob, celik], 1_700_000_000)
        await source.close()
        self.assertEqual(self.copy().revoked_sessions, 2)
        store = await self.open_target()
        self.assertEqual(await store.get_accounts([alice, bob, celik], 1_700_000_000), before)
        await self.assertFailure(store.revoke_session(celik, "s-3", 1, 0), NotFound)

    async def test_new_rows_get_ids_after_the_copied_ones(self) -> None:
        """The id sequences continue after the copied events; client_msg_id still de-duplicates."""
        users, _, rooms, messages = await self.fill_sqlite()
        self.copy()
        store = await self.open_target()
        user = await store.create_user("dave", b"hash", 1)
        self.assertGreater(user.id, max(u.id for u in users))
        room = await store.create_room(NewRoom("New", "", user.id, 1))
        self.assertGreater(room.id, max(r.id for r in rooms))
        [fresh] = await store.add_messages([NewMessage(rooms[0].id, user.id, "dave", "hi", 2)])
        self.assertTrue(fresh.created)
        events = [e for room in rooms for e in await self.events(store, room.id)]
        *copied, newest = sorted(events, key=lambda event: event.id)
        self.assertEqual(newest.message, fresh.message)
        self.assertGreater(fresh.message.id, max(event.id for event in copied))
        change = await store.set_reaction(fresh.message.id, user.id, "👍", True, 3)
        self.assertGreater(change.event.id, fresh.message.id)
        original = messages[0]
        [again] = await store.add_messages(
            [
                NewMessage(
                    original.room_id,
                    original.sender_id,
                    original.username,
                    "dup",
                    3,
                    original.client_msg_id,
                )
            ]
        )
        self.assertEqual(again.message, original)
        self.assertFalse(again.created)

    async def test_ids_never_reuse_those_sqlite_handed_out(self) -> None:
        """A deleted newest message's id is not handed out again after the move."""
        _, _, _, messages = await self.fill_sqlite()
        deleted = messages[-1]
        with contextlib.closing(sqlite3.connect(self.sqlite_path)) as conn:
            # The newest event of all: the last reaction (of the third message).
            newest = conn.execute("SELECT MAX(id) FROM events").fetchone()[0]
            conn.execute("DELETE FROM reactions WHERE event_id = ?", (newest,))
            conn.execute("DELETE FROM events WHERE id = ?", (newest,))
            conn.execute("DELETE FROM events WHERE message_id = ?", (deleted.id,))
            conn.execute("DELETE FROM messages WHERE id = ?", (deleted.id,))
            conn.commit()
        counts = self.copy()
        self.assertEqual((counts.messages, counts.reactions), (len(messages) - 1, 2))
        store = await self.open_target()
        [fresh] = await store.add_messages(
            [NewMessage(deleted.room_id, deleted.sender_id, deleted.username, "x", 1)]
        )
        self.assertGreater(fresh.message.id, newest)

    async def test_non_empty_target_is_refused_and_unchanged(self) -> None:
        """A second copy into the same database fails and changes nothing."""
        await self.fill_sqlite()
        self.copy()
        before = self.snapshot()
        error = self.assertRaises(CopyError, self.copy)
        self.assertIn("already holds chat data (3 users, 3 rooms, 41 messages)", str(error))
        self.assertEqual(self.snapshot(), before)

    async def test_target_with_only_a_user_is_refused(self) -> None:
        """Any user in the target makes it non-empty."""
        await self.fill_sqlite()
        store = await self.open_target()
        await store.create_user("zed", b"h", 1)
        before = self.snapshot()
        self.assertRaises(CopyError, self.copy)
        self.assertEqual(self.snapshot(), before)

    async def test_auto_created_general_room_is_replaced(self) -> None:
        """A target holding only the General room a service start creates is taken over."""
        _, _, rooms, _ = await self.fill_sqlite()
        store = await self.open_target()
        await store.ensure_room("General", "made by a first start", 5)
        await store.close()
        self.assertEqual(self.copy().rooms, 3)
        store = await self.open_target()
        self.assertEqual(list(await store.list_rooms()), rooms)

    async def test_failed_copy_leaves_the_target_untouched(self) -> None:
        """A row PostgreSQL refuses rolls everything back, the migration included."""
        _, _, rooms, _ = await self.fill_sqlite()
        with contextlib.closing(sqlite3.connect(self.sqlite_path)) as conn:
            # SQLite checks foreign keys only when asked to; PostgreSQL always does.
            conn.execute(
                "INSERT INTO messages (room_id, sender_id, username, content, ts)"
                " VALUES (?, 999, 'ghost', 'boo', 1)",
                (rooms[0].id,),
            )
            conn.commit()
        error = self.assertRaises(CopyError, self.copy)
        self.assertIn("foreign key", str(error))
        tables = self.admin(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [self.schema],
        )
        self.assertEqual(tables, [])

    async def test_main_prints_counts_and_exits_zero(self) -> None:
        """The command prints what it copied, with the target's password redacted."""
        await self.fill_sqlite()
        status, out, err = run_main("--from", sqlite_url(self.sqlite_path), "--to", self.target)
        self.assertEqual((status, err), (0, ""))
        self.assertIn("copied 3 users, 3 rooms, 41 messages, 5 events, 3 reactions", out)

    async def test_unreachable_target_is_one_line_error(self) -> None:
        """A PostgreSQL that cannot be reached is one line on stderr and status 1."""
        await self.fill_sqlite()
        status, _, err = run_main(
            "--from",
            sqlite_url(self.sqlite_path),
            "--to",
            "postgresql://u:s3cret@127.0.0.1:1/db?connect_timeout=2",
        )
        self.assertEqual(status, 1)
        self.assertEqual(err.count("\n"), 1)
        self.assertIn("copystore: error: PostgreSQL at", err)
        self.assertNotIn("s3cret", err)


class CopyFilesTests(CopyCase, TestCase):
    """Uploads, attachments and the files directory move into the database."""

    def copy(self) -> CopyCounts:
        """Copy this test's SQLite file (and its files) into its schema."""
        return copy_store(sqlite_url(self.sqlite_path), self.target, batch_size=7)

    async def open_target(self) -> SQLStore:
        store = self.build_store()
        await store.start()
        return store

    async def put_files(self, ring: KeyRing | None) -> tuple[bytes, int]:
        """Alice uploads a file into SQLite's directory and posts it; its bytes and id."""
        store = SQLStore.sqlite(self.sqlite_path, reactor)
        await store.start()
        try:
            alice = await store.create_user("alice", b"h", 1)
            room = await store.ensure_room("General", "", 1)
            data = b"FILE-BODY-" * 70_000  # 700 kB: three chunks in the database
            sha = hashlib.sha256(data).hexdigest()
            source = self.mktemp()
            with open(source, "wb") as out:
                out.write(data)
            local = LocalBlobStore(self.sqlite_path + "-files", deferToThread, ring)
            await local.put(sha, len(data), source)
            upload = await store.add_upload(
                NewUpload(alice.id, "f.bin", len(data), sha, "application/octet-stream", 5), 2**30
            )
            await store.add_messages(
                [NewMessage(room.id, alice.id, "alice", "", 6, attachments=(upload.attachment(),))]
            )
        finally:
            await store.close()
        return data, upload.id

    async def check_target(self, data: bytes, upload_id: int, ring: KeyRing | None) -> None:
        target = await self.open_target()
        upload = await target.get_upload(upload_id)
        blobs = DatabaseBlobStore(target.database, ring)
        self.assertEqual(await blobs.read(upload.sha256, upload.size, 0, upload.size), data)
        (message,) = await target.get_messages(1, 10)
        self.assertEqual([a.id for a in message.attachments], [upload_id])
        follow = await target.add_upload(
            NewUpload(upload.owner_id, "g", 1, "e" * 64, "text/plain; charset=utf-8", 7), 2**30
        )
        self.assertEqual(follow.id, upload_id + 1)  # the sequence moved on

    async def test_files_become_chunk_rows_of_the_target(self) -> None:
        """A plain directory's files are chunk rows after the copy, readable byte for byte."""
        data, upload_id = await self.put_files(None)
        counts = self.copy()
        self.assertEqual((counts.uploads, counts.blobs, counts.file_bytes), (1, 1, len(data)))
        await self.check_target(data, upload_id, None)

    async def test_sealed_files_stay_sealed_and_a_missing_key_refuses(self) -> None:
        """Sealed files need the key to be copied; with it they are sealed rows again."""
        ring = parse_key_ring("k1:" + "C" * 43)
        data, upload_id = await self.put_files(ring)
        with self.assertRaises(CopyError):
            self.copy()
        # Rolled back whole, its migrations too: the target is as it was.
        self.assertIsNone(self.admin("SELECT to_regclass('file_chunks')")[0][0])
        copy_store(sqlite_url(self.sqlite_path), self.target, ring=ring)
        rows = self.admin("SELECT data FROM file_chunks")
        self.assertNotIn(b"FILE-BODY-", b"".join(bytes(row[0]) for row in rows))
        await self.check_target(data, upload_id, ring)


class SealedCopyStoreTests(CopyStoreTests):
    """With ENCRYPTION_KEY, sealed text is copied as it is and opens on PostgreSQL."""

    sealing = Sealing(OLD_RING)

    async def test_sealed_text_arrives_sealed_and_searchable(self) -> None:
        """No text reaches PostgreSQL in clear; the same key opens and finds it there."""
        _, _, rooms, messages = await self.fill_sqlite()
        self.assertEqual(self.copy().sealing_keys, 1)
        raw = repr(self.admin("SELECT content, sealed FROM messages"))
        for word in ("message", "edited", "re "):
            self.assertNotIn(word, raw)
        store = await self.open_target()
        try:
            found = await store.search_messages("EDITED", [rooms[0].id], None, 10)
            self.assertEqual([m.content for m in found], ["edited ✓"])
            self.assertEqual(
                await self.history(store, rooms[1].id),
                [m for m in messages if m.room_id == rooms[1].id],
            )
        finally:
            await store.close()
