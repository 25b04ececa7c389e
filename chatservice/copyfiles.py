"""The files half of ``copystore``: blob bodies from a local directory into database chunks.

A SQLite deployment keeps its files in a directory (``<database>-files`` or
``FILES_DIR``); the PostgreSQL one it moves to keeps them in the database,
where every host reaches them (``store.db_blobs``). Each blob the copied
``blobs`` table names is read from the directory a block at a time (opened
with ``ENCRYPTION_KEY`` if it was sealed) and written as ``file_chunks``
rows (sealed again, chunk by chunk, if a key is set), inside the copy's one
transaction. A blob whose bytes are missing stops the copy: the target then
stays as it was.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from chatservice import blobcrypt
from chatservice.blobstore import BlobMissing, LocalBlobStore
from chatservice.keyring import KeyRing
from chatservice.store.db_blobs import CHUNK


def _inline(fn: Any, *args: Any) -> Deferred[Any]:
    raise AssertionError("copyfiles reads blobs synchronously")  # pragma: no cover


def copy_files(
    files_dir: str, blobs: list[tuple[str, int]], cursor: Any, ring: KeyRing | None
) -> int:
    """Write every blob of ``blobs`` from ``files_dir`` as chunk rows; how many bytes.

    Raises:
        BlobMissing: a blob's file is not in ``files_dir`` (or is sealed and
            no key ring was given).
    """
    local = LocalBlobStore(files_dir, _inline, ring)
    copied = 0
    for sha256, size in blobs:
        count = blobcrypt.chunk_count(size, CHUNK)
        for index in range(count):
            data = local._read(sha256, size, index * CHUNK, CHUNK)
            if len(data) != min(CHUNK, size - index * CHUNK):
                raise BlobMissing(f"{sha256} is shorter than its row says")
            sealed = ring is not None
            if ring is not None:
                data = ring.seal(data, blobcrypt.chunk_aad(sha256, index, index == count - 1))
            cursor.execute(
                "INSERT INTO file_chunks (sha256, idx, sealed, data) VALUES (%s, %s, %s, %s)",
                [sha256, index, sealed, data],
            )
            copied += len(data)
    return copied
