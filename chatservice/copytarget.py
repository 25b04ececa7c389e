"""The PostgreSQL half of ``copystore``: migrate the target, claim it, stream the rows in.

Everything here runs inside the copy's one PostgreSQL transaction, so a
failure anywhere leaves the target exactly as it was. Which tables and
columns are copied is ``copytables``' business; this module only moves them.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from chatservice.copytables import SEQUENCES, TABLES, Table
from chatservice.store.database import Txn
from chatservice.store.dialects import POSTGRESQL, WRITER_LOCK_KEY
from chatservice.store.migrations import SchemaTooNew, load_migrations, migrate


class CopyError(Exception):
    """The copy was refused or failed; the message is one line for the operator."""


def fill_target(
    source: sqlite3.Connection, cursor: Any, sequences: dict[str, int], batch_size: int
) -> dict[str, int]:
    """Migrate the target, check it is empty, stream the rows, move the sequences on.

    Returns the number of rows copied per table.
    """
    txn = Txn(cursor, POSTGRESQL)
    # The writers' lock (migrate takes it too) keeps a service that is
    # wrongly still running on the target from posting in the middle.
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITER_LOCK_KEY])
    try:
        migrate(txn, load_migrations(), int(time.time() * 1000))
    except SchemaTooNew as exc:
        raise CopyError(f"--to: {exc}") from None
    claim_empty_target(txn)
    counts: dict[str, int] = {}
    for table in TABLES:
        name = table.name
        counts[name] = copy_table(source, cursor, table, batch_size)
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
    return counts


def claim_empty_target(txn: Txn) -> None:
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


def copy_table(source: sqlite3.Connection, cursor: Any, table: Table, batch_size: int) -> int:
    """Stream one table from SQLite into PostgreSQL with ``COPY``, in its order."""
    names = ", ".join(table.columns)
    reader = source.execute(f"SELECT {names} FROM {table.name} ORDER BY {table.order_by}")
    # SQLite keeps booleans as 0/1; PostgreSQL's boolean columns want bool.
    # The target's own catalogue says which they are, so a new one needs no
    # list (and messages.sealed, sealed text, stays bytes).
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = %s AND data_type = 'boolean'",
        [table.name],
    )
    booleans = {str(row[0]) for row in cursor.fetchall()}
    flags = [i for i, column in enumerate(table.columns) if column in booleans]
    copied = 0
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        while rows := reader.fetchmany(batch_size):
            for row in rows:
                if flags:
                    row = tuple(
                        (None if v is None else bool(v)) if i in flags else v
                        for i, v in enumerate(row)
                    )
                copy.write_row(row)
            copied += len(rows)
    return copied


def one_line(exc: BaseException) -> str:
    """A driver's message on one line (libpq adds hints on more)."""
    return " ".join(str(exc).split()) or type(exc).__name__
