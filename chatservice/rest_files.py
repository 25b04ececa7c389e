"""The REST routes of files: upload, download, thumbnail.

``POST /api/uploads`` takes the file as the raw body (its name in
``?name=`` or an ``X-Filename`` header) or as the one file part of a
``multipart/form-data`` body; the body has its own limit
(``MAX_UPLOAD_BYTES``, enforced while it arrives by ``http.LimitedRequest``),
not the JSON routes' one. Downloads accept either the bearer token or the
signed link a message carries (``expires`` and ``sig`` in the query), so
that ``<img src>`` works without a token in the URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from twisted.web.iweb import IRequest

from chatservice import file_links
from chatservice.errors import InvalidRequest, NotFound
from chatservice.file_serving import FileResource, Served
from chatservice.files import Files, SignedLink
from chatservice.http import bearer_token, respond_json
from chatservice.klein_app import Routes, app
from chatservice.message_forms import parse_path_id
from chatservice.sniff import sniff
from chatservice.upload_body import MAX_NAME
from chatservice.wire import dumps, query_int

MAX_SIG = 64


class FileRoutes(Routes):
    """File routes; ``ChatAPI`` inherits them and provides the use case."""

    _files: Files

    @app.route("/api/uploads", methods=["POST"])
    async def upload(self, request: IRequest) -> bytes:
        """Store one file: 201 with its ``Upload`` object."""
        identity = await self._identity(request)
        boundary = multipart_boundary(request.getHeader(b"content-type"))
        body = request.content
        assert body is not None
        upload = await self._files.upload(identity, body, boundary, upload_name(request))
        return respond_json(request, 201, dumps(upload.to_json()))

    @app.route("/api/files/<file_id>", methods=["GET"])
    async def download(self, request: IRequest, file_id: str) -> Any:
        """The file's bytes (or a range of them), for its readers or a signed link."""
        return await self._serve(request, file_id, file_links.DOWNLOAD)

    @app.route("/api/files/<file_id>/thumbnail", methods=["GET"])
    async def thumbnail(self, request: IRequest, file_id: str) -> Any:
        """The image's thumbnail (PNG or JPEG, at most 320x320, no metadata)."""
        return await self._serve(request, file_id, file_links.THUMBNAIL)

    async def _serve(self, request: IRequest, raw_id: str, variant: str) -> Any:
        upload_id = parse_path_id(raw_id, "file")
        link = signed_link(request.args)
        token = bearer_token(request)
        identity = await self._identity(request) if token is not None and link is None else None
        upload = await self._files.readable(identity, upload_id, variant, link)
        if variant == file_links.DOWNLOAD:
            served = Served(upload.sha256, upload.size, upload.content_type, upload.name)
        elif upload.thumb_sha256 is None:
            raise NotFound("This file has no thumbnail.")
        else:
            size = upload.thumb_size or 0
            head = await self._files.blobs.read(upload.thumb_sha256, size, 0, 16)
            name = "thumbnail-" + upload.name
            served = Served(upload.thumb_sha256, size, sniff(head), name)
        return FileResource(self._files.blobs, served)


def multipart_boundary(content_type: bytes | None) -> str | None:
    """The boundary of a ``multipart/form-data`` body, or None for a raw body."""
    if content_type is None:
        return None
    kind, _, params = content_type.decode("latin-1").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            boundary = value.strip().strip('"')
            if 1 <= len(boundary) <= 70:
                return boundary
    raise InvalidRequest("A multipart/form-data body needs a boundary of 1-70 characters.")


def upload_name(request: IRequest) -> str | None:
    """The file name a raw upload gave: ``?name=`` or a percent-encoded ``X-Filename``."""
    values = request.args.get(b"name")
    raw = values[0] if values else None
    if raw is None:
        header = request.getHeader(b"x-filename")
        raw = unquote(header.decode("latin-1")).encode("utf-8", "replace") if header else None
    if raw is None:
        return None
    return raw[: MAX_NAME * 4].decode("utf-8", "replace")


def signed_link(args: Mapping[bytes, Sequence[bytes]]) -> SignedLink | None:
    """The ``expires`` and ``sig`` of a download URL, or None if it has none."""
    sigs = args.get(b"sig")
    if not sigs:
        return None
    expires = query_int(args, "expires", low=0)
    sig = sigs[0]
    if expires is None or len(sig) > MAX_SIG or not sig.isalnum():
        raise InvalidRequest("A signed link has 'expires' and a hexadecimal 'sig'.")
    return SignedLink(expires, sig.decode("ascii"))
