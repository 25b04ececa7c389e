r"""Copy a SQLite chat database into PostgreSQL: the way from the embedded default up.

Run it with the service stopped::

    python -m chatservice.copystore --from sqlite:///chat.sqlite3 \
        --to postgresql://chat:secret@db.example/chat

Every table of the database is copied (``copytables`` lists them, and
the few it leaves out with the reason): users (with their password hashes
and their accounts' state: token generations, revoked sessions, admins,
disabled and deleted accounts), rooms with their visibility, memberships
and membership events, the audit log, messages (edits, tombstones and
replies as they are; sealed text as it is, see ``store.sealing``: no key
is needed) with the encryption keys' sentinels, the timeline's events, reactions, mentions, read
markers, uploads with their attachments and files (``copyfiles``),
webhooks with their secrets, cursors and dead letters (deliveries resume
where they were), bots with their key hashes and push subscriptions. Ids,
timestamps and ``client_msg_id`` are kept, so tokens (and their
revocations), ``since=``/``after=`` cursors, bot keys and client
de-duplication stay valid across the move. The target is
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatservice.blobstore import BlobMissing
from chatservice.copyfiles import copy_files
from chatservice.copytarget import CopyError, fill_target, one_line
from chatservice.errors import ChatError
from chatservice.keyring import CannotOpen, KeyRing, KeyRingError, UnknownKey, parse_key_ring
from chatservice.store import redact_url, sqlite_path
from chatservice.store.migrations import load_migrations

__all__ = ["CopyCounts", "CopyError", "copy_store", "main"]

DEFAULT_BATCH_SIZE = 5000


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
    sealing_keys: int = 0
    sealing_progress: int = 0
    members: int = 0
    member_events: int = 0
    audit_log: int = 0
    webhooks: int = 0
    webhook_dead_letters: int = 0
    bots: int = 0
    push_subscriptions: int = 0
    file_bytes: int = 0

    def __str__(self) -> str:
        return (
            f"{self.users} users, {self.rooms} rooms, {self.messages} messages, "
            f"{self.events} events, {self.reactions} reactions, "
            f"{self.revoked_sessions} revoked sessions, {self.uploads} uploads "
            f"({self.blobs} files, {self.file_bytes} bytes), {self.members} members, "
            f"{self.webhooks} webhooks ({self.webhook_dead_letters} dead letters), "
            f"{self.bots} bots, {self.push_subscriptions} push subscriptions"
        )


def copy_store(
    source_url: str,
    target_url: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    files_dir: str | None = None,
    ring: KeyRing | None = None,
) -> CopyCounts:
    """Copy every table of ``copytables.TABLES`` (and the files) from SQLite into PostgreSQL.

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
                counts = CopyCounts(**fill_target(source, cursor, sequences, batch_size))
                folder = files_dir or os.path.abspath(path) + "-files"
                blobs = source.execute("SELECT sha256, size FROM blobs ORDER BY sha256").fetchall()
                try:
                    copied = copy_files(folder, [(str(s), int(n)) for s, n in blobs], cursor, ring)
                except (BlobMissing, CannotOpen, UnknownKey) as exc:
                    raise CopyError(f"files in {folder}: {type(exc).__name__} {exc}") from None
                return dataclasses.replace(counts, file_bytes=copied)
        except psycopg.Error as exc:
            raise CopyError(f"PostgreSQL at {redact_url(target_url)}: {one_line(exc)}") from exc
    except sqlite3.Error as exc:
        raise CopyError(f"SQLite file {path}: {one_line(exc)}") from exc
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
        raise CopyError(f"SQLite file {path}: {one_line(exc)}") from exc


def _check_source_schema(source: sqlite3.Connection) -> None:
    """Refuse a source that is not a chat database at exactly the newest schema.

    The column lists in ``copytables.TABLES`` describe the newest schema only; an older
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
