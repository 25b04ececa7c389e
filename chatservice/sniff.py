"""The content type of an upload, from its first bytes: never from what the client claimed.

A client's ``Content-Type`` is a claim anyone can forge ("image/png" on an
HTML page); the magic numbers of the bytes are what browsers and tools go
by. Only a few types are named; anything else is
``application/octet-stream``, which every browser downloads. The raster
image types are confirmed by Pillow afterwards (``images.inspect``): bytes
that start like a PNG but do not decode are a plain file.
"""

from __future__ import annotations

OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"
SNIFF_BYTES = 512

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)


def sniff(head: bytes) -> str:
    """The content type the first ``SNIFF_BYTES`` of a file show."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if _plain_text(head):
        return TEXT
    return OCTET_STREAM


def _plain_text(head: bytes) -> bool:
    """UTF-8 without control characters other than white space (a cut last character is fine)."""
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(char >= " " or char in "\t\n\r\f" for char in text)
