"""The access-control matrix (``tests/access_matrix.py``) on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from chatservice.store import IChatStore
from chatservice.store.memory import MemoryStore
from chatservice.store.sql import SQLStore
from tests.access_matrix import AccessMatrixMixin
from tests.test_store_postgresql import SKIP, PostgreSQLDatabase


class MemoryAccessMatrixTests(AccessMatrixMixin, TestCase):
    """The matrix on the memory store."""

    async def make_store(self) -> IChatStore:
        return MemoryStore(reactor)


class SQLiteAccessMatrixTests(AccessMatrixMixin, TestCase):
    """The matrix on SQLite, answering through its thread pool."""

    async def make_store(self) -> IChatStore:
        folder = self.mktemp()
        os.makedirs(folder)
        return SQLStore.sqlite(os.path.join(folder, "chat.sqlite3"), reactor)


class PostgreSQLAccessMatrixTests(PostgreSQLDatabase, AccessMatrixMixin, TestCase):
    """The matrix on PostgreSQL (CI sets CHAT_TEST_POSTGRES)."""

    skip = SKIP

    async def make_store(self) -> IChatStore:
        return self.build_store()
