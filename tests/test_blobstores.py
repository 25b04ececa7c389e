"""The file backends: a local directory and database chunk rows (SQLite, PostgreSQL).

Each stores, reads any range, deletes, and with a key ring seals every
chunk so that neither the directory nor the table holds the plaintext;
``reencrypt_files`` moves every blob to the newest key, and runs again
harmlessly.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from chatservice import blobstore
from chatservice.blobstore import BlobMissing, IBlobStore, LocalBlobStore
from chatservice.file_rotation import reseal_all
from chatservice.keyring import KeyRing, parse_key_ring
from chatservice.store import db_blobs
from chatservice.store.db_blobs import DatabaseBlobStore
from chatservice.store.sql import SQLStore
from chatservice.store.upload_interface import IUploadStore
from tests.store_contract import failure_of
from tests.test_store_postgresql import SKIP, PostgreSQLDatabase
from tests.test_store_sqlite import SQLiteDatabase
from tests.upload_contract import new_upload

# The old key's id is long enough that its header (version, length, id) cannot
# turn up by chance in a megabyte of ciphertext, as a two-letter id did
# (about one run in sixteen).
OLD_ID = "retired-key-2026-01"
OLD = parse_key_ring(f"{OLD_ID}:" + "A" * 43)
NEW = parse_key_ring("k2:" + "B" * 43 + f",{OLD_ID}:" + "A" * 43)
# A recognisable plaintext longer than several chunks of either backend.
MARKER = b"PLAINTEXT-MARKER-"
BODY = (MARKER + bytes(range(256))) * 4000  # ~1.1 MB


class BlobStoreMixin:
    """The rules every ``IBlobStore`` keeps; subclasses build one and read its raw bytes."""

    async def build(self, ring: KeyRing | None) -> tuple[IBlobStore, Any]:
        raise NotImplementedError

    def raw_bytes(self) -> bytes:
        """Everything the backend holds, as stored."""
        raise NotImplementedError

    def source(self, data: bytes) -> str:
        test: Any = self
        path: str = test.mktemp()
        with open(path, "wb") as out:
            out.write(data)
        return path

    async def check_ranges(self, blobs: IBlobStore, sha: str, data: bytes) -> None:
        test: Any = self
        size = len(data)
        for offset, length in [
            (0, size),
            (0, 1),
            (65535, 2),
            (262143, 3),
            (size - 5, 100),
            (1000, 300000),
        ]:
            got = await blobs.read(sha, size, offset, length)
            test.assertEqual(got, data[offset : offset + length], (offset, length))

    async def test_store_read_ranges_and_delete(self) -> None:
        """Any range reads back exactly; a delete makes reads fail with BlobMissing."""
        test: Any = self
        blobs, _ = await self.build(None)
        sha = hashlib.sha256(BODY).hexdigest()
        await blobs.put(sha, len(BODY), self.source(BODY))
        await blobs.put(sha, len(BODY), self.source(BODY))  # the same hash: kept once
        await self.check_ranges(blobs, sha, BODY)
        empty = hashlib.sha256(b"").hexdigest()
        await blobs.put(empty, 0, self.source(b""))
        test.assertEqual(await blobs.read(empty, 0, 0, 10), b"")
        await blobs.delete(sha)
        await failure_of(test, blobs.read(sha, len(BODY), 0, 10), BlobMissing)

    async def test_sealed_blobs_hold_no_plaintext_and_rotate(self) -> None:
        """Sealed: no plaintext at rest; re-sealing under a new key keeps every byte readable."""
        test: Any = self
        blobs, store = await self.build(OLD)
        sha = hashlib.sha256(BODY).hexdigest()
        await blobs.put(sha, len(BODY), self.source(BODY))
        raw_before = self.raw_bytes()
        test.assertNotIn(MARKER, raw_before)
        await self.check_ranges(blobs, sha, BODY)
        await store.add_upload(new_upload(self.owner, sha, len(BODY)), 2**40)
        rotated, _ = await self.build(NEW)
        test.assertEqual(await reseal_all(store, rotated), 1)
        test.assertEqual(await reseal_all(store, rotated), 0)  # resumable: done is skipped
        test.assertNotIn(MARKER, self.raw_bytes())
        old_header = bytes([len(OLD_ID)]) + OLD_ID.encode("ascii")
        test.assertIn(old_header, raw_before)
        test.assertNotIn(old_header, self.raw_bytes())  # no chunk names the old key any more
        await self.check_ranges(rotated, sha, BODY)

    async def test_plain_blobs_are_sealed_when_encryption_is_turned_on(self) -> None:
        """A blob stored before ENCRYPTION_KEY was set is sealed by the rotation, and reads."""
        test: Any = self
        plain, store = await self.build(None)
        sha = hashlib.sha256(BODY).hexdigest()
        await plain.put(sha, len(BODY), self.source(BODY))
        await store.add_upload(new_upload(self.owner, sha, len(BODY)), 2**40)
        test.assertIn(MARKER, self.raw_bytes())
        sealed, _ = await self.build(OLD)
        await self.check_ranges(sealed, sha, BODY)  # readable before the rotation too
        test.assertEqual(await reseal_all(store, sealed), 1)
        test.assertNotIn(MARKER, self.raw_bytes())
        await self.check_ranges(sealed, sha, BODY)

    owner = 0

    def build_store(self) -> SQLStore:
        """The metadata's store (the database mixin's)."""
        raise NotImplementedError

    async def started(self) -> SQLStore:
        """The metadata's store, started with the owner ``alice`` on first use."""
        if not hasattr(self, "_store"):
            self._store = self.build_store()
            await self._store.start()
            self.owner = (await self._store.create_user("alice", b"h", 1)).id
        return self._store


