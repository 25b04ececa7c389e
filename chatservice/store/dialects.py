"""What differs between SQLite and PostgreSQL, in one table.

``SQLStore`` writes every statement once, with named placeholders
(``:room_id``), and asks its ``Dialect`` to turn that text into what the
driver wants and to say what a driver exception means. Nothing else in the
store knows which database it talks to.
"""

from __future__ import annotations

import enum
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from twisted.enterprise.adbapi import ConnectionLost


class ErrorKind(enum.Enum):
    """What a driver exception means to the store."""

    UNIQUE = "unique"
    """A unique constraint refused the row: the name is taken."""

    FOREIGN_KEY = "foreign_key"
    """A row points at something that does not exist."""

    TRANSIENT = "transient"
    """The database is busy or the connection broke: try again."""

    FULL = "full"
    """The disk or the database's size limit is full: no write can succeed until
    space is freed, so retrying within a request is pointless."""

    READ_ONLY = "read_only"
    """The database refuses writes (read-only file, transaction or standby)."""

    OUT_OF_RANGE = "out_of_range"
    """A value does not fit its column's type (a number past 64 bits)."""

    OTHER = "other"
    """Any other driver error: a bug or a broken database."""


@dataclass(frozen=True)
class Dialect:
    """How one database spells things and reports errors.

    Attributes:
        name: ``"sqlite"`` or ``"postgresql"``.
        paramstyle: ``"named"`` (sqlite3: ``:name``) or ``"pyformat"``
            (psycopg: ``%(name)s``).
        schema_placeholders: ``{name}`` substitutions for migration files, e.g.
            the auto-incrementing primary key type.
        supports_returning: whether ``INSERT ... RETURNING`` works; without it
            the store reads ``cursor.lastrowid``.
        begin_write: the statement that opens a read-write transaction, or
            None when the driver opens one by itself.
        begin_read: the same for read-only transactions.
        lock_writers: a statement that serializes message writers across
            processes, so ids become visible in increasing order, or None
            when ``begin_write`` already does that.
        classify: maps an exception to an ``ErrorKind``, or None when it is
            not a driver exception at all.
        is_broken: whether a connection is unusable after an error and must
            be replaced.
        take_id: statements that take the next id of the messages sequence
            without inserting a message; the last one returns it. A change
            (edit, delete, reaction) is an event numbered in that one
            sequence, so that a new message stays a plain insert.
        index_backlog: the two statements that index the messages after
            ``:upto`` up to ``:newest`` and move the index's mark to
            ``:newest`` (``search_backlog``), or None when the database
            indexes a new row by itself.
    """

    name: str
    paramstyle: str
    schema_placeholders: Mapping[str, str]
    supports_returning: bool
    begin_write: str | None
    begin_read: str | None
    lock_writers: str | None
    classify: Callable[[BaseException], ErrorKind | None] = field(repr=False)
    is_broken: Callable[[Any], bool] = field(repr=False)
    take_id: tuple[str, ...] = field(repr=False)
    index_backlog: tuple[str, str] | None = field(repr=False)

    def sql(self, text: str) -> str:
        """Return ``text`` with its ``:name`` placeholders in the driver's style."""
        return _convert(self.paramstyle, text)

    def schema_sql(self, text: str) -> str:
        """Substitute ``{placeholder}`` names in a migration file.

        Raises:
            KeyError: the text names a placeholder this dialect does not define,
                so a typo never reaches the database as literal braces.
        """
        return _PLACEHOLDER.sub(lambda m: self.schema_placeholders[m.group(1)], text)


def describe_error(exc: BaseException) -> str:
    """One log line for a driver exception: type, database error code, first line of text.

    psycopg messages can run over several lines (DETAIL, HINT, CONTEXT); the
    first says what happened.
    """
    code = getattr(exc, "sqlstate", None) or getattr(exc, "sqlite_errorname", None)
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__ if code is None else f"{type(exc).__name__} {code}"
    return f"{name}: {lines[0]}" if lines else name


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=256)
def _convert(paramstyle: str, text: str) -> str:
    # The store's statements are module constants, so the cache sees each once.
    if paramstyle == "named":
        return text
    if paramstyle == "pyformat":
        return _NAMED_PARAM.sub(r"%(\1)s", text.replace("%", "%%"))
    raise ValueError(f"unknown paramstyle {paramstyle!r}")


