"""Turn an upload's request body into one staged file: hashed, measured, its first bytes kept.

The body reaches us already on disk (Twisted spools request bodies of
100 kB and more to a temporary file, and ``http.LimitedRequest`` stops it
at the upload limit while it arrives). Here, in a thread, it is copied a
64 KiB block at a time into a named temporary file, hashing (SHA-256) as
it goes: the raw body as it is, or the one file part of a
``multipart/form-data`` body (parsed incrementally by ``multipart``'s push
parser). Memory stays at a few blocks whatever the size.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

from multipart import (  # type: ignore[import-untyped]
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
)

from chatservice.errors import InvalidRequest, PayloadTooLarge
from chatservice.sniff import SNIFF_BYTES

BLOCK = 64 * 1024
MAX_NAME = 255
DEFAULT_NAME = "file"
# Room for a multipart body's boundaries and part headers on top of the file.
MULTIPART_SLACK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Staged:
    """The uploaded file, in a temporary file the caller must remove."""

    path: str
    size: int
    sha256: str
    head: bytes
    name: str | None


def stage(body: BinaryIO, boundary: str | None, max_size: int) -> Staged:
    """Copy the file out of ``body`` (raw, or multipart with ``boundary``) into a temporary file.

    Raises:
        PayloadTooLarge: the file is over ``max_size`` bytes.
        InvalidRequest: a multipart body that is malformed or has no file part.
    """
    body.seek(0)
    fd, path = tempfile.mkstemp(prefix="chatservice-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            sink = _Sink(out, max_size)
            name = None
            if boundary is None:
                while block := body.read(BLOCK):
                    sink.write(block)
            else:
                name = _copy_part(body, boundary, sink)
        return Staged(path, sink.size, sink.hash.hexdigest(), sink.head, name)
    except BaseException:
        os.unlink(path)
        raise


class _Sink:
    def __init__(self, out: BinaryIO, max_size: int) -> None:
        self.out = out
        self.max_size = max_size
        self.size = 0
        self.hash = hashlib.sha256()
        self.head = b""

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            raise PayloadTooLarge("The file is larger than the upload limit.")
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self.hash.update(data)
        self.out.write(data)


def _copy_part(body: BinaryIO, boundary: str, sink: _Sink) -> str | None:
    """Copy the first part that carries a file name (or else the first part) into ``sink``."""
    taking = False
    found = False
    name: str | None = None
    try:
        with PushMultipartParser(boundary, max_segment_count=16) as parser:
            while not parser.closed:
                block = body.read(BLOCK)
                for event in parser.parse(block):
                    if isinstance(event, MultipartSegment):
                        taking = not found and (event.filename is not None or event.name == "file")
                        if taking:
                            found = True
                            name = event.filename
                    elif event is None:
                        taking = False
                    elif taking:
                        sink.write(bytes(event))
                if not block:
                    break
    except MultipartError:
        raise InvalidRequest("The multipart/form-data body is malformed.") from None
    if not found:
        raise InvalidRequest("The multipart/form-data body has no file part.")
    return name


def clean_name(raw: str | None) -> str:
    r"""A file name safe to show and to put in a header: no path, no control characters.

    Only the last component of a path survives (``../../etc/passwd`` is
    ``passwd``; ``C:\x\y.txt`` is ``y.txt``); control, format (bidirectional
    overrides) and separator characters go; at most 255 characters. The
    name is only ever shown and sent back in ``Content-Disposition``: files
    are stored under their hash.
    """
    text = (raw or "").replace("\\", "/").split("/")[-1]
    kept = "".join(
        char
        for char in text
        if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    ).strip()
    kept = kept[:MAX_NAME]
    if kept in ("", ".", ".."):
        return DEFAULT_NAME
    return kept
