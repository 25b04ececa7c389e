"""SQLStore: the durable backend, SQLite or PostgreSQL, on ``Database``.

Each method runs one interaction: a function of the ``*_queries`` modules
(``user_room_queries`` for users and rooms), run in a pool thread inside
one named transaction; the ``SQL*`` mixins bring the rest of the schema's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from chatservice.errors import NotFound, StoreUnavailable
from chatservice.models import Credentials, Message, NewMessage, NewRoom, Posted, Room, User
from chatservice.store import (
    IChatStore,
    IWriteState,
    message_queries,
    search_backlog,
    search_queries,
    user_room_queries,
)
from chatservice.store.database import DEFAULT_RETRY_DELAYS, Database, Txn
from chatservice.store.dialects import POSTGRESQL, SQLITE, Dialect
from chatservice.store.member_reads import MemberReads
from chatservice.store.migrations import load_migrations, migrate
from chatservice.store.pool import PoolConfig, postgresql_config, sqlite_on_connect
from chatservice.store.ranges import INT64_MAX, fits, page_bounds
from chatservice.store.sealing import PLAINTEXT, ISealingStore, ResealStep, Sealing
from chatservice.store.sealing_queries import check_keys, reseal_batch
from chatservice.store.sql_access import SQLAccess
from chatservice.store.sql_accounts import SQLAccounts
from chatservice.store.sql_hooks import SQLHooks
from chatservice.store.sql_push import SQLPush
from chatservice.store.sql_read import SQLRead
from chatservice.store.sql_timeline import SQLTimeline
from chatservice.store.sql_uploads import SQLUploads
from chatservice.store.upload_interface import IUploadStore

_P = ParamSpec("_P")
_T = TypeVar("_T")


@implementer(IChatStore, IWriteState, IUploadStore, ISealingStore)
class SQLStore(SQLTimeline, SQLAccess, SQLAccounts, SQLUploads, SQLPush, SQLRead, SQLHooks):
    """Users, rooms and messages in SQLite or PostgreSQL, through an adbapi pool.

    Nothing is opened until ``start()``, which also applies pending migrations.
    The timeline's methods (edits, deletes, reactions, events) come from
    ``SQLTimeline``, the accounts' (generations, sessions, admins) from
    ``SQLAccounts``, the read markers' from ``SQLRead``.
    """

    log = Logger()

    def __init__(self, database: Database) -> None:
        """Serve the chat schema from ``database`` (built, not yet opened)."""
        self.database = database
        self.member_reads = MemberReads(database)

    @classmethod
    def sqlite(
        cls,
        path: str,
        clock: IReactorTime,
        *,
        busy_timeout_ms: int = 5000,
        reactor: object | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        sealing: Sealing = PLAINTEXT,
    ) -> SQLStore:
        """Build a store on the SQLite file at ``path`` (created if missing).

        One connection only: SQLite lets one writer in at a time, so more
        connections would queue on its file lock (or fail with SQLITE_BUSY)
        instead of in the pool, and local reads are quick enough to share it.
        ``check_same_thread=False`` because the pool closes connections from
        the reactor thread; autocommit mode because the store issues ``BEGIN``
        itself (sqlite3's implicit transactions leave DDL and SELECTs out).
        """
        config = PoolConfig(
            dbapi_name="sqlite3",
            connect_args=(path,),
            connect_kwargs={"check_same_thread": False, "isolation_level": None},
            min_connections=1,
            max_connections=1,
            on_connect=sqlite_on_connect(busy_timeout_ms),
            description=f"sqlite:{path}",
        )
        return cls(
            Database(
                SQLITE, config, clock, reactor=reactor, retry_delays=retry_delays, sealing=sealing
            )
        )

    @classmethod
    def postgresql(
        cls,
        dsn: str,
        clock: IReactorTime,
        *,
        pool_size: int = 5,
        reactor: object | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        sealing: Sealing = PLAINTEXT,
        **connect_kwargs: object,
    ) -> SQLStore:
        """Build a store on PostgreSQL via psycopg 3.

        Args:
            dsn: a libpq URL or key/value string.
            clock: schedules retries.
            pool_size: the most connections (and threads) at once.
            reactor: see ``Database``.
            retry_delays: see ``Database``.
            sealing: see ``Database``.
            **connect_kwargs: more ``psycopg.connect`` arguments, e.g.
                ``options="-c search_path=..."``.
        """
        config = postgresql_config(dsn, pool_size, connect_kwargs)
        return cls(
            Database(
                POSTGRESQL,
                config,
                clock,
                reactor=reactor,
                retry_delays=retry_delays,
                sealing=sealing,
            )
        )

    @property
    def dialect(self) -> Dialect:
        """The database's dialect."""
        return self.database.dialect

    @property
    def description(self) -> str:
        """Where the data lives (``sqlite:<path>`` or the redacted DSN), safe to log."""
        return self.database.description

    def run_interaction(
        self,
        desc: str,
        fn: Callable[Concatenate[Txn, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T]:
        """Run ``fn(txn, *args)`` in a read-write transaction; see ``Database``."""
        return self.database.run_interaction(desc, fn, *args, **kwargs)

    def run_read(
        self,
        desc: str,
        fn: Callable[Concatenate[Txn, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T]:
        """Run ``fn(txn, *args)`` in a read-only transaction; see ``Database``."""
        return self.database.run_read(desc, fn, *args, **kwargs)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Open the pool, apply pending migrations and check the encryption key.

        Fails with ``SchemaTooNew`` if the database is newer than this code,
        ``WrongEncryptionKey`` if ``ENCRYPTION_KEY`` cannot open its data, or
        ``StoreUnavailable`` (with the reason) if it cannot be reached.
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        database = self.database
        database.open()
        now_ms = int(database.clock.seconds() * 1000)
        try:
            before, after = await database.run_interaction(
                "migrate", migrate, load_migrations(), now_ms
            )
            await database.run_interaction("check_keys", check_keys, now_ms)
        except BaseException as exc:
            await database.close()
            if isinstance(exc, StoreUnavailable):
                raise StoreUnavailable(
                    f"cannot open the store at {database.description}: {exc.__cause__!r}"
                ) from exc.__cause__
            raise
        if before != after:
            self.log.info(
                "migrated {where} from schema version {before} to {after}",
                where=database.description,
                before=before,
                after=after,
            )

    def close(self) -> Deferred[None]:
        """Let running transactions finish, then close every connection."""
        return self.database.close()

    def ping(self) -> Deferred[None]:
        """Fire when ``SELECT 1`` succeeds; fail with ``StoreUnavailable`` otherwise."""
        return Deferred.fromCoroutine(self._ping())

    async def _ping(self) -> None:
        try:
            await self.database.run_read("ping", _select_one)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable() from exc

    def reseal_batch(self, batch_size: int) -> Deferred[ResealStep]:
        """One step of a key rotation; see ``ISealingStore``."""
        return self.run_interaction("reseal_batch", reseal_batch, batch_size)

    def write_fault(self) -> StoreUnavailable | None:
        """The error writes fail with during a full-disk or read-only episode, else None."""
        return self.database.write_episode.fault

    # -- users and rooms ------------------------------------------------------

    def create_user(self, username: str, password_hash: bytes, created_at: int) -> Deferred[User]:
        """Store a new account; ``Conflict`` if the name is taken."""
        return self.run_interaction(
            "create_user", user_room_queries.create_user, username, password_hash, created_at
        )

    def get_user(self, user_id: int) -> Deferred[User]:
        """Fire with the user or fail with ``NotFound``."""
        if not fits(user_id):
            return fail(NotFound("No such user."))
        return self.run_read("get_user", user_room_queries.get_user, user_id)

    def get_credentials(self, username: str) -> Deferred[Credentials]:
        """Fire with the user and its hash, or fail with ``NotFound``."""
        return self.run_read("get_credentials", user_room_queries.get_credentials, username)

    def create_room(self, new: NewRoom) -> Deferred[Room]:
        """Store a new room, its creator as owner; ``Conflict`` if the name is taken."""
        if not fits(new.created_by):
            return fail(NotFound("No such user."))
        return self.run_interaction("create_room", user_room_queries.create_room, new)

    def ensure_room(self, name: str, description: str, created_at: int) -> Deferred[Room]:
        """Fire with the named room, creating it if missing."""
        return self.run_interaction(
            "ensure_room", user_room_queries.ensure_room, name, description, created_at
        )

    def get_room(self, room_id: int) -> Deferred[Room]:
        """Fire with the room or fail with ``NotFound``."""
        if not fits(room_id):
            return fail(NotFound("No such room."))
        return self.run_read("get_room", user_room_queries.get_room, room_id)

    def list_rooms(self) -> Deferred[Sequence[Room]]:
        """Fire with every room in id order."""
        return self.run_read("list_rooms", user_room_queries.list_rooms)

    # -- messages -------------------------------------------------------------

    def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        """Store messages in one transaction; a repeated ``client_msg_id`` returns the original."""
        if not messages:
            return succeed([])
        if not all(fits(new.room_id) for new in messages):
            return fail(NotFound("No such room."))
        if not all(fits(new.sender_id) for new in messages):
            return fail(NotFound("No such user."))
        return self.run_interaction("add_messages", message_queries.add_messages, list(messages))

    def get_messages(
        self, room_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> Deferred[Sequence[Message]]:
        """Fire with a page of the room's history, oldest first."""
        bounds = page_bounds(room_id, before, after)
        if limit <= 0 or bounds.empty:
            return succeed([])
        return self.run_read(
            "get_messages",
            message_queries.get_messages,
            room_id,
            min(limit, INT64_MAX),
            bounds.before,
            bounds.after,
        )

    def search_messages(
        self, query: str, room_ids: Sequence[int] | None, before: int | None, limit: int
    ) -> Deferred[Sequence[Message]]:
        """Fire with the newest messages holding every word; see ``search_queries``."""
        request = search_queries.search_request(
            query, room_ids, before, limit, self.database.sealing
        )
        if request is None:
            return succeed([])
        if self.database.dialect.index_backlog is None:
            return self.run_read("search_messages", search_queries.search_messages, request)
        return Deferred.fromCoroutine(self._search_after_backlog(request))

    async def _search_after_backlog(
        self, request: search_queries.SearchRequest
    ) -> Sequence[Message]:
        """Index the messages that wait (``search_backlog``), then search, so none is missed.

        Only a backlog takes the writers' lock: a search otherwise stays a
        read. A store that cannot write (full, read-only, busy past its
        retries) still answers, from the index as it is; the refusal is
        told once per episode, as every refused write is (``WriteEpisode``).
        """
        if await self.run_read("search_backlog", search_backlog.waiting):
            try:
                await self.run_interaction("index_search_backlog", search_backlog.index_backlog)
            except StoreUnavailable:
                pass
        return await self.run_read("search_messages", search_queries.search_messages, request)


def _select_one(txn: Txn) -> None:
    txn.query("SELECT 1")
