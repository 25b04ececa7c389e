r"""Copy a SQLite chat database into PostgreSQL: the way from the embedded default up.

Run it with the service stopped::

    python -m chatservice.copystore --from sqlite:///chat.sqlite3 \
        --to postgresql://chat:secret@db.example/chat

Users (with their password hashes and their accounts' state: token
generations, revoked sessions, admins, disabled and deleted accounts),
rooms, messages (edits, tombstones and replies as they are; sealed text
as it is, see ``store.sealing``: no key is needed), the timeline's
events and the reactions keep their ids, timestamps and ``client_msg_id``,
so tokens (and their revocations), ``since=``/``after=``
cursors and client de-duplication stay valid across the move. The target is
migrated with the store's own migrations and filled in one transaction: a
failure leaves it exactly as it was. A target that already holds chat data
is refused (a General room that a service start created on its own, with no
users and no messages, is not data and is replaced).

This is an offline admin command, so it talks to sqlite3 and psycopg
directly instead of through the reactor and the store's pool.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatservice.blobstore import BlobMissing
from chatservice.copyfiles import copy_files
from chatservice.errors import ChatError
from chatservice.keyring import CannotOpen, KeyRing, KeyRingError, UnknownKey, parse_key_ring
from chatservice.store import redact_url, sqlite_path
from chatservice.store.database import Txn
from chatservice.store.dialects import POSTGRESQL, WRITER_LOCK_KEY
from chatservice.store.migrations import SchemaTooNew, load_migrations, migrate

DEFAULT_BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class Table:
    """One table to copy: its columns and the order to read them in."""

    name: str
    columns: tuple[str, ...]
    order_by: str = "id"


# The tables in foreign-key order, each with every column of the newest
# schema. Naming the columns (rather than SELECT *) makes a schema change
# that this command does not know about fail loudly instead of half-copying.
# Messages come in id order, so a reply follows the message it answers.
TABLES: tuple[Table, ...] = (
    Table(
        "users",
        (
            "id",
            "username",
            "username_key",
            "password_hash",
            "created_at",
            "token_generation",
            "account_version",
            "is_admin",
            "disabled_at",
            "deleted_at",
        ),
    ),
    Table("rooms", ("id", "name", "name_key", "description", "created_by", "created_at")),
    Table(
        "messages",
        (
            "id",
            "room_id",
            "sender_id",
            "username",
            "content",
            "ts",
            "client_msg_id",
            "reply_to",
            "edited_at",
            "deleted",
            "mentioned",
            # Sealed text is copied as it is: it is bound to its message id,
            # which the copy keeps, so the same ENCRYPTION_KEY opens it there
            # and the command needs no key (content holds its tokens).
            "sealed",
        ),
    ),
    Table("events", ("id", "room_id", "message_id", "kind", "user_id", "ts")),
    Table(
        "reactions", ("message_id", "user_id", "emoji", "event_id", "ts"), "message_id, event_id"
    ),
    Table("revoked_sessions", ("session", "user_id", "expires_at", "revoked_at"), "session"),
    # Files (issue 12): their rows; their bytes follow (``copyfiles``).
    Table("blobs", ("sha256", "size", "created_at"), "sha256"),
    Table(
        "uploads",
        (
            "id",
            "owner_id",
            "name",
            "size",
            "sha256",
            "content_type",
            "width",
            "height",
            "thumb_sha256",
            "thumb_size",
            "created_at",
            "attached_at",
        ),
    ),
    Table("message_attachments", ("message_id", "position", "upload_id"), "message_id, position"),
    Table("mentions", ("message_id", "user_id", "room_id"), "message_id, user_id"),
    Table("read_markers", ("user_id", "room_id", "last_read_id"), "user_id, room_id"),
    # The keys the sealed rows need, with their sentinels (start-up checks them).
    Table("sealing_keys", ("key_id", "sentinel", "added_at"), "key_id"),
)

# Each id sequence of the target and the tables whose ids it handed out:
# events have none of their own, the messages sequence numbers their changes.
SEQUENCES: dict[str, tuple[str, ...]] = {
    "users": ("users",),
    "rooms": ("rooms",),
    "messages": ("messages", "events"),
    "uploads": ("uploads",),
}


class CopyError(Exception):
    """The copy was refused or failed; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class CopyCounts:
    """How many rows of each table were copied."""

    users: int
    rooms: int
    messages: int
    events: int
    reactions: int
    revoked_sessions: int = 0
    mentions: int = 0
    read_markers: int = 0
    blobs: int = 0
    uploads: int = 0
    message_attachments: int = 0
    file_bytes: int = 0
    sealing_keys: int = 0

    def __str__(self) -> str:
        return (
            f"{self.users} users, {self.rooms} rooms, {self.messages} messages, "
            f"{self.events} events, {self.reactions} reactions, "
            f"{self.revoked_sessions} revoked sessions, {self.uploads} uploads "
            f"({self.blobs} files, {self.file_bytes} bytes)"
        )


