"""``SQLStore``'s upload methods (``IUploadStore``), on ``upload_queries``."""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.file_models import NewUpload, Upload
from chatservice.store import upload_queries
from chatservice.store.database import Database
from chatservice.store.ranges import INT64_MAX, fits


class SQLUploads:
    """Uploads on ``self.database``."""

    database: Database

    def add_upload(self, new: NewUpload, quota: int) -> Deferred[Upload]:
        """See ``IUploadStore``."""
        if not fits(new.owner_id):
            return fail(NotFound("No such user."))
        return self.database.run_interaction(
            "add_upload", upload_queries.add_upload, new, min(quota, INT64_MAX)
        )

    def get_upload(self, upload_id: int) -> Deferred[Upload]:
        """See ``IUploadStore``."""
        if not fits(upload_id):
            return fail(NotFound("No such file."))
        return self.database.run_read("get_upload", upload_queries.get_upload, upload_id)

    def get_uploads(self, owner_id: int, upload_ids: Sequence[int]) -> Deferred[Sequence[Upload]]:
        """See ``IUploadStore``."""
        wanted = [upload_id for upload_id in upload_ids if fits(upload_id)]
        if not wanted or not fits(owner_id):
            return succeed([])
        return self.database.run_read("get_uploads", upload_queries.get_uploads, owner_id, wanted)

    def upload_rooms(self, upload_id: int) -> Deferred[Sequence[int]]:
        """See ``IUploadStore``."""
        if not fits(upload_id):
            return succeed([])
        return self.database.run_read("upload_rooms", upload_queries.upload_rooms, upload_id)

    def collect_uploads(self, unattached_before: int, limit: int) -> Deferred[int]:
        """See ``IUploadStore``."""
        return self.database.run_interaction(
            "collect_uploads",
            upload_queries.collect_uploads,
            min(unattached_before, INT64_MAX),
            min(limit, INT64_MAX),
        )

    def orphan_blobs(self, limit: int) -> Deferred[Sequence[str]]:
        """See ``IUploadStore``."""
        return self.database.run_read(
            "orphan_blobs", upload_queries.orphan_blobs, min(limit, INT64_MAX)
        )

    def has_blob(self, sha256: str) -> Deferred[bool]:
        """See ``IUploadStore``."""
        return self.database.run_read("has_blob", upload_queries.has_blob, sha256)

    def forget_blob(self, sha256: str) -> Deferred[bool]:
        """See ``IUploadStore``."""
        return self.database.run_interaction("forget_blob", upload_queries.forget_blob, sha256)

    def list_blobs(self, after: str, limit: int) -> Deferred[Sequence[tuple[str, int]]]:
        """See ``IUploadStore``."""
        return self.database.run_read(
            "list_blobs", upload_queries.list_blobs, after, min(limit, INT64_MAX)
        )
