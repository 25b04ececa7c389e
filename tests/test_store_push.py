"""The push-subscription contract on the three stores (PostgreSQL with ``CHAT_TEST_POSTGRES``)."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatservice.store import IChatStore
from chatservice.store.memory import MemoryStore
from tests.push_contract import PushContractMixin
from tests.test_store_postgresql import SKIP, PostgreSQLDatabase
from tests.test_store_sqlite import SQLiteDatabase


class MemoryPushTests(PushContractMixin, TestCase):
    """MemoryStore keeps the push-subscription rules."""

    async def make_store(self) -> IChatStore:
        store = MemoryStore(Clock())
        await store.start()
        self.addCleanup(store.close)
        return store


class SQLitePushTests(SQLiteDatabase, PushContractMixin, TestCase):
    """SQLStore on SQLite keeps the push-subscription rules."""

    async def make_store(self) -> IChatStore:
        store = self.build_store()
        await store.start()
        return store


class PostgreSQLPushTests(PostgreSQLDatabase, PushContractMixin, TestCase):
    """SQLStore on PostgreSQL keeps the push-subscription rules."""

    skip = SKIP

    async def make_store(self) -> IChatStore:
        store = self.build_store()
        await store.start()
        return store
