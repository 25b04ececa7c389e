"""``copystore`` keeps every table: a database with one of everything arrives whole.

Besides users, rooms and messages (``tests.test_copystore``): a private
room with a member, its membership event and an audit entry, a mention, a
reaction, a read marker and a revoked session, an upload with its
attachment and file, a webhook in the middle of failing (secret, cursor,
retry state) with a dead letter marked for retry and a lease held by a
process of the old deployment, a bot with its key hash, and a push
subscription; text sealed with ENCRYPTION_KEY, its key's sentinel and
an unfinished rotation's progress. Every copied column of every table
in ``copytables.TABLES`` is compared row by row, and the target's store
serves them: the bot's key still logs it in, the webhook resumes at once.
Needs ``CHAT_TEST_POSTGRES``.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from chatservice.access_models import MemberUpdate, NewAuditEntry
from chatservice.blobstore import LocalBlobStore
from chatservice.copystore import copy_store
from chatservice.copytables import TABLES, Table
from chatservice.file_models import NewUpload
from chatservice.hook_models import NewWebhook
from chatservice.models import NewMessage, NewRoom
from chatservice.push_models import NewPushSubscription
from chatservice.store.sealing import Sealing
from chatservice.store.sql import SQLStore
from tests.copy_support import CopyCase
from tests.sealing_contract import OLD_RING

KEY_HASH = hashlib.sha256(b"bot-api-key").hexdigest()
LEASE_UNTIL = 9_000_000_000_000  # far in the future: the old owner's lease


def rows_of(conn: Any, table: Table, placeholder_bools: bool) -> list[tuple[Any, ...]]:
    """Every row of a table in its copy order, its copied columns only, bools as 0/1."""
    names = ", ".join(table.columns)
    cursor = conn.execute(f"SELECT {names} FROM {table.name} ORDER BY {table.order_by}")
    rows = [tuple(row) for row in cursor.fetchall()]
    if placeholder_bools:
        rows = [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in rows]
    return rows


class CopyEverythingTests(CopyCase, TestCase):
    """One of every kind of row, copied SQLite → PostgreSQL, compared table by table."""

    sealing = Sealing(OLD_RING)

    async def fill(self) -> dict[str, Any]:
        """Write one of everything through the SQLite store; the ids to check."""
        store = SQLStore.sqlite(self.sqlite_path, reactor, sealing=self.sealing)
        await store.start()
        try:
            alice = await store.create_user("alice", b"hash-a", 1)
            bob = await store.create_user("robot", b"!", 2)
            carol = await store.create_user("carol", b"hash-c", 3)
            general = await store.ensure_room("General", "", 4)
            secret = await store.create_room(NewRoom("Secret", "", alice.id, 5, "private"))
            await store.change_member(
                secret.id, carol.id, MemberUpdate("joined", alice.id, 6, "joined", "moderator")
            )
            await store.add_audit(NewAuditEntry(alice.id, "room.update", 7, carol.id, secret.id))
            data = b"BODY" * 1000
            sha = hashlib.sha256(data).hexdigest()
            source = self.mktemp()
            Path(source).write_bytes(data)
            await LocalBlobStore(self.sqlite_path + "-files", deferToThread, None).put(
                sha, len(data), source
            )
            upload = await store.add_upload(
                NewUpload(alice.id, "f.bin", len(data), sha, "application/octet-stream", 8), 2**30
            )
            hook = await store.create_webhook(
                NewWebhook(general.id, "https://hooks.example/in", "whsec-1", alice.id, 9)
            )
            (posted,) = await store.add_messages(
                [
                    NewMessage(
                        general.id,
                        alice.id,
                        "alice",
                        "hi @carol",
                        10,
                        mentions=(carol.id,),
                        attachments=(upload.attachment(),),
                    )
                ]
            )
            message = posted.message
            await store.set_read_marker(carol.id, general.id, message.id)
            await store.set_reaction(message.id, carol.id, "👍", True, 13)
            await store.revoke_session(carol.id, "s-1", 4_000_000_000, 14)
            await store.add_bot(bob.id, alice.id, general.id, KEY_HASH, 11)
            await store.add_push_subscription(
                NewPushSubscription(carol.id, "https://push.example/1", "p256", "auth", 12), 10
            )
        finally:
            await store.close()
        # A webhook in the middle of failing, leased by a process of the old
        # deployment, with a dead letter marked for retry (written the way
        # record_outcome and retry_dead_letter leave them).
        with contextlib.closing(sqlite3.connect(self.sqlite_path)) as conn:
            conn.execute(
                "UPDATE webhooks SET attempts = 3, first_failed_at = 20, next_attempt_at = 30,"
                " last_error = 'HTTP 503', lease_owner = 'old-host', lease_until = ?",
                [LEASE_UNTIL],
            )
            conn.execute(
                "INSERT INTO webhook_dead_letters"
                " (webhook_id, event_id, attempts, last_error, failed_at, retry)"
                " VALUES (?, ?, 7, 'timeout', 25, 1)",
                [hook.id, message.id],
            )
            # A rotation to k1 that got as far as the message (rotate.py resumes it).
            conn.execute(
                "INSERT INTO sealing_progress (key_id, after_id) VALUES ('k1', ?)", [message.id]
            )
            conn.commit()
        return {"hook": hook.id, "bot": bob.id, "carol": carol.id, "secret": secret.id}

    async def test_every_table_arrives_row_for_row(self) -> None:
        """Each copied column of each table holds the same rows on both sides."""
        await self.fill()
        counts = copy_store("sqlite:///" + self.sqlite_path, self.target, batch_size=3)
        self.assertEqual(
            (counts.webhooks, counts.webhook_dead_letters, counts.bots, counts.push_subscriptions),
            (1, 1, 1, 1),
        )
        with contextlib.closing(sqlite3.connect(self.sqlite_path)) as source:
            for table in TABLES:
                expected = rows_of(source, table, False)
                names = ", ".join(table.columns)
                got = self.admin(f"SELECT {names} FROM {table.name} ORDER BY {table.order_by}")
                got = [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in got]
                self.assertEqual(got, expected, table.name)
                self.assertTrue(expected, f"the fixture has no row of {table.name}")
        # The old deployment's lease is not carried over.
        self.assertEqual(self.admin("SELECT lease_owner, lease_until FROM webhooks"), [(None, 0)])

    async def test_the_target_serves_what_was_copied(self) -> None:
        """The bot's key logs it in, the webhook resumes with its secret, cursor and retry."""
        ids = await self.fill()
        source = SQLStore.sqlite(self.sqlite_path, reactor, sealing=self.sealing)
        await source.start()
        try:
            hook = await source.get_webhook(ids["hook"])
            dead = await source.list_dead_letters(ids["hook"], None, 10)
            bot = await source.get_bot(ids["bot"])
            pushes = await source.push_subscriptions([ids["carol"]])
            members = await source.list_members(ids["secret"])
        finally:
            await source.close()
        copy_store("sqlite:///" + self.sqlite_path, self.target)
        target = self.build_store()
        await target.start()
        self.assertEqual(await target.get_webhook(ids["hook"]), hook)
        self.assertEqual(hook.secret, "whsec-1")
        self.assertEqual(await target.list_dead_letters(ids["hook"], None, 10), dead)
        self.assertEqual(await target.bot_by_key(KEY_HASH), bot)
        self.assertEqual(await target.push_subscriptions([ids["carol"]]), pushes)
        self.assertEqual(await target.list_members(ids["secret"]), members)
        room = await target.get_room(ids["secret"])
        self.assertEqual(room.visibility, "private")
        # The lease held in the old deployment does not stall the new one.
        claimed = await target.claim_webhooks("new-host", 1_000, 2_000, 10)
        self.assertEqual([w.id for w in claimed], [ids["hook"]])
        retry = await target.next_retry(ids["hook"])
        assert retry is not None
        self.assertEqual(retry.id, dead[0].id)
