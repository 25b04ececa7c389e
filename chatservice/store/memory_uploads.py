"""``MemoryStore``'s upload methods (``IUploadStore``): dicts, and scans of the timeline.

Which messages carry an upload is read from the messages themselves (a
tombstone carries none), so nothing has to be kept in step on delete; a
scan per question is fine for a store meant for tests and throwaway runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound, QuotaExceeded
from chatservice.file_models import NewUpload, Upload
from chatservice.models import Message, Posted, User
from chatservice.store.memory_rows import MessageRows


class MemoryUploads:
    """Uploads in dicts; ``MemoryStore`` provides the users and the timeline."""

    _users: dict[int, User]
    _messages: dict[int, MessageRows]

    def _init_uploads(self) -> None:
        self._uploads: dict[int, Upload] = {}
        self._blobs: dict[str, int] = {}
        self._ever_attached: set[int] = set()
        self._next_upload_id = 1

    def _mark_attached(self, posted: Sequence[Posted]) -> Sequence[Posted]:
        for item in posted:
            if item.created:
                self._ever_attached.update(a.id for a in item.message.attachments)
        return posted

    def _carried(self) -> Iterator[tuple[int, Message]]:
        for messages in self._messages.values():
            for message in messages.with_objects():
                for attachment in message.attachments:
                    yield attachment.id, message

    def add_upload(self, new: NewUpload, quota: int) -> Deferred[Upload]:
        """See ``IUploadStore``."""
        if new.owner_id not in self._users:
            return fail(NotFound("No such user."))
        used = sum(u.size for u in self._uploads.values() if u.owner_id == new.owner_id)
        if used + new.size > quota:
            return fail(QuotaExceeded())
        self._blobs.setdefault(new.sha256, new.size)
        if new.thumb_sha256 is not None:
            self._blobs.setdefault(new.thumb_sha256, new.thumb_size or 0)
        upload = new.stored(self._next_upload_id)
        self._next_upload_id += 1
        self._uploads[upload.id] = upload
        return succeed(upload)

    def get_upload(self, upload_id: int) -> Deferred[Upload]:
        """See ``IUploadStore``."""
        upload = self._uploads.get(upload_id)
        if upload is None:
            return fail(NotFound("No such file."))
        return succeed(upload)

    def get_uploads(self, owner_id: int, upload_ids: Sequence[int]) -> Deferred[Sequence[Upload]]:
        """See ``IUploadStore``."""
        found = [self._uploads.get(upload_id) for upload_id in upload_ids]
        return succeed([u for u in found if u is not None and u.owner_id == owner_id])

    def upload_rooms(self, upload_id: int) -> Deferred[Sequence[int]]:
        """See ``IUploadStore``."""
        rooms = {message.room_id for carried, message in self._carried() if carried == upload_id}
        return succeed(sorted(rooms))

    def _release(self, upload_ids: set[int]) -> None:
        """After a delete: uploads no message carries any more go (as the SQL stores do)."""
        carried = {upload_id for upload_id, _ in self._carried()}
        for upload_id in upload_ids - carried:
            self._uploads.pop(upload_id, None)

    def collect_uploads(self, unattached_before: int, limit: int) -> Deferred[int]:
        """See ``IUploadStore``."""
        carried = {upload_id for upload_id, _ in self._carried()}
        doomed = [
            upload.id
            for upload in sorted(self._uploads.values(), key=lambda u: u.id)
            if upload.id not in carried
            and (upload.id in self._ever_attached or upload.created_at < unattached_before)
        ][:limit]
        for upload_id in doomed:
            del self._uploads[upload_id]
        return succeed(len(doomed))

    def _used_blobs(self) -> set[str]:
        used = {u.sha256 for u in self._uploads.values()}
        used.update(u.thumb_sha256 for u in self._uploads.values() if u.thumb_sha256)
        return used

    def orphan_blobs(self, limit: int) -> Deferred[Sequence[str]]:
        """See ``IUploadStore``."""
        used = self._used_blobs()
        return succeed(sorted(sha for sha in self._blobs if sha not in used)[:limit])

    def has_blob(self, sha256: str) -> Deferred[bool]:
        """See ``IUploadStore``."""
        return succeed(sha256 in self._blobs)

    def forget_blob(self, sha256: str) -> Deferred[bool]:
        """See ``IUploadStore``."""
        if sha256 not in self._blobs or sha256 in self._used_blobs():
            return succeed(False)
        del self._blobs[sha256]
        return succeed(True)

    def list_blobs(self, after: str, limit: int) -> Deferred[Sequence[tuple[str, int]]]:
        """See ``IUploadStore``."""
        shas = sorted(sha for sha in self._blobs if sha > after)[:limit]
        return succeed([(sha, self._blobs[sha]) for sha in shas])
