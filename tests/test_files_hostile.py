"""Hostile uploads: pages, scripts, polyglots, bombs and evil names are served so nothing runs.

Over real TCP on SQLite with an explicit ``FILES_DIR``: every answer is
``nosniff`` and ``sandbox``ed, only true raster images are shown inline,
and nothing is written outside the files directory (and the database).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import Any

from PIL import Image
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.trial.unittest import TestCase

from tests.files_support import FileService, files_under, png_bytes

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(document.domain)</script></svg>"
)
# Starts like a GIF, is a page: no image decoder accepts it.
FAKE_GIF_PAGE = b"GIF89a/*<html><script>alert(1)</script></html>*/=1;"


def gif_with_page() -> bytes:
    """A real GIF with an HTML page after its trailer (a true polyglot)."""
    out = io.BytesIO()
    Image.new("P", (8, 8), 1).save(out, format="GIF")
    return out.getvalue() + b"<html><script>alert(1)</script></html>"


def png_bomb(side: int = 100_000) -> bytes:
    """A small PNG whose header claims ``side`` x ``side`` pixels (10 gigapixels)."""
    real = png_bytes(1, 1)
    ihdr_at = real.index(b"IHDR")
    fields = struct.pack(">II", side, side) + real[ihdr_at + 12 : ihdr_at + 17]
    chunk = b"IHDR" + fields
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return real[: ihdr_at - 4] + patched + real[ihdr_at + 21 :]


EVIL_NAMES = [
    "../../../etc/passwd",
    "..\\..\\windows\\system32\\evil.dll",
    "/absolute/path.txt",
    "ctrl\x00\x1b[31mred\x07.txt",
    "right\u202egpj.exe",
    "..",
    'quote"semi;colon.txt',
]


async def start_on_disk(test: TestCase, **config: Any) -> tuple[FileService, str, str]:
    """A file service on a SQLite file and a files directory under a new folder of the test's.

    Returns the service, the folder and the files directory (the test looks
    at what was written).
    """
    root = os.path.abspath(test.mktemp())
    os.makedirs(root)
    files_dir = os.path.join(root, "files")
    database = os.path.join(root, "chat.sqlite3")
    chat = await FileService.start(
        test, database_url=f"sqlite:///{database}", files_dir=files_dir, **config
    )
    return chat, root, files_dir


class HostileFilesTests(TestCase):
    """Each hostile file is stored as data and served so that a browser cannot run it."""

    timeout = 60

    async def start(self) -> FileService:
        chat, self.root, self.files_dir = await start_on_disk(self)
        return chat

    def assert_safe(self, headers: dict[str, str], inline: bool) -> None:
        test: Any = self
        test.assertEqual(headers["x-content-type-options"], "nosniff")
        test.assertTrue(headers["content-security-policy"].startswith("sandbox"))
        disposition = headers["content-disposition"]
        kind = "inline;" if inline else "attachment;"
        test.assertTrue(disposition.startswith(kind), disposition)
        disposition.encode("ascii")  # never raw bytes of a client's name

    async def test_pages_scripts_polyglots_and_bombs_are_not_run(self) -> None:
        """HTML, SVG, fake and true polyglots, a bomb: stored, and served inert."""
        chat = await self.start()
        token, _ = await chat.register("mallory")
        cases = [
            # body, claimed type, expected detected type, shown inline
            (HTML, "text/html", "text/plain; charset=utf-8", False),
            (SVG, "image/svg+xml", "text/plain; charset=utf-8", False),
            (FAKE_GIF_PAGE, "image/gif", "application/octet-stream", False),
            (gif_with_page(), "text/html", "image/gif", True),
            (png_bomb(), "image/png", "application/octet-stream", False),
            (b"not a jpeg at all\x00\x01", "image/jpeg", "application/octet-stream", False),
        ]
        for body, claimed, detected, inline in cases:
            status, upload = await chat.upload(token, body, "x.html", claimed)
            self.assertEqual(status, 201, upload)
            self.assertEqual(upload["content_type"], detected, body[:20])
            if not inline:
                self.assertNotIn("thumbnail_url", upload)
                self.assertNotIn("width", upload)
            status, headers, served = await chat.request(
                "GET", f"/api/files/{upload['id']}", token
            )
            self.assertEqual((status, served), (200, body))
            self.assertEqual(headers["content-type"], detected)
            self.assert_safe(headers, inline)
        # The service is still whole: a normal image still gets its thumbnail.
        status, upload = await chat.upload(token, png_bytes(), "ok.png", "image/png")
        self.assertIn("thumbnail_url", upload)
        self.assertEqual(self.outside_files_dir(), [])

    async def test_evil_names_are_cleaned_and_never_paths(self) -> None:
        """Separators, '..', control and bidi characters never reach a path or a raw header."""
        chat = await self.start()
        token, _ = await chat.register("mallory")
        for name in EVIL_NAMES:
            status, upload = await chat.upload(token, name.encode("utf-8", "replace"), name)
            self.assertEqual(status, 201, upload)
            cleaned = upload["name"]
            for bad in ("/", "\\", "\x00", "\x1b", "\x07", "\u202e"):
                self.assertNotIn(bad, cleaned)
            self.assertNotIn(cleaned, ("", ".", ".."))
            status, headers, _ = await chat.request("GET", f"/api/files/{upload['id']}", token)
            self.assertEqual(status, 200)
            self.assert_safe(headers, False)
        self.assertEqual(self.outside_files_dir(), [])
        for path in files_under(self.files_dir):
            # ab/cd/<64 hex digits>: named by content only.
            self.assertRegex(path, r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}$")

    def outside_files_dir(self) -> list[str]:
        """Files under the test's folder that are neither the database nor in the files dir."""
        return [
            path
            for path in files_under(self.root)
            if not path.startswith("files" + os.sep) and not path.startswith("chat.sqlite3")
        ]


