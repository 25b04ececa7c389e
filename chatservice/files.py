"""The files use case: accept an upload, resolve a message's attachments, authorize a download.

An upload is staged (``upload_body``), its type found from its bytes
(``sniff``) and, for a raster image, confirmed, measured and thumbnailed by
Pillow (``images``), all in the files thread pool; then its bytes go to
the blob store (``blobstore``) and its row to the store. Who may download
a file: its uploader, whoever may read a room where a message that is not
deleted carries it (``access.RoomAccess``, so a private room's file is the
same 404 as the room), and whoever holds an unexpired signed link
(``file_links``), which only messages hand out. ``python -m
chatservice.files gc`` collects what nothing uses any more
(``files_command``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice import file_links, images, upload_body
from chatservice.access import RoomAccess
from chatservice.blobstore import IBlobStore, Runner
from chatservice.cluster import SharedRate
from chatservice.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from chatservice.file_models import INLINE_TYPES, MAX_ATTACHMENTS, Attachment, NewUpload, Upload
from chatservice.messages import check_rate
from chatservice.ratelimit import Rate
from chatservice.sniff import OCTET_STREAM, sniff
from chatservice.store.upload_interface import IUploadStore
from chatservice.tokens import Identity

UPLOAD_LIMITER = "uploads-per-user"
DEFAULT_UPLOAD_RATE = Rate.per(30, 60.0)
# An upload never attached to a message is garbage after this long.
DEFAULT_GRACE_SECONDS = 24 * 3600
EXPIRED_LINK = "This file link has expired or is not valid: fetch the message again."


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """How big one upload may be, and how much one user may keep."""

    max_bytes: int
    quota_bytes: int


@dataclass(frozen=True, slots=True)
class SignedLink:
    """The ``expires`` and ``sig`` of a link's query string."""

    expires: int
    sig: str