# -- SQLite -------------------------------------------------------------------

# Codes (Python 3.11+ ``sqlite_errorname``) that mean "try again later" rather
# than "this statement is wrong": plain SQLITE_ERROR covers syntax errors and
# missing tables, which retrying cannot fix.
_SQLITE_TRANSIENT_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN")
_SQLITE_TRANSIENT_TEXT = ("locked", "busy", "disk i/o", "unable to open")
# SQLITE_FULL is also what a write on a file system without space gets (ENOSPC).
_SQLITE_FULL_TEXT = "database or disk is full"
_SQLITE_READ_ONLY_TEXT = ("readonly database", "read-only database")


def _classify_sqlite_operational(exc: sqlite3.Error) -> ErrorKind:
    code = getattr(exc, "sqlite_errorname", None)
    if code is not None:
        if code == "SQLITE_FULL":
            return ErrorKind.FULL
        if code.startswith("SQLITE_READONLY"):
            return ErrorKind.READ_ONLY
        return ErrorKind.TRANSIENT if code.startswith(_SQLITE_TRANSIENT_CODES) else ErrorKind.OTHER
    # Python < 3.11 has no error codes: the message is all there is.
    text = str(exc).lower()
    if _SQLITE_FULL_TEXT in text:
        return ErrorKind.FULL
    if any(words in text for words in _SQLITE_READ_ONLY_TEXT):
        return ErrorKind.READ_ONLY
    if any(word in text for word in _SQLITE_TRANSIENT_TEXT):
        return ErrorKind.TRANSIENT
    return ErrorKind.OTHER


def _classify_sqlite(exc: BaseException) -> ErrorKind | None:
    if not isinstance(exc, sqlite3.Error):
        return None
    text = str(exc).lower()
    if isinstance(exc, sqlite3.IntegrityError):
        if "unique constraint" in text:
            return ErrorKind.UNIQUE
        if "foreign key constraint" in text:
            return ErrorKind.FOREIGN_KEY
        return ErrorKind.OTHER
    if isinstance(exc, sqlite3.OperationalError):
        return _classify_sqlite_operational(exc)
    return ErrorKind.OTHER


def _sqlite_is_broken(conn: Any) -> bool:
    # A local file connection does not break the way a socket does; an error
    # that left it unusable shows up as a failed rollback instead.
    return False


