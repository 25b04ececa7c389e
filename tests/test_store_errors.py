"""Driver errors that mean "the store cannot write": full disks and read-only databases.

SQLite's full disk is simulated with ``PRAGMA max_page_count`` (SQLite then
answers SQLITE_FULL, "database or disk is full"), its read-only mode with
``PRAGMA query_only``; PostgreSQL's read-only transactions are real
(``default_transaction_read_only`` on the pool's one connection), and its
disk-full SQLSTATE 53100 is classified from a synthesized error.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.errors import ChatError, StoreFull, StoreReadOnly
from chatservice.health import Health
from chatservice.models import NewMessage, Posted, Room, User
from chatservice.service import ChatService
from chatservice.store import IChatStore, IWriteState
from chatservice.store.batching import GroupCommitStore
from chatservice.store.database import Txn
from chatservice.store.dialects import POSTGRESQL, SQLITE, ErrorKind
from chatservice.store.memory import MemoryStore
from chatservice.store.sql import SQLStore
from chatservice.wire import FrameError
from tests.fakes import config_for_tests
from tests.logcapture import LogCapture
from tests.rest_support import alice_claims, forge
from tests.store_contract import MixinBase, failure_of
from tests.test_store_postgresql import SKIP, PostgreSQLDatabase
from tests.wsclient import serve_tcp

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is a dev dependency
    psycopg = None  # type: ignore[assignment]


class ClassifyTests(SynchronousTestCase):
    """What each dialect makes of the driver errors that refuse writes."""

    def test_sqlite_full_by_code(self) -> None:
        """SQLITE_FULL, as SQLite really raises it, is FULL."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        self.addCleanup(conn.close)
        conn.execute("CREATE TABLE t (x)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with self.assertRaises(sqlite3.OperationalError) as raised:
            for _ in range(1000):
                conn.execute("INSERT INTO t VALUES (?)", ("x" * 1000,))
        self.assertIs(SQLITE.classify(raised.exception), ErrorKind.FULL)

    def test_sqlite_read_only_by_code(self) -> None:
        """SQLITE_READONLY, as SQLite really raises it, is READ_ONLY."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        self.addCleanup(conn.close)
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA query_only = 1")
        with self.assertRaises(sqlite3.OperationalError) as raised:
            conn.execute("INSERT INTO t VALUES (1)")
        self.assertIs(SQLITE.classify(raised.exception), ErrorKind.READ_ONLY)

    def test_sqlite_by_text(self) -> None:
        """Without ``sqlite_errorname`` (Python < 3.11) the message decides."""
        full = sqlite3.OperationalError("database or disk is full")
        read_only = sqlite3.OperationalError("attempt to write a readonly database")
        self.assertIs(SQLITE.classify(full), ErrorKind.FULL)
        self.assertIs(SQLITE.classify(read_only), ErrorKind.READ_ONLY)

    def test_postgresql_disk_full_and_read_only(self) -> None:
        """SQLSTATE 53100 is FULL, 25006 READ_ONLY, 22003 OUT_OF_RANGE; 53300 stays transient."""
        if psycopg is None:
            self.skipTest("psycopg is not installed")
        errors = psycopg.errors
        self.assertIs(POSTGRESQL.classify(errors.DiskFull("no space")), ErrorKind.FULL)
        self.assertIs(
            POSTGRESQL.classify(errors.ReadOnlySqlTransaction("read-only")), ErrorKind.READ_ONLY
        )
        self.assertIs(
            POSTGRESQL.classify(errors.NumericValueOutOfRange("bigint out of range")),
            ErrorKind.OUT_OF_RANGE,
        )
        self.assertIs(
            POSTGRESQL.classify(errors.TooManyConnections("too many")), ErrorKind.TRANSIENT
        )


class WriteEpisodeMixin(MixinBase):
    """A store that cannot write: 503 errors, one warning per episode, visible to health."""

    store: SQLStore
    user: User
    room: Room

    def build_store(self) -> SQLStore:
        raise NotImplementedError

    async def refuse_writes(self) -> None:
        """Make the store's database refuse the next write."""
        raise NotImplementedError

    async def allow_writes(self) -> None:
        """Undo ``refuse_writes``."""
        raise NotImplementedError

    error_type: type[ChatError] = ChatError
    code = ""

    async def set_up_store(self) -> None:
        self.store = self.build_store()
        await self.store.start()
        self.user = await self.store.create_user("alice", b"h", 1)
        self.room = await self.store.ensure_room("General", "", 1)

    def post(self, content: str = "hello") -> Deferred[Sequence[Posted]]:
        return self.store.add_messages(
            [NewMessage(self.room.id, self.user.id, "alice", content, 1)]
        )

    async def test_refused_write_is_a_503_with_its_code(self) -> None:
        """A write the database refuses fails with the documented 503 error, no traceback."""
        await self.set_up_store()
        await self.refuse_writes()
        error = await failure_of(self, self.post(), self.error_type)
        self.assertEqual((error.status, error.code), (503, self.code))
        self.assertEqual(self.flushLoggedErrors(), [])

    async def test_one_warning_per_episode(self) -> None:
        """Many refused writes log one warning; a successful write ends the episode."""
        await self.set_up_store()
        logs = LogCapture(self)
        await self.refuse_writes()
        for n in range(5):
            await failure_of(self, self.post(f"m{n}"), self.error_type)
        warnings = logs.texts(LogLevel.warn)
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("cannot write", warnings[0])
        self.assertIn(self.code, warnings[0])
        self.assertNotIn("\n", warnings[0])
        fault = IWriteState(self.store).write_fault()
        self.assertIsInstance(fault, self.error_type)

        logs.clear()
        await self.allow_writes()
        await self.post("back")
        self.assertIsNone(IWriteState(self.store).write_fault())
        self.assertEqual(logs.texts(LogLevel.warn), [])
        [recovered] = logs.texts(LogLevel.info)
        self.assertIn("can write again after 5 refused writes", recovered)

        logs.clear()
        await self.refuse_writes()
        await failure_of(self, self.post("again"), self.error_type)
        self.assertEqual(len(logs.texts(LogLevel.warn)), 1)

    async def test_reads_still_work_and_do_not_end_the_episode(self) -> None:
        """While writes are refused, reads answer and the episode goes on."""
        await self.set_up_store()
        await self.refuse_writes()
        await failure_of(self, self.post(), self.error_type)
        self.assertEqual(await self.store.get_user(self.user.id), self.user)
        await self.store.ping()
        self.assertIsInstance(IWriteState(self.store).write_fault(), self.error_type)

    async def test_health_reports_cannot_write(self) -> None:
        """Health is unavailable with ``store: cannot_write`` while the episode lasts."""
        await self.set_up_store()
        health = Health(self.store)
        self.assertEqual((await health.check()).to_json(), {"status": "ok", "store": "ok"})
        await self.refuse_writes()
        await failure_of(self, self.post(), self.error_type)
        report = await health.check()
        self.assertEqual(report.http_status, 503)
        self.assertEqual(
            report.to_json(),
            {"status": "unavailable", "store": "cannot_write", "reason": self.code},
        )
        await self.allow_writes()
        await self.post()
        self.assertEqual((await health.check()).http_status, 200)

    async def test_batched_post_fails_with_the_code(self) -> None:
        """A WebSocket post (through the group committer) gets the code in its error frame."""
        await self.set_up_store()
        committer = GroupCommitStore(self.store)
        await self.refuse_writes()
        new = NewMessage(self.room.id, self.user.id, "alice", "hi", 1, "c-1")
        error = await failure_of(self, committer.add_message(new), self.error_type)
        self.assertEqual(FrameError(error, "c-1").to_json()["code"], self.code)


class SQLiteFile(MixinBase):
    """A SQLite store on a file of this test's own."""

    def build_store(
        self, clock: IReactorTime | None = None, retry_delays: Sequence[float] = (0.01,)
    ) -> SQLStore:
        path = self.mktemp()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        store = SQLStore.sqlite(path, reactor, reactor=reactor, retry_delays=retry_delays)
        self.addCleanup(store.close)
        return store


def _pragma(statement: str) -> Callable[[Txn], None]:
    def run(txn: Txn) -> None:
        txn.execute(statement)

    return run


class SQLiteFullDiskTests(SQLiteFile, WriteEpisodeMixin, TestCase):
    """SQLITE_FULL: the database file cannot grow (``PRAGMA max_page_count``)."""

    error_type = StoreFull
    code = "store_full"

    async def refuse_writes(self) -> None:
        # Fill the file's last pages from a connection of our own, big rows
        # first, until not even a one-character row fits under the cap; then
        # cap the store's connection at that size. The store's first refused
        # write is then the test's own.
        conn = sqlite3.connect(self.store.description.removeprefix("sqlite:"))
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
            # Ids far past the store's: it takes message ids from the events
            # sequence, which these rows must neither clash with nor move.
            newest = conn.execute("SELECT MAX(id) FROM messages").fetchone()[0] or 0
            filler_ids = itertools.count(max(newest + 1, 10**12))
            for size in (2000, 200, 20, 1):
                while True:
                    try:
                        with conn:
                            conn.execute(
                                "INSERT INTO messages (id, room_id, sender_id, username,"
                                " content, ts) VALUES (?, ?, ?, 'filler', ?, 1)",
                                (next(filler_ids), self.room.id, self.user.id, "x" * size),
                            )
                    except sqlite3.OperationalError:
                        break
        finally:
            conn.close()
        await self.store.run_read("cap", _pragma(f"PRAGMA max_page_count = {pages}"))

    async def allow_writes(self) -> None:
        await self.store.run_read("uncap", _pragma("PRAGMA max_page_count = 1073741823"))

    async def test_full_disk_is_not_retried(self) -> None:
        """A full disk is not transient: the write fails at once, without backoff."""
        await self.set_up_store()
        await self.refuse_writes()
        attempts: list[int] = []

        def insert(txn: Txn) -> None:
            attempts.append(1)
            txn.execute(
                "INSERT INTO messages (room_id, sender_id, username, content, ts)"
                " VALUES (:room, :user, 'alice', :content, 1)",
                {"room": self.room.id, "user": self.user.id, "content": "y" * 5000},
            )

        await failure_of(self, self.store.run_interaction("insert", insert), StoreFull)
        self.assertEqual(len(attempts), 1)


class SQLiteReadOnlyTests(SQLiteFile, WriteEpisodeMixin, TestCase):
    """SQLITE_READONLY (``PRAGMA query_only``, like a file mounted read-only)."""

    error_type = StoreReadOnly
    code = "store_read_only"

    async def refuse_writes(self) -> None:
        await self.store.run_read("ro", _pragma("PRAGMA query_only = 1"))

    async def allow_writes(self) -> None:
        await self.store.run_read("rw", _pragma("PRAGMA query_only = 0"))


class PostgreSQLReadOnlyTests(PostgreSQLDatabase, WriteEpisodeMixin, TestCase):
    """SQLSTATE 25006: a read-only transaction, set on the pool's only connection.

    ``SET`` (not ``SET LOCAL``) outlives its transaction, so only this
    store's connection turns read-only; the shared database is untouched.
    """

    skip = SKIP
    error_type = StoreReadOnly
    code = "store_read_only"

    def build_store(  # type: ignore[override]
        self, clock: IReactorTime | None = None, retry_delays: Sequence[float] = (0.01,)
    ) -> SQLStore:
        return super().build_store(clock, retry_delays, pool_size=1)

    async def refuse_writes(self) -> None:
        await self.store.run_read("ro", _pragma("SET default_transaction_read_only = on"))

    async def allow_writes(self) -> None:
        await self.store.run_read("rw", _pragma("SET default_transaction_read_only = off"))


class EdgeRangeMixin(MixinBase):
    """Every id a client sends, at and past 2**63-1, over a real port on each store.

    A token's ``sub`` past 64 bits is a 401; ``roomId``, ``before``, ``after``
    and ``since`` past it are a 400; exactly 2**63-1 is a valid id nobody has:
    a 404 or an empty page. Never a 500.
    """

    def service_store(self) -> IChatStore:
        raise NotImplementedError

    async def start_service(self) -> str:
        service = ChatService(
            config_for_tests(listen=("tcp:0:interface=127.0.0.1",)),
            reactor,
            store=self.service_store(),
        )
        port = await serve_tcp(self, service)
        self.http = HTTPConnectionPool(reactor, persistent=False)
        return f"http://127.0.0.1:{port}"

    async def get(self, url: str, token: str | None = None) -> tuple[int, Any]:
        headers: dict[bytes | str, bytes | str] = (
            {"Authorization": f"Bearer {token}"} if token else {}
        )
        response = await treq.get(url, headers=headers, pool=self.http)
        return response.code, await response.json()

    async def test_ids_at_and_past_the_64_bit_edge(self) -> None:
        """401 for a sub, 400 for a parameter past 2**63-1; 404 or a page at it."""
        base = await self.start_service()
        response = await treq.post(
            f"{base}/api/register",
            json={"username": "alice", "password": "password-1"},
            pool=self.http,
        )
        body = await response.json()
        self.assertEqual(response.code, 201, body)
        token = body["token"]
        now = int(reactor.seconds())
        for sub in (str(2**63), "100000000000000000000", "9" * 5000):
            forged = forge(alice_claims(1, now, sub=sub))
            for path in ("/api/rooms", "/api/messages?roomId=1", "/ws?roomId=1"):
                status, body = await self.get(base + path, forged)
                self.assertEqual((status, body["code"]), (401, "unauthorized"), path)
        status, body = await self.get(
            base + "/api/rooms", forge(alice_claims(1, now, exp=10**400))
        )
        self.assertEqual(status, 401, body)

        edge, past = 2**63 - 1, 2**63
        expectations = {
            f"/api/messages?roomId={edge}": (404, "not_found"),
            f"/api/messages?roomId={past}": (400, "invalid_request"),
            f"/api/messages?roomId={10**400}": (400, "invalid_request"),
            f"/api/messages?roomId=1&before={past}": (400, "invalid_request"),
            f"/api/messages?roomId=1&after={past}": (400, "invalid_request"),
            f"/ws?roomId={edge}": (404, "not_found"),
            f"/ws?roomId={past}": (400, "invalid_request"),
            f"/ws?roomId=1&since={past}": (400, "invalid_request"),
            # Valid numbers: the handshake goes on to ask for an upgrade.
            f"/ws?roomId=1&since={edge}": (426, "upgrade_required"),
        }
        for path, expected in expectations.items():
            status, body = await self.get(base + path, token)
            self.assertEqual((status, body["code"]), expected, path)
        for query in (f"before={edge}", f"after={edge}"):
            status, body = await self.get(f"{base}/api/messages?roomId=1&{query}", token)
            self.assertEqual((status, body), (200, []), query)


class MemoryEdgeTests(EdgeRangeMixin, TestCase):
    """On the memory store."""

    def service_store(self) -> IChatStore:
        return MemoryStore(reactor)


class SQLiteEdgeTests(SQLiteFile, EdgeRangeMixin, TestCase):
    """On SQLite, whose driver overflowed past 64 bits."""

    def service_store(self) -> IChatStore:
        return self.build_store()


class PostgreSQLEdgeTests(PostgreSQLDatabase, EdgeRangeMixin, TestCase):
    """On PostgreSQL."""

    skip = SKIP

    def service_store(self) -> IChatStore:
        return self.build_store()
