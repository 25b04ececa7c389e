"""Database: an adbapi pool with named, retried transactions.

Every transaction goes through ``Database.run_interaction`` (or
``run_read``), which names it, retries transient failures with backoff on
the injected clock, and turns driver exceptions into ``Conflict``,
``NotFound``, ``InvalidRequest`` (a number past 64 bits),
``StoreUnavailable``, ``StoreFull``/``StoreReadOnly`` (the database refuses
writes; see ``WriteEpisode``) or ``InternalError``: no driver exception
leaves this module. What it runs is written once, with ``:name``
placeholders; the ``Dialect`` adapts it to SQLite or PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads, IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from chatservice.errors import (
    ChatError,
    Conflict,
    InternalError,
    InvalidRequest,
    NotFound,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
)
from chatservice.store.dialects import Dialect, ErrorKind, describe_error
from chatservice.store.pool import Pool, PoolConfig
from chatservice.store.sealing import PLAINTEXT, Sealing
from chatservice.store.write_state import WriteEpisode

_P = ParamSpec("_P")
_T = TypeVar("_T")

# Backoff between attempts of a transaction that failed transiently: five
# retries over about 1.5 s, long enough to ride out a PostgreSQL failover of
# the pooled connection or a competing SQLite writer, short enough that a
# request still gets an answer.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)

# No retry starts once this many seconds have passed since a transaction's
# first attempt. An attempt can itself wait long (libpq's connect_timeout on a
# host that stopped answering, SQLite's busy timeout); repeating it five
# times would keep the caller waiting close to a minute for its 503.
DEFAULT_RETRY_WINDOW = 3.0

OUT_OF_RANGE_MESSAGE = "A number is out of range."


class Txn:
    """A cursor inside one transaction that speaks the store's portable SQL.

    Runs in a pool thread, never in the reactor thread. Unique and foreign-key
    violations come out as ``Conflict`` and ``NotFound`` so interactions can
    replace the message; other driver errors propagate to ``run_interaction``.
    """

    def __init__(self, cursor: Any, dialect: Dialect, sealing: Sealing = PLAINTEXT) -> None:
        self._cursor = cursor
        self.dialect = dialect
        self.sealing = sealing
        """How message text is stored at rest (``store.sealing``)."""

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        """Run one statement."""
        try:
            # Always pass a mapping: psycopg only unescapes "%%" when it has params.
            self._cursor.execute(self.dialect.sql(sql), dict(params or {}))
        except OverflowError:
            # sqlite3 cannot bind an integer past 64 bits; not a sqlite3.Error.
            raise InvalidRequest(OUT_OF_RANGE_MESSAGE) from None
        except Exception as exc:
            self._raise_constraint(exc)
            raise

    def execute_many(self, sql: str, rows: Iterable[Mapping[str, object]]) -> None:
        """Run one statement once per parameter mapping: bulk loads, backfills."""
        try:
            self._cursor.executemany(self.dialect.sql(sql), (dict(row) for row in rows))
        except OverflowError:
            raise InvalidRequest(OUT_OF_RANGE_MESSAGE) from None
        except Exception as exc:
            self._raise_constraint(exc)
            raise

    def _raise_constraint(self, exc: Exception) -> None:
        kind = self.dialect.classify(exc)
        if kind is ErrorKind.UNIQUE:
            raise Conflict() from exc
        if kind is ErrorKind.FOREIGN_KEY:
            raise NotFound() from exc
        if kind is ErrorKind.OUT_OF_RANGE:
            raise InvalidRequest(OUT_OF_RANGE_MESSAGE) from exc

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all its rows."""
        self.execute(sql, params)
        return [tuple(row) for row in self._cursor.fetchall()]

    def rows(
        self, sql: str, params: Mapping[str, object] | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """Run a query and hand out its rows as the driver reads them.

        For a reader that may stop early (the SQLite search's probe): on
        SQLite the rows it never takes are never computed.
        """
        self.execute(sql, params)
        return (tuple(row) for row in self._cursor)

    def query_one(
        self, sql: str, params: Mapping[str, object] | None = None
    ) -> tuple[Any, ...] | None:
        """Run a query and return its first row, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def insert(self, sql: str, params: Mapping[str, object]) -> int:
        """Run an ``INSERT`` into a table with an ``id`` key and return the new id."""
        if self.dialect.supports_returning:
            row = self.query_one(sql + " RETURNING id", params)
            assert row is not None
            return int(row[0])
        self.execute(sql, params)
        return int(self._cursor.lastrowid)

    def lock_writers(self) -> None:
        """Serialize with other writers until commit, where the dialect needs it."""
        if self.dialect.lock_writers is not None:
            self.execute(self.dialect.lock_writers)


class Database:
    """One database behind an adbapi pool; nothing is opened until ``open()``."""

    log = Logger()

    def __init__(
        self,
        dialect: Dialect,
        pool_config: PoolConfig,
        clock: IReactorTime,
        *,
        reactor: object | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        retry_window: float = DEFAULT_RETRY_WINDOW,
        sealing: Sealing = PLAINTEXT,
    ) -> None:
        """Describe the database; open nothing yet.

        Args:
            dialect: ``SQLITE`` or ``POSTGRESQL``.
            pool_config: how to connect.
            clock: schedules the backoff between retries.
            reactor: runs the pool's threads; defaults to ``clock`` when it is a
                full reactor, else adbapi's default (the global reactor).
            retry_delays: seconds to wait before each retry of a transaction
                that failed transiently; its length is the number of retries.
            retry_window: once this many seconds have passed since a
                transaction's first attempt, a failure is not retried, so
                attempts that fail slowly are not repeated.
            sealing: how message text is stored at rest (``ENCRYPTION_KEY``),
                handed to every transaction as ``Txn.sealing``.
        """
        self.dialect = dialect
        self.sealing = sealing
        self._config = pool_config
        self.clock = clock
        if (
            reactor is None
            and IReactorCore.providedBy(clock)
            and IReactorFromThreads.providedBy(clock)
        ):
            reactor = clock
        self._reactor = reactor
        self._retry_delays = tuple(retry_delays)
        self._retry_window = retry_window
        self._pool: Pool | None = None
        self._closing = False
        self._active = 0
        self._idle_waiters: list[Deferred[None]] = []
        self._sleeps: set[Deferred[None]] = set()
        self.write_episode = WriteEpisode(pool_config.description, clock)

    @property
    def description(self) -> str:
        """Where the data lives (``sqlite:<path>`` or the redacted DSN), safe to log."""
        return self._config.description

    # -- transactions ---------------------------------------------------------

    def run_interaction(
        self,
        desc: str,
        fn: Callable[Concatenate[Txn, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T]:
        """Run ``fn(txn, *args)`` in a read-write transaction named ``desc``.

        Fires with what ``fn`` returned, after the commit. A transient failure
        (busy database, lost connection, serialization failure) is rolled back
        and retried after a backoff; note that a commit whose acknowledgement
        was lost may thus run twice, which ``client_msg_id`` makes harmless.

        Fails with ``ChatError`` subclasses only (or whatever non-driver
        exception ``fn`` raised): ``Conflict``, ``NotFound``,
        ``InvalidRequest`` for a number the database cannot hold,
        ``StoreFull`` or ``StoreReadOnly`` at once (not retried: only an
        operator can fix it), ``StoreUnavailable`` once retries are exhausted
        (in number or in time: see ``retry_window``) or the store is closed,
        ``InternalError`` for any other driver error (logged in one line).
        """
        return Deferred.fromCoroutine(self._run(desc, True, fn, args, kwargs))

    def run_read(
        self,
        desc: str,
        fn: Callable[Concatenate[Txn, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T]:
        """Like ``run_interaction`` for a transaction that only reads.

        On SQLite it does not take the write lock, so it never waits for, or
        holds up, a writer in another process.
        """
        return Deferred.fromCoroutine(self._run(desc, False, fn, args, kwargs))

    async def _run(
        self,
        desc: str,
        write: bool,
        fn: Callable[..., _T],
        args: tuple[object, ...],
        kwargs: Mapping[str, object],
    ) -> _T:
        self._active += 1
        started = self.clock.seconds()
        try:
            attempt = 0
            while True:
                if self._pool is None or self._closing:
                    raise StoreUnavailable()
                try:
                    result: _T = await self._pool.run(self._in_thread, write, fn, args, kwargs)
                except Exception as exc:
                    kind = self.dialect.classify(exc)
                    if kind is None:
                        raise
                    if kind is not ErrorKind.TRANSIENT:
                        raise self._final_error(desc, kind, exc) from exc
                    if (
                        attempt >= len(self._retry_delays)
                        or self._closing
                        or self.clock.seconds() - started >= self._retry_window
                    ):
                        self.log.warn(
                            "transaction {desc} failed after {attempts} attempts: {error}",
                            desc=desc,
                            attempts=attempt + 1,
                            error=repr(exc),
                        )
                        raise StoreUnavailable() from exc
                    self.log.info(
                        "transaction {desc} failed transiently ({error}); retrying",
                        desc=desc,
                        error=repr(exc),
                    )
                else:
                    if write:
                        self.write_episode.committed()
                    return result
                await self._sleep(self._retry_delays[attempt])
                attempt += 1
        finally:
            self._active -= 1
            if self._active == 0:
                waiters, self._idle_waiters = self._idle_waiters, []
                for waiter in waiters:
                    waiter.callback(None)

    def _final_error(self, desc: str, kind: ErrorKind, exc: Exception) -> ChatError:
        """The error for a driver exception that retrying cannot fix; logs what needs it.

        Every driver error ends as a ``ChatError``: a refused write is told
        once per episode (``WriteEpisode``), any other fault in one line, so
        the log never fills with tracebacks the operator cannot act on.
        """
        if kind is ErrorKind.UNIQUE:
            return Conflict()
        if kind is ErrorKind.FOREIGN_KEY:
            return NotFound()
        if kind is ErrorKind.OUT_OF_RANGE:
            return InvalidRequest(OUT_OF_RANGE_MESSAGE)
        if kind is ErrorKind.FULL or kind is ErrorKind.READ_ONLY:
            fault: StoreUnavailable = StoreFull() if kind is ErrorKind.FULL else StoreReadOnly()
            self.write_episode.refused(desc, fault, exc)
            return fault
        self.log.error("transaction {desc} failed: {error}", desc=desc, error=describe_error(exc))
        return InternalError()

    async def _sleep(self, delay: float) -> None:
        sleep: Deferred[None] = deferLater(self.clock, delay)
        self._sleeps.add(sleep)
        try:
            await sleep
        except CancelledError:
            raise StoreUnavailable() from None
        finally:
            self._sleeps.discard(sleep)

    def _in_thread(
        self,
        conn: Any,
        write: bool,
        fn: Callable[..., _T],
        args: tuple[object, ...],
        kwargs: Mapping[str, object],
    ) -> _T:
        # Runs in a pool thread. The commit is ours, so that a commit failure
        # is handled like any other failure of the transaction; adbapi's own
        # commit afterwards finds nothing to do. On an exception adbapi calls
        # conn.rollback(), which is _PoolConnection's.
        cursor = conn.cursor()
        try:
            begin = self.dialect.begin_write if write else self.dialect.begin_read
            if begin is not None:
                cursor.execute(begin)
            result = fn(Txn(cursor, self.dialect, self.sealing), *args, **kwargs)
        finally:
            try:
                cursor.close()
            except Exception:  # noqa: S110 - a broken connection is dealt with by rollback
                pass
        conn.commit()
        return result

    # -- lifecycle ------------------------------------------------------------

    def open(self) -> None:
        """Start the pool; connections open lazily, in its threads, on first use."""
        if self._pool is not None:
            return
        config = self._config
        pool = Pool(
            self.dialect.is_broken,
            config.dbapi_name,
            *config.connect_args,
            cp_min=config.min_connections,
            cp_max=config.max_connections,
            cp_openfun=config.on_connect,
            cp_reconnect=config.reconnect,
            cp_reactor=self._reactor,
            **config.connect_kwargs,
        )
        pool.open()
        self._pool = pool
        self._closing = False

    def close(self) -> Deferred[None]:
        """Let running transactions finish, then close every connection.

        New transactions fail with ``StoreUnavailable`` from now on, and a
        transaction waiting to retry gives up.
        """
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        self._closing = True
        for sleep in list(self._sleeps):
            sleep.cancel()
        if self._active:
            waiter: Deferred[None] = Deferred()
            self._idle_waiters.append(waiter)
            await waiter
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shut()
