"""Serve a file's bytes safely: headers a browser cannot be tricked by, ranges, and a producer.

Whatever a file holds (an HTML page, an SVG with a script, a GIF that is
also a page), the answer is one a browser will not run: the content type
is the one found in the bytes, ``X-Content-Type-Options: nosniff`` stops
the browser guessing another, ``Content-Security-Policy: sandbox`` gives a
page opened anyway no script and no origin, and anything but the four
raster image types is ``Content-Disposition: attachment`` (downloaded, not
shown). Bodies are streamed from the blob store a block at a time by a
push producer that stops while the client is slow, so a large download
never sits in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from chatservice.blobstore import IBlobStore
from chatservice.errors import NotFound, RangeNotSatisfiable
from chatservice.file_models import INLINE_TYPES
from chatservice.http import respond_error

BLOCK = 64 * 1024
CSP = b"sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

log = Logger()


@dataclass(frozen=True, slots=True)
class Served:
    """What to send: which blob, how big, as what type, under which name."""

    sha256: str
    size: int
    content_type: str
    name: str


def content_disposition(name: str, inline: bool) -> bytes:
    """``attachment`` (or ``inline``) with the name in RFC 6266 form, plus an ASCII fallback."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name
    )
    kind = "inline" if inline else "attachment"
    value = f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    return value.encode("ascii")


def parse_range(header: bytes | None, size: int) -> tuple[int, int] | None | bool:
    """The one byte range ``[start, end]`` asked for; None for the whole; False if unsatisfiable.

    Several ranges, or a header we do not understand, get the whole file
    (RFC 9110 lets a server ignore ``Range``).
    """
    if header is None:
        return None
    match = _RANGE.match(header.decode("latin-1").strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None
    if start >= size:
        return False
    return start, end


@implementer(IResource)
class FileResource:
    """``serve`` as a resource: what a Klein route returns to answer with a producer."""

    isLeaf = True

    def __init__(self, blobs: IBlobStore, served: Served) -> None:
        self._blobs = blobs
        self._served = served

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:  # noqa: N802
        """Never called: this resource is a leaf."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:  # noqa: N802
        """No children."""
        raise NotImplementedError

    def render(self, request: IRequest) -> Any:
        """Answer the request (see ``serve``)."""
        return serve(request, self._blobs, self._served)


def serve(request: IRequest, blobs: IBlobStore, served: Served) -> Any:
    """Answer a GET for ``served``: 200, 206, 304 or 416, streaming the body."""
    etag = f'"{served.sha256}"'.encode("ascii")
    request.setHeader(b"etag", etag)
    request.setHeader(b"accept-ranges", b"bytes")
    request.setHeader(b"content-security-policy", CSP)
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"cache-control", b"private, max-age=3600")
    inline = served.content_type in INLINE_TYPES
    request.setHeader(b"content-disposition", content_disposition(served.name, inline))
    match = request.getHeader(b"if-none-match")
    tags = [tag.strip() for tag in match.split(b",")] if match is not None else []
    if etag in tags or b"*" in tags:
        request.setResponseCode(304)
        return b""
    asked = parse_range(request.getHeader(b"range"), served.size)
    if_range = request.getHeader(b"if-range")
    if if_range is not None and if_range.strip() != etag:
        asked = None  # the client's copy is another version: send it all
    if asked is False:
        request.setHeader(b"content-range", b"bytes */%d" % served.size)
        request.setHeader(b"content-disposition", b"attachment")
        return respond_error(request, RangeNotSatisfiable())
    start, end = (0, served.size - 1) if asked is None or asked is True else asked
    if asked is not None and asked is not True:
        request.setResponseCode(206)
        request.setHeader(b"content-range", b"bytes %d-%d/%d" % (start, end, served.size))
    request.setHeader(b"content-type", served.content_type.encode("ascii"))
    length = max(0, end - start + 1)
    request.setHeader(b"content-length", b"%d" % length)
    if request.method == b"HEAD" or length == 0:
        return b""
    BlobSender(request, blobs, served, start, length).start()
    return NOT_DONE_YET


@implementer(IPushProducer)
class BlobSender:
    """Sends ``length`` bytes of a blob from ``start``, block by block, pausing with the client."""

    def __init__(
        self, request: IRequest, blobs: IBlobStore, served: Served, start: int, length: int
    ) -> None:
        # A twisted.web Request: it is the producer's consumer too.
        self._request: Any = request
        self._blobs = blobs
        self._served = served
        self._offset = start
        self._left = length
        self._paused: Deferred[None] | None = None
        self._stopped = False

    def start(self) -> None:
        """Register with the request and send; a lost connection stops the loop."""
        self._request.registerProducer(self, True)
        self._request.notifyFinish().addErrback(lambda _: self.stopProducing())
        Deferred.fromCoroutine(self._send()).addErrback(self._failed)

    async def _send(self) -> None:
        while self._left > 0 and not self._stopped:
            if self._paused is not None:
                await self._paused
                continue
            block = await self._blobs.read(
                self._served.sha256, self._served.size, self._offset, min(BLOCK, self._left)
            )
            if self._stopped:
                return
            if not block:
                raise OSError("the blob is shorter than its row says")
            self._offset += len(block)
            self._left -= len(block)
            self._request.write(block)
        if not self._stopped:
            self._request.unregisterProducer()
            self._request.finish()

    def _failed(self, failure: Failure) -> None:
        # The status line is gone already: all that is left is to cut the
        # body short, which the client sees against Content-Length.
        log.failure("sending file {sha256} failed", failure, sha256=self._served.sha256)
        request = self._request
        if not self._stopped and not getattr(request, "startedWriting", True):
            # Nothing sent yet (the blob is missing): an honest 404 is still possible.
            self._stopped = True
            request.unregisterProducer()
            request.setHeader(b"content-disposition", b"attachment")
            request.write(respond_error(request, NotFound("The file's bytes are missing.")))
            request.finish()
            return
        if not self._stopped:
            self._stopped = True
            self._request.unregisterProducer()
            transport = getattr(getattr(self._request, "channel", None), "transport", None)
            if transport is not None:
                transport.abortConnection()

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted hook
        """The client is slow: stop after the block in flight."""
        if self._paused is None:
            self._paused = Deferred()

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted hook
        """Go on sending."""
        paused, self._paused = self._paused, None
        if paused is not None:
            paused.callback(None)

    def stopProducing(self) -> None:  # noqa: N802 - Twisted hook
        """The connection is gone: send nothing more."""
        self._stopped = True
        self.resumeProducing()