def copy_store(
    source_url: str,
    target_url: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    files_dir: str | None = None,
    ring: KeyRing | None = None,
) -> CopyCounts:
    """Copy every user, room, message, event and reaction from SQLite into PostgreSQL.

    Rows are streamed in batches of ``batch_size`` with ``COPY``, so a table
    of millions of messages never sits in memory. Afterwards each id
    sequence continues after the largest id ever handed out by the source
    (for messages, whose sequence also numbers the changes in events, that
    includes every event id). PostgreSQL computes each copied message's
    search vector as the row arrives, so the search index is complete.

    Args:
        source_url: ``sqlite:///relative`` or ``sqlite:////absolute``; opened
            read-only, so a missing file is an error rather than a new database.
        target_url: a ``postgresql://`` URL (libpq parameters such as
            ``options`` or ``connect_timeout`` may be in its query string).
        batch_size: rows read from SQLite at a time.
        files_dir: the source's files directory (default ``<source file>-files``);
            its blobs become chunk rows of the target.
        ring: ``ENCRYPTION_KEY``'s ring: opens sealed source files, seals the
            target's chunks.

    Returns:
        The number of rows copied per table.

    Raises:
        CopyError: a URL is wrong, a database cannot be opened, the source
            schema is not the one this code writes, or the target is not empty.
            The target is unchanged.
    """
    path = _source_path(source_url)
    _check_target_url(target_url)
    try:
        import psycopg
    except ImportError:
        raise CopyError(
            "PostgreSQL needs psycopg: pip install 'chatservice[postgresql]'"
        ) from None

    source = _open_source(path)
    try:
        # One read transaction: a consistent snapshot even if a writer is active.
        source.execute("BEGIN")
        _check_source_schema(source)
        sequences = _sqlite_sequences(source)
        kwargs: dict[str, Any] = {} if "connect_timeout" in target_url else {"connect_timeout": 10}
        try:
            with psycopg.connect(target_url, **kwargs) as target, target.cursor() as cursor:
                # Leaving the block commits, or rolls back if anything raised.
                counts = _fill_target(source, cursor, sequences, batch_size)
                folder = files_dir or os.path.abspath(path) + "-files"
                blobs = source.execute("SELECT sha256, size FROM blobs ORDER BY sha256").fetchall()
                try:
                    copied = copy_files(folder, [(str(s), int(n)) for s, n in blobs], cursor, ring)
                except (BlobMissing, CannotOpen, UnknownKey) as exc:
                    raise CopyError(f"files in {folder}: {type(exc).__name__} {exc}") from None
                return dataclasses.replace(counts, file_bytes=copied)
        except psycopg.Error as exc:
            raise CopyError(f"PostgreSQL at {redact_url(target_url)}: {_one_line(exc)}") from exc
    except sqlite3.Error as exc:
        raise CopyError(f"SQLite file {path}: {_one_line(exc)}") from exc
    finally:
        source.close()


def _source_path(url: str) -> str:
    try:
        return sqlite_path(url)
    except ChatError as exc:
        raise CopyError(f"--from: {exc.message}") from None


def _check_target_url(url: str) -> None:
    scheme = url.partition(":")[0].lower()
    if scheme not in ("postgresql", "postgres") or not url[len(scheme) :].startswith("://"):
        raise CopyError(f"--to must be a postgresql:// URL, not {redact_url(url)!r}")


def _open_source(path: str) -> sqlite3.Connection:
    if not Path(path).is_file():
        raise CopyError(f"--from: no SQLite file at {path}")
    # Read-only: the copy must never change (or create) the source.
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise CopyError(f"SQLite file {path}: {_one_line(exc)}") from exc


def _check_source_schema(source: sqlite3.Connection) -> None:
    """Refuse a source that is not a chat database at exactly the newest schema.

    The column lists in ``TABLES`` describe the newest schema only; an older
    file is brought up to date by starting the service on it once.
    """
    newest = load_migrations()[-1].version
    try:
        row = source.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        raise CopyError("--from is not a chatservice database (no schema_version table)") from None
    version = 0 if row is None or row[0] is None else int(row[0])
    if version < newest:
        raise CopyError(
            f"--from is at schema version {version}, this code writes {newest}: start "
            "chatservice once on it (it migrates at start-up), stop it, then copy"
        )
    if version > newest:
        raise CopyError(
            f"--from is at schema version {version}, newer than this code ({newest}): "
            "copy with the newer chatservice"
        )


def _sqlite_sequences(source: sqlite3.Connection) -> dict[str, int]:
    """Return the largest id SQLite ever handed out per table (AUTOINCREMENT keeps it).

    It can exceed ``MAX(id)`` if the newest rows were deleted; continuing
    after it keeps the promise that an id is never reused.
    """
    rows = source.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
    return {str(name): int(seq) for name, seq in rows}


