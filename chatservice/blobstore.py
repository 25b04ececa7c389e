"""Where file bodies live: ``IBlobStore``, and the local-directory backend.

Blobs are named by the SHA-256 (hex) of their plaintext, computed by us
while the upload arrived: no path is ever derived from anything a client
sent, so a file name with ``../`` or control characters cannot reach the
file system. The local backend fans files out as ``ab/cd/<hash>`` under
``FILES_DIR`` and writes each through a temporary file renamed into place,
so a crash never leaves half a blob under a real name. With a key ring,
bodies are sealed in chunks (``blobcrypt``) before they touch the disk.

Every call that touches the disk runs in a thread (``run``), never on the
reactor.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from zope.interface import Interface, implementer

from chatservice import blobcrypt
from chatservice.keyring import KeyRing, sealed_key_id

CHUNK = 64 * 1024
_HEX = re.compile(r"^[0-9a-f]{64}$")
_T = TypeVar("_T")
Runner = Callable[..., Deferred[Any]]


class BlobMissing(Exception):
    """A blob's bytes are not where its row says (collected, or the disk was changed)."""


def check_name(sha256: str) -> str:
    """Refuse anything but a lower-case hex SHA-256 as a blob name (defence in depth)."""
    if not _HEX.match(sha256):
        raise ValueError("a blob is named by a hex SHA-256")
    return sha256


class IBlobStore(Interface):
    """Content-addressed file bodies; every method returns a Deferred."""

    def put(sha256: str, size: int, source: str) -> Deferred[None]:
        """Store the ``size`` bytes of the local file ``source`` as blob ``sha256``.

        A blob already there is kept (the same hash is the same bytes).
        """

    def read(sha256: str, size: int, offset: int, length: int) -> Deferred[bytes]:
        """Fire with up to ``length`` plaintext bytes from ``offset``; ``BlobMissing``."""

    def delete(sha256: str) -> Deferred[None]:
        """Remove the blob's bytes, if there are any."""

    def reseal(sha256: str, size: int) -> Deferred[bool]:
        """Seal the blob under the ring's current key if it is not yet; fire with whether."""


@implementer(IBlobStore)
class LocalBlobStore:
    """Blobs as files under ``root``; sealed with ``ring`` when it is given."""

    def __init__(self, root: str, run: Runner, ring: KeyRing | None = None) -> None:
        self.root = os.path.abspath(root)
        self._run = run
        self._ring = ring

    def path(self, sha256: str, sealed: bool = False) -> str:
        """Where blob ``sha256`` lives (plain or sealed)."""
        check_name(sha256)
        name = sha256 + (".sealed" if sealed else "")
        return os.path.join(self.root, sha256[:2], sha256[2:4], name)

    def put(self, sha256: str, size: int, source: str) -> Deferred[None]:
        """See ``IBlobStore``."""
        return self._run(self._put, sha256, size, source)

    def _put(self, sha256: str, size: int, source: str) -> None:
        if os.path.exists(self.path(sha256)) or os.path.exists(self.path(sha256, True)):
            return
        sealed = self._ring is not None
        target = self.path(sha256, sealed)
        with open(source, "rb") as src:
            self._write_atomically(target, lambda out: self._copy(src, out, sha256, size))

    def _write_atomically(self, target: str, fill: Callable[[Any], None]) -> None:
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            os.unlink(temp)
            raise

    def _copy(self, src: Any, out: Any, sha256: str, size: int) -> None:
        ring = self._ring
        if ring is None:
            while data := src.read(CHUNK):
                out.write(data)
            return
        count = blobcrypt.chunk_count(size, CHUNK)
        for index in range(count):
            data = src.read(CHUNK)
            out.write(blobcrypt.seal_frame(ring, sha256, index, index == count - 1, data, CHUNK))

    def read(self, sha256: str, size: int, offset: int, length: int) -> Deferred[bytes]:
        """See ``IBlobStore``."""
        return self._run(self._read, sha256, size, offset, length)

    def _read(self, sha256: str, size: int, offset: int, length: int) -> bytes:
        length = max(0, min(length, size - offset))
        plain = self.path(sha256)
        try:
            with open(plain, "rb") as src:
                src.seek(offset)
                return src.read(length)
        except FileNotFoundError:
            pass
        try:
            src = open(self.path(sha256, True), "rb")
        except FileNotFoundError:
            raise BlobMissing(sha256) from None
        ring = self._opening_ring()
        frame = blobcrypt.frame_size(CHUNK)
        count = blobcrypt.chunk_count(size, CHUNK)
        parts: list[bytes] = []
        with src:
            for index in blobcrypt.chunk_span(offset, length, CHUNK):
                src.seek(index * frame)
                sealed = blobcrypt.sealed_of_frame(src.read(frame))
                aad = blobcrypt.chunk_aad(sha256, index, index == count - 1)
                parts.append(ring.open(sealed, aad))
        data = b"".join(parts)
        start = offset - (offset // CHUNK) * CHUNK
        return data[start : start + length]

    def _opening_ring(self) -> KeyRing:
        if self._ring is None:
            raise BlobMissing("a sealed blob needs ENCRYPTION_KEY to be read")
        return self._ring

    def delete(self, sha256: str) -> Deferred[None]:
        """See ``IBlobStore``."""
        return self._run(self._delete, sha256)

    def _delete(self, sha256: str) -> None:
        for sealed in (False, True):
            try:
                os.unlink(self.path(sha256, sealed))
            except FileNotFoundError:
                pass

    def reseal(self, sha256: str, size: int) -> Deferred[bool]:
        """See ``IBlobStore``."""
        return self._run(self._reseal, sha256, size)

    def _reseal(self, sha256: str, size: int) -> bool:
        ring = self._opening_ring()
        sealed_path = self.path(sha256, True)
        if os.path.exists(sealed_path) and not self._needs_reseal(sealed_path, size):
            return False
        if not os.path.exists(sealed_path) and not os.path.exists(self.path(sha256)):
            raise BlobMissing(sha256)
        count = blobcrypt.chunk_count(size, CHUNK)

        def fill(out: Any) -> None:
            for index in range(count):
                data = self._read(sha256, size, index * CHUNK, CHUNK)
                last = index == count - 1
                out.write(blobcrypt.seal_frame(ring, sha256, index, last, data, CHUNK))

        self._write_atomically(sealed_path + ".new", fill)
        os.replace(sealed_path + ".new", sealed_path)
        try:
            os.unlink(self.path(sha256))
        except FileNotFoundError:
            pass
        return True

    def _needs_reseal(self, sealed_path: str, size: int) -> bool:
        current = self._opening_ring().current
        frame = blobcrypt.frame_size(CHUNK)
        with open(sealed_path, "rb") as src:
            for index in range(blobcrypt.chunk_count(size, CHUNK)):
                src.seek(index * frame)
                if sealed_key_id(blobcrypt.sealed_of_frame(src.read(frame))) != current:
                    return True
        return False
