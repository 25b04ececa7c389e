"""``IUploadStore``: the metadata of uploaded files and which messages carry them.

The bytes live elsewhere (``chatservice.blobstore``); here are the rows
that say who uploaded what, under which content hash, and where it was
posted, so that a download can be authorized and garbage found. Memory,
SQLite and PostgreSQL implement it (``tests/upload_contract.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from zope.interface import Interface

from chatservice.file_models import NewUpload, Upload


class IUploadStore(Interface):
    """Uploads, their blobs, and the attachments of messages."""

    def add_upload(new: NewUpload, quota: int) -> Deferred[Upload]:
        """Store an upload (and its blobs' rows, if new); fire with it.

        Fails with ``QuotaExceeded`` if the owner's uploads would then take
        more than ``quota`` bytes, ``NotFound`` if the owner does not exist.
        """

    def get_upload(upload_id: int) -> Deferred[Upload]:
        """Fire with the upload; fail with ``NotFound``."""

    def get_uploads(owner_id: int, upload_ids: Sequence[int]) -> Deferred[Sequence[Upload]]:
        """Fire with the uploads of ``upload_ids`` that ``owner_id`` owns, in that order."""

    def upload_rooms(upload_id: int) -> Deferred[Sequence[int]]:
        """Fire with the rooms where a message that is not deleted carries the upload."""

    def collect_uploads(unattached_before: int, limit: int) -> Deferred[int]:
        """Delete up to ``limit`` uploads no message carries; fire with how many.

        An upload that was attached once goes as soon as nothing carries it;
        one never attached once it was made before ``unattached_before`` (ms).
        """

    def has_blob(sha256: str) -> Deferred[bool]:
        """Fire with whether a blob row exists (an upload that failed cleans up only if not)."""

    def orphan_blobs(limit: int) -> Deferred[Sequence[str]]:
        """Fire with up to ``limit`` blob hashes that no upload uses any more."""

    def forget_blob(sha256: str) -> Deferred[bool]:
        """Delete the blob's row if no upload uses it; fire with whether it was."""

    def list_blobs(after: str, limit: int) -> Deferred[Sequence[tuple[str, int]]]:
        """Fire with ``(sha256, size)`` of the next ``limit`` blobs after ``after``, in order."""
