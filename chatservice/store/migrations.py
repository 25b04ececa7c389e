"""Numbered schema migrations, applied in one transaction when the store starts.

Each file in ``chatservice/store/schema/`` is named ``NNNN_what.sql``; its
number is the schema version it brings the database to. The
``schema_version`` table keeps one row per applied file. ``{placeholders}``
in a file are filled in by the dialect, so one file serves every database.
A version whose SQL cannot be shared (SQLite's FTS5 and PostgreSQL's
``tsvector`` have nothing in common) comes as ``NNNN_what.sqlite.sql`` and
``NNNN_what.postgresql.sql`` instead, one per dialect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from chatservice.store.database import Txn
from chatservice.store.dialects import Dialect

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(sqlite|postgresql))?\.sql$")


class SchemaTooNew(RuntimeError):
    """The database was migrated by newer code than this one.

    Starting anyway could write rows the newer schema does not expect, so the
    store refuses; run the newer code, or restore a matching backup.
    """

    def __init__(self, database_version: int, newest_known: int) -> None:
        self.database_version = database_version
        self.newest_known = newest_known
        super().__init__(
            f"the database schema is at version {database_version}, but this code only "
            f"knows versions up to {newest_known}; refusing to start"
        )


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema file."""

    version: int
    name: str
    text: str
    dialect_texts: Mapping[str, str] = field(default_factory=dict)
    """For a per-dialect version: each dialect's file, by ``Dialect.name``."""

    def statements(self, dialect: Dialect) -> list[str]:
        """Split the file into statements with the dialect's placeholders filled in.

        Drivers run one statement per ``execute`` (and sqlite3's
        ``executescript`` would commit on its own), so the file is split on
        semicolons that end a line, after dropping ``--`` comment lines.
        """
        text = self.text
        if self.dialect_texts:
            if dialect.name not in self.dialect_texts:
                raise RuntimeError(f"schema version {self.version} has no {dialect.name} file")
            text = self.dialect_texts[dialect.name]
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
        body = dialect.schema_sql("\n".join(lines))
        return [part.strip() for part in re.split(r";\s*$", body, flags=re.M) if part.strip()]


def load_migrations() -> list[Migration]:
    """Read every schema file shipped with the package, ordered by version.

    Numbers may have gaps: features built in parallel take their numbers
    ahead of time, and one may ship before another (``migrate`` applies
    every file a database has not recorded, whatever its number).

    Raises:
        RuntimeError: a number is used twice, or does not start at 1.
    """
    folder = resources.files("chatservice.store").joinpath("schema")
    files: dict[tuple[int, str], dict[str | None, str]] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        key = (int(match.group(1)), match.group(2))
        files.setdefault(key, {})[match.group(3)] = entry.read_text("utf-8")
    found: list[Migration] = []
    for (version, stem), texts in files.items():
        shared = texts.pop(None, None)
        if shared is not None and texts:
            raise RuntimeError(f"schema version {version} is both shared and per dialect")
        name = f"{version:04d}_{stem}.sql"
        found.append(Migration(version, name, shared or "", {k: v for k, v in texts.items() if k}))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or (versions and versions[0] != 1):
        raise RuntimeError(f"schema files must have distinct numbers from 1: {versions}")
    return found


_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)
"""
_APPLIED_VERSIONS = "SELECT version FROM schema_version"
_RECORD_VERSION = (
    "INSERT INTO schema_version (version, name, applied_at) VALUES (:version, :name, :applied_at)"
)


def migrate(txn: Txn, migrations: Sequence[Migration], now_ms: int) -> tuple[int, int]:
    """Apply every migration newer than the database, inside the caller's transaction.

    Runs in a pool thread. Concurrent starts of several processes are
    serialized by the dialect's writer lock (PostgreSQL) or the write
    transaction itself (SQLite), so each file is applied exactly once.
    A file is applied if its version is not recorded yet, even below the
    newest recorded one (a number skipped by an earlier release).

    Returns:
        The schema version before and after (the highest recorded).

    Raises:
        SchemaTooNew: the database is newer than the newest file.
    """
    txn.lock_writers()
    txn.execute(_CREATE_VERSION_TABLE)
    applied = {int(row[0]) for row in txn.query(_APPLIED_VERSIONS)}
    current = max(applied, default=0)
    newest = migrations[-1].version if migrations else 0
    if current > newest:
        raise SchemaTooNew(current, newest)
    for migration in migrations:
        if migration.version in applied:
            continue
        for statement in migration.statements(txn.dialect):
            txn.execute(statement)
        txn.execute(
            _RECORD_VERSION,
            {"version": migration.version, "name": migration.name, "applied_at": now_ms},
        )
    return current, newest