class _Streamer(Protocol):
    """Sends a request head, then body blocks one per reactor turn until an answer arrives."""

    def __init__(self, head: bytes, block: bytes, blocks: int, chunked: bool) -> None:
        self.head = head
        self.block = block
        self.blocks = blocks
        self.chunked = chunked
        self.sent = 0
        self.received = b""
        self.answered_after: int | None = None
        self.closed: Deferred[None] = Deferred()

    def connectionMade(self) -> None:  # noqa: N802 - Twisted hook
        assert self.transport is not None
        self.transport.write(self.head)
        # A moment for an answer to the head alone (a declared length over the limit).
        self.pending: Any = reactor.callLater(0.05, self._more)

    def _more(self) -> None:
        if self.answered_after is not None or self.blocks == 0 or self.transport is None:
            return
        data = self.block
        if self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        try:
            self.transport.write(data)
        except Exception:
            return
        self.sent += len(self.block)
        self.blocks -= 1
        self.pending = reactor.callLater(0, self._more)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted hook
        if self.answered_after is None:
            self.answered_after = self.sent
        self.received += data

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802 - Twisted hook
        if self.pending.active():
            self.pending.cancel()
        self.closed.callback(None)


class UploadLimitTests(TestCase):
    """``MAX_UPLOAD_BYTES`` is enforced as the body arrives, with the lingering close."""

    timeout = 60
    LIMIT = 1024 * 1024

    async def start(self) -> FileService:
        chat, _, self.files_dir = await start_on_disk(self, max_upload_bytes=self.LIMIT)
        return chat

    async def stream(self, chat: FileService, token: str, chunked: bool, size: int) -> _Streamer:
        length = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
        head = (
            b"POST /api/uploads?name=big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n%s\r\n\r\n"
        ) % (token.encode("ascii"), length)
        block = b"\0" * 65536
        streamer = _Streamer(head, block, size // len(block), chunked)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", chat.port)
        await connectProtocol(endpoint, streamer)
        await streamer.closed
        return streamer

    async def test_declared_gigabyte_is_refused_before_its_body(self) -> None:
        """A 1 GiB Content-Length is a 413 before the body: the server reads none of it."""
        chat = await self.start()
        token, _ = await chat.register("alice")
        streamer = await self.stream(chat, token, chunked=False, size=2**30)
        self.assertTrue(streamer.received.startswith(b"HTTP/1.1 413 "), streamer.received[:80])
        self.assertIn(b"payload_too_large", streamer.received)
        # Answered before (or right after) the first block: the head was enough.
        self.assertIsNotNone(streamer.answered_after)
        self.assertLessEqual(streamer.answered_after or 0, 65536)
        self.assertLess(streamer.sent, 2**30)
        self.assertEqual(files_under(self.files_dir) if os.path.isdir(self.files_dir) else [], [])

    async def test_chunked_upload_is_cut_at_the_limit(self) -> None:
        """A chunked body is answered 413 once past the limit, and nothing is stored."""
        chat = await self.start()
        token, user_id = await chat.register("alice")
        streamer = await self.stream(chat, token, chunked=True, size=64 * 2**20)
        self.assertTrue(streamer.received.startswith(b"HTTP/1.1 413 "), streamer.received[:80])
        self.assertLess(streamer.sent, 64 * 2**20)
        self.assertEqual(files_under(self.files_dir) if os.path.isdir(self.files_dir) else [], [])
        self.assertEqual(await chat.service.store.list_blobs("", 10), [])  # type: ignore[attr-defined]

    async def test_upload_at_the_limit_is_accepted_and_the_json_limit_does_not_apply(self) -> None:
        """A file of exactly MAX_UPLOAD_BYTES (16 times MAX_BODY_BYTES) is stored whole."""
        chat = await self.start()
        token, _ = await chat.register("alice")
        data = os.urandom(self.LIMIT)
        status, upload = await chat.upload(token, data, "limit.bin")
        self.assertEqual((status, upload["size"]), (201, self.LIMIT))
        status, _, body = await chat.request("GET", f"/api/files/{upload['id']}", token)
        self.assertEqual((status, body), (200, data))
        status, _ = await chat.upload(token, data + b"!", "over.bin")
        self.assertEqual(status, 413)