class LocalDirectoryTests(SQLiteDatabase, BlobStoreMixin, TestCase):
    """``LocalBlobStore`` in a temporary directory (metadata on SQLite)."""

    async def build(self, ring: KeyRing | None) -> tuple[IBlobStore, Any]:
        store = await self.started()
        if not hasattr(self, "root"):
            self.root = os.path.abspath(self.mktemp())
        return LocalBlobStore(self.root, deferToThread, ring), IUploadStore(store)

    def raw_bytes(self) -> bytes:
        found = b""
        for folder, _, names in os.walk(self.root):
            for name in names:
                with open(os.path.join(folder, name), "rb") as src:
                    found += src.read()
        return found

    def test_names_are_hashes_only(self) -> None:
        """A blob name that is not a hex SHA-256 never becomes a path."""
        blobs = LocalBlobStore("x", deferToThread)
        for bad in ("../../etc/passwd", "A" * 64, "a" * 63, "/" + "a" * 63):
            self.assertRaises(ValueError, blobs.path, bad)
        self.assertEqual(blobstore.CHUNK, 64 * 1024)


class DatabaseChunksMixin(BlobStoreMixin):
    """``DatabaseBlobStore`` in the database of the metadata."""

    async def build(self, ring: KeyRing | None) -> tuple[IBlobStore, Any]:
        store = await self.started()
        return DatabaseBlobStore(store.database, ring), IUploadStore(store)


class DatabaseChunksOnSQLiteTests(SQLiteDatabase, DatabaseChunksMixin, TestCase):
    """``DatabaseBlobStore`` on SQLite."""

    def raw_bytes(self) -> bytes:
        import sqlite3

        with sqlite3.connect(self.path) as conn:
            rows = conn.execute("SELECT data FROM file_chunks ORDER BY sha256, idx").fetchall()
        self.assertEqual(db_blobs.CHUNK, 256 * 1024)
        return b"".join(bytes(row[0]) for row in rows)


class DatabaseChunksOnPostgreSQLTests(PostgreSQLDatabase, DatabaseChunksMixin, TestCase):
    """``DatabaseBlobStore`` on PostgreSQL: what several hosts share."""

    skip = SKIP

    def raw_bytes(self) -> bytes:
        rows = self.admin("SELECT data FROM file_chunks ORDER BY sha256, idx")
        return b"".join(bytes(row[0]) for row in rows)
