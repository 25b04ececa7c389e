"""How file bodies are sealed at rest: chunk by chunk, each bound to its place.

With ``ENCRYPTION_KEY`` set, a file's bytes are cut into chunks of a fixed
plaintext size and each is sealed on its own (``KeyRing.seal``), so that a
``Range`` read opens only the chunks it needs. The associated data names
the blob (the SHA-256 of its plaintext), the chunk's index and whether it
is the last: a chunk moved to another place, another file, or a file cut
short at a chunk boundary does not open.

The local directory stores a sealed blob as fixed-size frames (a 4-byte
length, the sealed chunk, zero padding), so chunk ``i`` starts at
``i * FRAME`` whatever the key id's length; the database stores one sealed
chunk per row.
"""

from __future__ import annotations

import struct

from chatservice.keyring import NONCE_BYTES, TAG_BYTES, KeyRing

# 2 header bytes + a key id of at most 32 ASCII characters.
MAX_SEAL_OVERHEAD = 2 + 32 + NONCE_BYTES + TAG_BYTES
_LENGTH = struct.Struct(">I")


def chunk_count(size: int, chunk: int) -> int:
    """How many chunks a blob of ``size`` bytes has (an empty blob has one, empty)."""
    return max(1, -(-size // chunk))


def chunk_aad(sha256: str, index: int, last: bool) -> bytes:
    """The associated data of chunk ``index`` of blob ``sha256``."""
    return f"chatservice file {sha256} chunk {index} last {int(last)}".encode("ascii")


def frame_size(chunk: int) -> int:
    """The bytes one sealed frame of a ``chunk``-byte chunk takes in a local file."""
    return _LENGTH.size + chunk + MAX_SEAL_OVERHEAD


def seal_frame(
    ring: KeyRing, sha256: str, index: int, last: bool, data: bytes, chunk: int
) -> bytes:
    """One local-file frame: the sealed chunk, length-prefixed, padded unless it is the last."""
    sealed = ring.seal(data, chunk_aad(sha256, index, last))
    frame = _LENGTH.pack(len(sealed)) + sealed
    if not last:
        frame += b"\0" * (frame_size(chunk) - len(frame))
    return frame


def sealed_of_frame(frame: bytes) -> bytes:
    """The sealed chunk inside a frame."""
    (length,) = _LENGTH.unpack_from(frame)
    return frame[_LENGTH.size : _LENGTH.size + length]


def chunk_span(offset: int, length: int, chunk: int) -> range:
    """The chunk indexes that hold bytes ``[offset, offset + length)``."""
    first = offset // chunk
    last = (offset + max(length, 1) - 1) // chunk
    return range(first, last + 1)