def _fill_target(
    source: sqlite3.Connection, cursor: Any, sequences: dict[str, int], batch_size: int
) -> CopyCounts:
    """Migrate the target, check it is empty, stream the rows, move the sequences on.

    Runs inside the caller's PostgreSQL transaction.
    """
    txn = Txn(cursor, POSTGRESQL)
    # The writers' lock (migrate takes it too) keeps a service that is
    # wrongly still running on the target from posting in the middle.
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITER_LOCK_KEY])
    try:
        migrate(txn, load_migrations(), int(time.time() * 1000))
    except SchemaTooNew as exc:
        raise CopyError(f"--to: {exc}") from None
    _claim_empty_target(txn)
    counts: dict[str, int] = {}
    for table in TABLES:
        name = table.name
        counts[name] = _copy_table(source, cursor, table, batch_size)
        row = txn.query_one(f"SELECT COUNT(*) FROM {name}")
        assert row is not None
        if int(row[0]) != counts[name]:
            raise CopyError(f"{name}: copied {counts[name]} rows but the target holds {row[0]}")
    for name, numbered in SEQUENCES.items():
        last_id = sequences.get(name, 0)
        for table_name in numbered:
            row = txn.query_one(f"SELECT MAX(id) FROM {table_name}")
            assert row is not None
            last_id = max(last_id, int(row[0] or 0))
        # is_called=false with 1 on an empty table: the next id is 1.
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)",
            [name, max(last_id, 1), last_id > 0],
        )
    return CopyCounts(**counts)


def _claim_empty_target(txn: Txn) -> None:
    """Refuse a target with chat data; drop a General room a service start made on its own.

    ``ChatService`` creates General (with no creator) when it starts, so a
    PostgreSQL database it was pointed at once holds that row and nothing
    else. The source has its own General, which takes its place.
    """
    row = txn.query_one(
        "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM rooms),"
        " (SELECT COUNT(*) FROM messages)"
    )
    assert row is not None
    users, rooms, messages = (int(value) for value in row)
    if users == 0 and messages == 0:
        # A service started on the empty target with ENCRYPTION_KEY registered
        # its key, sealing nothing: the source's keys take the place.
        txn.execute("DELETE FROM sealing_keys")
    if users == 0 and messages == 0 and rooms == 0:
        return
    if users == 0 and messages == 0 and rooms == 1:
        general = txn.query_one(
            "SELECT id FROM rooms WHERE name_key = 'general' AND created_by IS NULL"
        )
        if general is not None:
            txn.execute("DELETE FROM rooms")
            return
    raise CopyError(
        f"--to already holds chat data ({users} users, {rooms} rooms, {messages} messages); "
        "copy only into an empty database"
    )


_BOOLEANS = ("deleted", "is_admin", "sealed")


def _copy_table(source: sqlite3.Connection, cursor: Any, table: Table, batch_size: int) -> int:
    """Stream one table from SQLite into PostgreSQL with ``COPY``, in its order."""
    names = ", ".join(table.columns)
    reader = source.execute(f"SELECT {names} FROM {table.name} ORDER BY {table.order_by}")
    # SQLite keeps booleans as 0/1; PostgreSQL's boolean columns want bool.
    # (messages.sealed is the sealed text, bytes; file_chunks.sealed a flag.)
    booleans = ("deleted", "is_admin") if table.name == "messages" else _BOOLEANS
    flags = [i for i, column in enumerate(table.columns) if column in booleans]
    copied = 0
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        while rows := reader.fetchmany(batch_size):
            for row in rows:
                if flags:
                    row = tuple(bool(v) if i in flags else v for i, v in enumerate(row))
                copy.write_row(row)
            copied += len(rows)
    return copied


def _one_line(exc: BaseException) -> str:
    # Driver messages can span lines (libpq adds hints); the operator gets one.
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status (0 copied, 1 refused or failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m chatservice.copystore",
        description="Copy a chatservice SQLite database into an empty PostgreSQL database.",
    )
    parser.add_argument("--from", dest="source", required=True, help="sqlite:///chat.sqlite3")
    parser.add_argument("--to", dest="target", required=True, help="postgresql://user@host/db")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"rows read from SQLite at a time (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--files-dir",
        help="the source's files directory (default: <source file>-files); its files are "
        "copied into the database (sealed with ENCRYPTION_KEY if it is set)",
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    try:
        ring = parse_key_ring(os.environ.get("ENCRYPTION_KEY"))
        counts = copy_store(
            args.source,
            args.target,
            batch_size=args.batch_size,
            files_dir=args.files_dir,
            ring=ring,
        )
    except KeyRingError as exc:
        print(f"copystore: error: {exc}", file=sys.stderr)
        return 1
    except CopyError as exc:
        print(f"copystore: error: {exc}", file=sys.stderr)
        return 1
    print(f"copied {counts} into {redact_url(args.target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
