"""The adbapi connection pool under ``Database``, and how to configure it.

adbapi has no type annotations and logs a failed rollback as an error over
the real exception; this module gives the store a typed pool whose
connections are dropped quietly when they break, so ``Database`` can
classify and retry the original error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred

from chatservice.store import UnsupportedStoreURL, redact_url
from chatservice.store.worker_threads import WorkerThreads

_T = TypeVar("_T")


class PoolConnection(adbapi.Connection):
    """An adbapi connection wrapper whose rollback drops a broken connection quietly.

    adbapi's own rollback logs "Rollback failed" as an error and raises
    ``ConnectionLost`` over the real exception; ours keeps the original
    exception (so ``run_interaction`` can classify and retry it) and makes the
    next attempt on this thread open a fresh connection.
    """

    _pool: Pool
    _connection: Any

    def rollback(self) -> None:
        """Roll back; on failure, or if the connection broke, drop it without logging."""
        raw = self._connection
        try:
            raw.rollback()
            broken = self._pool.is_broken(raw)
        except Exception:
            broken = True
        if broken:
            self._pool.drop(raw)


class Pool(adbapi.ConnectionPool):
    """adbapi's pool with our connection wrapper and typed entry points.

    adbapi has no annotations; the few calls the store makes are typed here
    once instead of silencing mypy at every call site.
    """

    connectionFactory = PoolConnection

    def __init__(
        self, is_broken: Callable[[Any], bool], dbapi_name: str, *args: object, **kwargs: object
    ) -> None:
        # With the reactor already running, adbapi's __init__ starts the
        # pool at once (callWhenRunning): ``start`` below swaps the threads in
        # first. Otherwise they are swapped in here and started with the reactor.
        super().__init__(dbapi_name, *args, **kwargs)
        self.is_broken = is_broken
        self._use_worker_threads()

    def start(self) -> None:
        """Start the threads (adbapi's ``start``, on ``WorkerThreads``)."""
        self._use_worker_threads()
        super().start()

    def _use_worker_threads(self) -> None:
        # One thread per connection, fed from one queue (``worker_threads``):
        # Twisted's general thread pool cost a fifth of a commit's CPU.
        # adbapi only starts and stops it, and hands it to deferToThreadPool.
        if not isinstance(self.threadpool, WorkerThreads):
            threads = WorkerThreads(self.max, f"chatservice-{self.dbapiName}", self.min)
            self.threadpool = cast(Any, threads)

    def run(self, fn: Callable[..., _T], *args: object) -> Deferred[_T]:
        """Run ``fn(connection, *args)`` in a pool thread."""
        result: Deferred[_T] = self.runWithConnection(fn, *args)
        return result

    def drop(self, raw: Any) -> None:
        """Close this thread's connection, so the next use opens a new one."""
        if self.connections.get(self.threadID()) is raw:
            self.disconnect(raw)

    def open(self) -> None:
        """Start the pool's threads (connections open lazily, on first use)."""
        self.start()

    def shut(self) -> None:
        """Stop the threads and close every connection."""
        self.close()


@dataclass(frozen=True)
class PoolConfig:
    """How to open the database: driver module, connect arguments, pool size.

    Attributes:
        dbapi_name: the DB-API module, ``"sqlite3"`` or ``"psycopg"``.
        connect_args: positional arguments to its ``connect()``.
        connect_kwargs: keyword arguments to its ``connect()``.
        min_connections: connections kept open.
        max_connections: the most connections (and pool threads) at once.
        on_connect: runs on every new connection, in its thread.
        reconnect: adbapi's ``cp_reconnect``.
        description: where the database is, safe to log (no password).
    """

    dbapi_name: str
    connect_args: tuple[object, ...]
    connect_kwargs: Mapping[str, object]
    min_connections: int
    max_connections: int
    description: str
    on_connect: Callable[[Any], None] | None = field(default=None, repr=False)
    reconnect: bool = False


def sqlite_on_connect(busy_timeout_ms: int) -> Callable[[Any], None]:
    """Return the per-connection setup for SQLite.

    WAL lets readers in other processes proceed during a write;
    ``synchronous=FULL`` makes every commit durable before it is acknowledged
    (the service acks only after commit); foreign keys are off by default in
    SQLite; the busy timeout makes a competing writer wait instead of failing.
    """

    def on_connect(conn: Any) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    return on_connect


def postgresql_config(
    dsn: str, pool_size: int, connect_kwargs: Mapping[str, object]
) -> PoolConfig:
    """Return the pool settings for PostgreSQL via psycopg 3 (see ``SQLStore.postgresql``).

    Raises:
        UnsupportedStoreURL: ``dsn`` is not a libpq URL or key/value string.
    """
    # Imported here: psycopg is optional, needed only for PostgreSQL.
    from psycopg.conninfo import conninfo_to_dict

    # Keyword arguments override the DSN's own settings, so each default
    # only goes in when the DSN does not set it. Against a database host
    # that silently drops packets: connect_timeout bounds a new
    # connection, and TCP keepalives plus tcp_user_timeout (ms) make a
    # query on an already open connection fail in about 15 s instead of
    # waiting for the kernel's retransmission limit (many minutes).
    defaults: dict[str, object] = {
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 15000,
    }
    try:
        given = conninfo_to_dict(dsn)
    except Exception:  # psycopg.ProgrammingError: not a libpq connection string
        raise UnsupportedStoreURL(
            f"{redact_url(dsn)!r} is not a valid PostgreSQL connection URL"
        ) from None
    kwargs = {key: value for key, value in defaults.items() if key not in given}
    kwargs.update(connect_kwargs)
    return PoolConfig(
        dbapi_name="psycopg",
        connect_args=(dsn,),
        connect_kwargs=kwargs,
        min_connections=1,
        max_connections=pool_size,
        reconnect=True,
        description=redact_url(dsn),
    )
