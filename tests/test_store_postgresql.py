"""The store contract and SQLStore's own rules on PostgreSQL.

Runs only when ``CHAT_TEST_POSTGRES`` holds a DSN (for example
``postgresql://postgres@127.0.0.1:5432/test``). Each test works in a schema
of its own, created before and dropped after it, so tests never see each
other's rows and the database is left as it was found.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import reactor
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.keyring import KeyRing
from chatservice.models import NewMessage
from chatservice.store import IChatStore, UnsupportedStoreURL, open_store
from chatservice.store.database import Txn
from chatservice.store.dialects import WRITER_LOCK_KEY
from chatservice.store.sealing import PLAINTEXT, Sealing
from chatservice.store.sql import SQLStore
from tests.access_contract import AccessContractMixin
from tests.account_contract import AccountContractMixin
from tests.hook_contract import HookContractMixin
from tests.hook_sealing_contract import HookSealingContractMixin
from tests.read_contract import ReadContractMixin
from tests.sealing_contract import OLD_RING
from tests.store_contract import MixinBase, SQLStoreContractMixin, SQLStoreMixin
from tests.timeline_contract import SQLTimelineMixin, TimelineContractMixin
from tests.upload_contract import UploadContractMixin

DSN = os.environ.get("CHAT_TEST_POSTGRES", "")

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is a dev dependency
    psycopg = None  # type: ignore[assignment]

if not DSN:
    SKIP: str | None = (
        "set CHAT_TEST_POSTGRES to a PostgreSQL DSN "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test) to run these tests"
    )
elif psycopg is None:
    SKIP = "psycopg is not installed: pip install 'chatservice[postgresql]'"
else:
    SKIP = None


class PostgreSQLDatabase(MixinBase):
    """Each test gets a fresh schema, reached through ``search_path``."""

    sealing = PLAINTEXT
    """How the stores of ``build_store`` seal message text."""

    def setUp(self) -> None:
        self.schema = f"chat_test_{uuid.uuid4().hex}"
        self.admin(f'CREATE SCHEMA "{self.schema}"')
        self.addCleanup(self.admin, f'DROP SCHEMA "{self.schema}" CASCADE')

    def admin(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on a separate, autocommitting connection."""
        with psycopg.connect(DSN, autocommit=True, options=self.search_path) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    @property
    def search_path(self) -> str:
        return f"-c search_path={self.schema}"

    def build_store(
        self,
        clock: IReactorTime | None = None,
        retry_delays: Sequence[float] = (0.01, 0.02),
        pool_size: int = 5,
    ) -> SQLStore:
        store = SQLStore.postgresql(
            DSN,
            clock if clock is not None else reactor,
            reactor=reactor,
            retry_delays=retry_delays,
            pool_size=pool_size,
            sealing=self.sealing,
            options=self.search_path,
        )
        self.addCleanup(store.close)
        return store


class PostgreSQLContractTests(
    PostgreSQLDatabase,
    SQLStoreContractMixin,
    TimelineContractMixin,
    AccessContractMixin,
    AccountContractMixin,
    UploadContractMixin,
    ReadContractMixin,
    HookContractMixin,
    TestCase,
):
    """SQLStore on PostgreSQL keeps every rule of IChatStore, across restarts too."""

    skip = SKIP


