"""``DatabaseBlobStore``: file bodies as chunk rows of the database every host shares.

For a deployment of several hosts on PostgreSQL, a local directory would
hold each file on one host only; the database they all reach already
holds everything else. Each blob is rows of ``file_chunks`` of ``CHUNK``
plaintext bytes (sealed one by one with a key ring), so that a ``Range``
read fetches and opens only the rows it needs and an upload is written
a chunk at a time from its temporary file, never whole in memory. It works
on SQLite too (the tests use it there), though a local directory is the
better home for a single host.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from zope.interface import implementer

from chatservice import blobcrypt
from chatservice.blobstore import BlobMissing, IBlobStore, check_name
from chatservice.keyring import KeyRing, sealed_key_id
from chatservice.store.database import Database, Txn

CHUNK = 256 * 1024


@implementer(IBlobStore)
class DatabaseBlobStore:
    """Blobs in ``file_chunks`` rows of ``database``; sealed with ``ring`` when given."""

    def __init__(self, database: Database, ring: KeyRing | None = None) -> None:
        self._database = database
        self._ring = ring

    def put(self, sha256: str, size: int, source: str) -> Deferred[None]:
        """See ``IBlobStore``."""
        check_name(sha256)
        return self._database.run_interaction("put_blob", self._put, sha256, size, source)

    def _put(self, txn: Txn, sha256: str, size: int, source: str) -> None:
        if self._has(txn, sha256):
            return
        ring = self._ring
        count = blobcrypt.chunk_count(size, CHUNK)
        with open(source, "rb") as src:
            for index in range(count):
                data = src.read(CHUNK)
                last = index == count - 1
                if ring is not None:
                    data = ring.seal(data, blobcrypt.chunk_aad(sha256, index, last))
                txn.execute(
                    "INSERT INTO file_chunks (sha256, idx, sealed, data)"
                    " VALUES (:sha256, :idx, :sealed, :data)",
                    {"sha256": sha256, "idx": index, "sealed": ring is not None, "data": data},
                )

    @staticmethod
    def _has(txn: Txn, sha256: str) -> bool:
        row = txn.query_one(
            "SELECT idx FROM file_chunks WHERE sha256 = :sha256 AND idx = 0", {"sha256": sha256}
        )
        return row is not None

    def read(self, sha256: str, size: int, offset: int, length: int) -> Deferred[bytes]:
        """See ``IBlobStore``."""
        check_name(sha256)
        return self._database.run_read("read_blob", self._read, sha256, size, offset, length)

    def _read(self, txn: Txn, sha256: str, size: int, offset: int, length: int) -> bytes:
        length = max(0, min(length, size - offset))
        span = blobcrypt.chunk_span(offset, length, CHUNK)
        count = blobcrypt.chunk_count(size, CHUNK)
        rows = txn.query(
            "SELECT idx, sealed, data FROM file_chunks WHERE sha256 = :sha256"
            " AND idx >= :first AND idx <= :last ORDER BY idx",
            {"sha256": sha256, "first": span.start, "last": span.stop - 1},
        )
        if len(rows) != len(span):
            raise BlobMissing(sha256)
        parts: list[bytes] = []
        for index, sealed, data in rows:
            data = bytes(data)
            if sealed:
                if self._ring is None:
                    raise BlobMissing("a sealed blob needs ENCRYPTION_KEY to be read")
                aad = blobcrypt.chunk_aad(sha256, int(index), int(index) == count - 1)
                data = self._ring.open(data, aad)
            parts.append(data)
        start = offset - span.start * CHUNK
        return b"".join(parts)[start : start + length]

    def delete(self, sha256: str) -> Deferred[None]:
        """See ``IBlobStore``."""
        check_name(sha256)
        return self._database.run_interaction("delete_blob", _delete, sha256)

    def reseal(self, sha256: str, size: int) -> Deferred[bool]:
        """See ``IBlobStore``: one row at a time, so an interrupted run resumes where it was."""
        check_name(sha256)
        return Deferred.fromCoroutine(self._reseal(sha256, size))

    async def _reseal(self, sha256: str, size: int) -> bool:
        changed = False
        for index in range(blobcrypt.chunk_count(size, CHUNK)):
            done = await self._database.run_interaction(
                "reseal_chunk", self._reseal_chunk, sha256, size, index
            )
            changed = changed or done
        return changed

    def _reseal_chunk(self, txn: Txn, sha256: str, size: int, index: int) -> bool:
        ring = self._ring
        if ring is None:
            raise BlobMissing("resealing needs ENCRYPTION_KEY")
        row = txn.query_one(
            "SELECT sealed, data FROM file_chunks WHERE sha256 = :sha256 AND idx = :idx",
            {"sha256": sha256, "idx": index},
        )
        if row is None:
            raise BlobMissing(sha256)
        sealed, data = bool(row[0]), bytes(row[1])
        if sealed and sealed_key_id(data) == ring.current:
            return False
        aad = blobcrypt.chunk_aad(sha256, index, index == blobcrypt.chunk_count(size, CHUNK) - 1)
        plain = ring.open(data, aad) if sealed else data
        txn.execute(
            "UPDATE file_chunks SET sealed = :sealed, data = :data"
            " WHERE sha256 = :sha256 AND idx = :idx",
            {"sealed": True, "data": ring.seal(plain, aad), "sha256": sha256, "idx": index},
        )
        return True


def _delete(txn: Txn, sha256: str) -> None:
    txn.execute("DELETE FROM file_chunks WHERE sha256 = :sha256", {"sha256": sha256})
