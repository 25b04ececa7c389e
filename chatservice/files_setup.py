"""Where a service keeps its files, and the ``Files`` use case wired from a ``Config``.

``FILES_DIR`` when it is set; otherwise beside the SQLite file
(``<database>-files``, so two databases in one folder never share, or
collect, each other's files); in the database itself on PostgreSQL (every
host of a deployment reaches it; ``store.db_blobs``); a temporary
directory, removed at shutdown, for ``memory:``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

from chatservice.blobstore import IBlobStore, LocalBlobStore, Runner
from chatservice.keyring import KeyRing
from chatservice.store import sqlite_path
from chatservice.store.dialects import POSTGRESQL


@dataclass(frozen=True, slots=True)
class BlobPlace:
    """The blob store, and a temporary directory to remove at shutdown (memory: only)."""

    blobs: IBlobStore
    temporary_dir: str | None = None

    def close(self) -> None:
        """Remove the temporary directory, if there is one."""
        if self.temporary_dir is not None:
            shutil.rmtree(self.temporary_dir, ignore_errors=True)


def open_blobs(
    database_url: str, files_dir: str | None, store: Any, run: Runner, ring: KeyRing | None
) -> BlobPlace:
    """The blob store for these settings (``store`` is the chat store, for its database)."""
    if files_dir:
        return BlobPlace(LocalBlobStore(files_dir, run, ring))
    scheme = database_url.partition(":")[0].lower()
    if scheme == "sqlite":
        path = os.path.abspath(sqlite_path(database_url))
        return BlobPlace(LocalBlobStore(path + "-files", run, ring))
    database = getattr(store, "database", None)
    if database is not None and database.dialect is POSTGRESQL:
        from chatservice.store.db_blobs import DatabaseBlobStore

        return BlobPlace(DatabaseBlobStore(database, ring))
    # Named now, made by the first upload: a service that never stores a
    # file leaves nothing behind, even if it is never stopped.
    temporary = os.path.join(tempfile.gettempdir(), f"chatservice-files-{uuid.uuid4().hex}")
    return BlobPlace(LocalBlobStore(temporary, run, ring), temporary)