class PostgreSQLStoreTests(PostgreSQLDatabase, SQLStoreMixin, SQLTimelineMixin, TestCase):
    """Migrations, retries, errors, closing and PostgreSQL's own traps."""

    skip = SKIP

    def execute_raw(self, sql: str) -> None:
        self.admin(sql)

    def transient_error(self) -> Exception:
        return psycopg.errors.SerializationFailure("could not serialize access")

    async def test_killed_connection_is_replaced(self) -> None:
        """A pooled connection killed by the server is replaced and the call retried."""
        store = await self.started(pool_size=1)
        user = await store.create_user("alice", b"h", 1)

        def backend_pid(txn: Txn) -> int:
            row = txn.query_one("SELECT pg_backend_pid()")
            assert row is not None
            return int(row[0])

        first = await store.run_read("pid", backend_pid)
        self.admin("SELECT pg_terminate_backend(%s)", [first])
        self.assertEqual(await store.get_user(user.id), user)
        self.assertNotEqual(await store.run_read("pid", backend_pid), first)

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Turn the reactor until ``predicate()`` holds (at most 10,000 turns).

        For a condition of another process: PostgreSQL says nothing when a
        session starts waiting for a lock, so ``pg_locks`` is polled.
        """
        for _ in range(10_000):
            if predicate():
                return
            await deferLater(reactor, 0)
        self.fail("condition never became true")

    async def test_message_writers_are_serialized(self) -> None:
        """add_messages waits for another writer's lock, so ids commit in order."""
        store = await self.started()
        user = await store.create_user("alice", b"h", 1)
        room = await store.ensure_room("General", "", 1)
        with psycopg.connect(DSN, options=self.search_path) as other:
            other.execute("SELECT pg_advisory_xact_lock(%s)", [WRITER_LOCK_KEY])
            posted = store.add_messages([NewMessage(room.id, user.id, "alice", "hi", 1)])
            await self.until(
                lambda: bool(
                    self.admin(
                        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                )
            )
            self.assertFalse(posted.called)
            other.commit()
        [result] = await posted
        self.assertTrue(result.created)


class OpenPostgreSQLURLTests(SynchronousTestCase):
    """open_store reads postgresql:// URLs without connecting."""

    def test_postgresql_and_postgres_schemes(self) -> None:
        """Both postgresql:// and postgres:// give a PostgreSQL SQLStore."""
        if psycopg is None:
            self.skipTest("psycopg is not installed")
        for url in ("postgresql://db.invalid/chat", "postgres://db.invalid/chat"):
            store = open_store(url, Clock())
            assert isinstance(store, SQLStore)
            self.assertEqual(store.dialect.name, "postgresql")

    def test_description_hides_the_password(self) -> None:
        """The store's description, which gets logged, has the password redacted."""
        if psycopg is None:
            self.skipTest("psycopg is not installed")
        store = open_store("postgresql://chat:s3cret@db.invalid:5432/chat", Clock())
        assert isinstance(store, SQLStore)
        self.assertNotIn("s3cret", store.description)
        self.assertIn("db.invalid:5432/chat", store.description)

    def test_missing_driver_says_what_to_install(self) -> None:
        """Without psycopg, a postgresql:// URL raises UnsupportedStoreURL with the pip hint."""
        saved = sys.modules.get("psycopg")
        sys.modules["psycopg"] = None  # type: ignore[assignment]
        try:
            error = self.assertRaises(
                UnsupportedStoreURL, open_store, "postgresql://u:s3cret@db/chat", Clock()
            )
        finally:
            if saved is None:
                del sys.modules["psycopg"]
            else:
                sys.modules["psycopg"] = saved
        self.assertIn("pip install 'chatservice[postgresql]'", str(error))
        self.assertNotIn("s3cret", str(error))


class PostgreSQLSealingContractTests(PostgreSQLDatabase, HookSealingContractMixin, TestCase):
    """Encryption at rest on PostgreSQL: sealed on write, opened on read, rotated, checked."""

    skip = SKIP
    at_rest = True

    async def sealed_store(self, key_ring: KeyRing | None) -> IChatStore:
        store = SQLStore.postgresql(
            DSN, reactor, reactor=reactor, sealing=Sealing(key_ring), options=self.search_path
        )
        self.addCleanup(store.close)
        await store.start()
        return store

    def raw_rows(self) -> list[tuple[Any, ...]]:
        return self.admin("SELECT id, content, sealed FROM messages ORDER BY id")

    def raw_webhooks(self) -> list[tuple[Any, ...]]:
        return self.admin("SELECT id, secret, sealed_secret FROM webhooks ORDER BY id")


class PostgreSQLSealedContractTests(
    PostgreSQLDatabase,
    SQLStoreContractMixin,
    TimelineContractMixin,
    AccessContractMixin,
    AccountContractMixin,
    TestCase,
):
    """Every rule of IChatStore holds on PostgreSQL with ENCRYPTION_KEY set, search included."""

    skip = SKIP
    sealing = Sealing(OLD_RING)