# AUTOINCREMENT gives a new row max(sqlite_sequence's seq, largest id) + 1,
# so raising seq takes an id that no message will get; migration 0002 makes
# sure the row exists (_SQLITE_PREPARE_TAKE_ID). Only safe because writers
# are serialised (BEGIN IMMEDIATE): nobody else can take the same value
# meanwhile.
_SQLITE_BUMP = "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages'"
_SQLITE_TAKE_ID = (
    (_SQLITE_BUMP + " RETURNING seq",)
    if sqlite3.sqlite_version_info >= (3, 35, 0)
    else (_SQLITE_BUMP, "SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
)
# SQLite only creates sqlite_sequence's row for messages with the first
# message ever inserted: make sure it is there (seq 0 gives the next
# message id 1, as an empty table would).
_SQLITE_PREPARE_TAKE_ID = (
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', 0"
    " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages')"
)

SQLITE = Dialect(
    name="sqlite",
    paramstyle="named",
    schema_placeholders={
        # AUTOINCREMENT: ids are never reused, even after the newest row is
        # deleted, so "after=<id>" can never skip a message.
        "autoincrement_pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "blob": "BLOB",
        "boolean": "INTEGER",
        "false": "0",
        # An alias of the rowid: no index of its own.
        "given_pk": "INTEGER PRIMARY KEY",
        "prepare_take_id": _SQLITE_PREPARE_TAKE_ID,
    },
    supports_returning=sqlite3.sqlite_version_info >= (3, 35, 0),
    # IMMEDIATE takes the write lock up front: a deferred transaction that
    # later upgrades can fail with SQLITE_BUSY even with a busy timeout.
    begin_write="BEGIN IMMEDIATE",
    begin_read="BEGIN",
    lock_writers=None,
    classify=_classify_sqlite,
    is_broken=_sqlite_is_broken,
    take_id=_SQLITE_TAKE_ID,
    # FTS5 (schema/0003_search.sqlite.sql) has no insert trigger: new
    # messages wait in a backlog (schema/0012, store/search_backlog.py) and
    # are indexed in bulk. Both indexed columns, as the triggers' 'delete'
    # will name them.
    index_backlog=(
        # A row some other writer already indexed (a 'rebuild', a process of
        # the previous version on the same file) is skipped: indexed twice,
        # an external-content index is corrupt.
        "INSERT INTO messages_fts (rowid, content, room_id)"
        " SELECT id, content, room_id FROM messages WHERE id > :upto AND id <= :newest"
        " AND id NOT IN (SELECT id FROM messages_fts_docsize WHERE id > :upto)",
        "UPDATE search_backlog SET indexed_upto = :newest",
    ),
)


# -- PostgreSQL ---------------------------------------------------------------


def _classify_psycopg(exc: BaseException) -> ErrorKind | None:
    if isinstance(exc, ConnectionLost):
        return ErrorKind.TRANSIENT
    try:
        import psycopg
        from psycopg import errors
    except ImportError:  # pragma: no cover - the dialect is only built with psycopg
        return None
    if not isinstance(exc, psycopg.Error):
        return None
    if isinstance(exc, errors.UniqueViolation):
        return ErrorKind.UNIQUE
    if isinstance(exc, errors.ForeignKeyViolation):
        return ErrorKind.FOREIGN_KEY
    # Checked before OperationalError, which DiskFull is: only the rest of
    # class 53 (too many connections, out of memory) passes with time.
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate == "53100":  # disk_full
        return ErrorKind.FULL
    if sqlstate == "25006":  # read_only_sql_transaction, also a hot standby's answer
        return ErrorKind.READ_ONLY
    if sqlstate == "22003":  # numeric_value_out_of_range
        return ErrorKind.OUT_OF_RANGE
    # OperationalError covers lost and refused connections, admin shutdown,
    # serialization failures and deadlocks (TransactionRollback); InterfaceError
    # is what a connection closed under us raises.
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return ErrorKind.TRANSIENT
    return ErrorKind.OTHER


def _psycopg_is_broken(conn: Any) -> bool:
    return bool(getattr(conn, "closed", False) or getattr(conn, "broken", False))


# A constant key for pg_advisory_xact_lock: "chat" in ASCII.
WRITER_LOCK_KEY = 0x63686174

POSTGRESQL = Dialect(
    name="postgresql",
    paramstyle="pyformat",
    schema_placeholders={
        "autoincrement_pk": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        "blob": "BYTEA",
        "boolean": "BOOLEAN",
        "false": "FALSE",
        "given_pk": "BIGINT PRIMARY KEY",
        "prepare_take_id": "",
    },
    supports_returning=True,
    begin_write=None,
    begin_read=None,
    # Sequence values are handed out at INSERT time, not at commit: without
    # this lock two writers could commit ids 11 then 10, and a reader paging
    # with after=11 would never see 10.
    lock_writers=f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})",
    classify=_classify_psycopg,
    is_broken=_psycopg_is_broken,
    # The identity column's own sequence: the next message continues after it.
    take_id=("SELECT nextval(pg_get_serial_sequence('messages', 'id'))",),
    # search_vector is a generated column: computed with the row itself.
    index_backlog=None,
)