class Files:
    """Uploads, attachments and downloads, independent of HTTP."""

    log = Logger()

    def __init__(
        self,
        store: IUploadStore,
        blobs: IBlobStore,
        access: RoomAccess,
        clock: IReactorTime,
        run: Runner,
        limiter: SharedRate,
        limits: UploadLimits,
    ) -> None:
        self._store = store
        self.blobs = blobs
        self._access = access
        self._clock = clock
        self._run = run
        self._limiter = limiter
        self.limits = limits

    def _now_ms(self) -> int:
        return int(self._clock.seconds() * 1000)

    async def upload(
        self, identity: Identity, body: BinaryIO, boundary: str | None, name: str | None
    ) -> Upload:
        """Store the file of an upload body; fire with its row.

        Raises:
            RateLimited: over the upload rate (nothing is stored).
            PayloadTooLarge: the file is over ``MAX_UPLOAD_BYTES``.
            QuotaExceeded: the user's uploads would pass ``UPLOAD_QUOTA_BYTES``.
            InvalidRequest: a malformed multipart body.
        """
        await check_rate(self._limiter, identity.user_id, self.log)
        staged = await self._run(upload_body.stage, body, boundary, self.limits.max_bytes)
        thumb_path: str | None = None
        try:
            kind = sniff(staged.head)
            info = None
            if kind in INLINE_TYPES:
                info = await self._run(images.inspect, staged.path, kind)
                if info is None:
                    kind = OCTET_STREAM  # it only looked like an image
            new = NewUpload(
                owner_id=identity.user_id,
                name=upload_body.clean_name(staged.name if staged.name is not None else name),
                size=staged.size,
                sha256=staged.sha256,
                content_type=kind,
                created_at=self._now_ms(),
            )
            if info is not None:
                new = _with_image(new, info.width, info.height)
                if info.thumbnail is not None:
                    thumb_path, thumb_sha = await self._run(_stage_bytes, info.thumbnail)
                    new = _with_thumbnail(new, thumb_sha, len(info.thumbnail))
            await self.blobs.put(new.sha256, new.size, staged.path)
            if thumb_path is not None and new.thumb_sha256 is not None:
                await self.blobs.put(new.thumb_sha256, new.thumb_size or 0, thumb_path)
            try:
                upload = await self._store.add_upload(new, self.limits.quota_bytes)
            except Exception:
                await self._drop_unused(new)
                raise
        finally:
            os.unlink(staged.path)
            if thumb_path is not None:
                os.unlink(thumb_path)
        self.log.info(
            "upload {upload_id} by user {user_id}: {size} bytes, {content_type}",
            upload_id=upload.id,
            user_id=identity.user_id,
            size=upload.size,
            content_type=upload.content_type,
        )
        return upload

    async def _drop_unused(self, new: NewUpload) -> None:
        """The row was refused (quota): remove bytes no other upload has a row for."""
        for sha in (new.sha256, new.thumb_sha256):
            if sha is not None and not await self._store.has_blob(sha):
                await self.blobs.delete(sha)

    async def attachments(
        self, identity: Identity, upload_ids: Sequence[int]
    ) -> tuple[Attachment, ...]:
        """The attachments a message of ``identity`` may carry: their own uploads, at most 10.

        Raises:
            InvalidRequest: too many, repeated, or not uploads of the sender.
        """
        if not upload_ids:
            return ()
        if len(upload_ids) > MAX_ATTACHMENTS or len(set(upload_ids)) != len(upload_ids):
            raise InvalidRequest(f"'attachments' must be 1-{MAX_ATTACHMENTS} distinct upload ids.")
        uploads = await self._store.get_uploads(identity.user_id, upload_ids)
        if len(uploads) != len(upload_ids):
            raise InvalidRequest("'attachments' must name uploads of your own.")
        return tuple(upload.attachment() for upload in uploads)

    async def readable(
        self,
        identity: Identity | None,
        upload_id: int,
        variant: str,
        link: SignedLink | None,
    ) -> Upload:
        """The upload, if the caller may download it (or its thumbnail).

        Raises:
            Forbidden: a signed link that is expired or not valid.
            Unauthorized: neither a link nor a token.
            NotFound: no such file, or none the caller may read.
        """
        if link is not None:
            if not file_links.signer().check(upload_id, variant, link.expires, link.sig):
                raise Forbidden(EXPIRED_LINK)
            return await self._store.get_upload(upload_id)
        if identity is None:
            raise Unauthorized("A token, or a signed link from a message, is required.")
        upload = await self._store.get_upload(upload_id)
        if upload.owner_id == identity.user_id:
            return upload
        for room_id in await self._store.upload_rooms(upload_id):
            try:
                await self._access.readable(identity, room_id)
            except (NotFound, Forbidden):
                continue
            return upload
        raise NotFound("No such file.")

    async def collect(self, grace_seconds: float) -> tuple[int, int]:
        """Delete what nothing uses any more (see ``collect``); fire with both counts."""
        cutoff = self._now_ms() - int(grace_seconds * 1000)
        return await collect(self._store, self.blobs, cutoff)


async def collect(
    store: IUploadStore, blobs: IBlobStore, unattached_before: int, batch: int = 500
) -> tuple[int, int]:
    """Delete uploads nothing carries, then blobs no upload uses; how many of each.

    Uploads never attached go once made before ``unattached_before`` (ms).
    Blob rows go before their bytes, each only if still unused at that
    moment, so an upload of the same bytes that commits first keeps them
    (docs/protocol.md, "Files", names the one race left).
    """
    uploads = 0
    while True:
        count = await store.collect_uploads(unattached_before, batch)
        uploads += count
        if count < batch:
            break
    removed = 0
    while True:
        orphans = await store.orphan_blobs(batch)
        for sha in orphans:
            if await store.forget_blob(sha):
                await blobs.delete(sha)
                removed += 1
        if len(orphans) < batch:
            break
    return uploads, removed


def _with_image(new: NewUpload, width: int, height: int) -> NewUpload:
    from dataclasses import replace

    return replace(new, width=width, height=height)


def _with_thumbnail(new: NewUpload, sha: str, size: int) -> NewUpload:
    from dataclasses import replace

    return replace(new, thumb_sha256=sha, thumb_size=size)


def _stage_bytes(data: bytes) -> tuple[str, str]:
    """Write ``data`` (a thumbnail) to a temporary file; its path and SHA-256."""
    import hashlib

    fd, path = tempfile.mkstemp(prefix="chatservice-thumb-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path, hashlib.sha256(data).hexdigest()


if __name__ == "__main__":  # pragma: no cover - the command's entry point
    import sys

    from chatservice.files_command import main

    sys.exit(main())
