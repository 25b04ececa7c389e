"""The records of uploaded files: an upload, a new upload, and an attachment of a message.

An upload is a file one user sent (``POST /api/uploads``): its bytes are a
content-addressed blob (by SHA-256 of the plaintext), its metadata a row.
An attachment is the view of an upload a message carries; its JSON adds
links signed at the moment the message is encoded (``file_links``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from chatservice import file_links

# The raster image types shown inline; everything else downloads as an attachment.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_ATTACHMENTS = 10


@dataclass(frozen=True, slots=True)
class _UploadFields:
    """What an upload is, stored or not: whose, its name, and what its bytes were found to be."""

    owner_id: int
    name: str
    size: int
    sha256: str
    content_type: str
    created_at: int
    width: int | None = None
    height: int | None = None
    thumb_sha256: str | None = None
    thumb_size: int | None = None


@dataclass(frozen=True, slots=True)
class NewUpload(_UploadFields):
    """An upload about to be stored: what the files use case learnt of the bytes."""

    def stored(self, upload_id: int) -> Upload:
        """The upload as stored under ``upload_id`` (the memory store's row)."""
        return Upload(**{f.name: getattr(self, f.name) for f in fields(self)}, id=upload_id)


@dataclass(frozen=True, slots=True)
class Upload(_UploadFields):
    """A stored upload: its id, owner, name and what was detected in its bytes.

    Not a ``NewUpload``: a stored one is never stored again. ``id`` is
    given by name (it follows the fields with defaults).
    """

    id: int = field(kw_only=True)

    @property
    def inline(self) -> bool:
        """True for the raster image types a browser may show instead of download."""
        return self.content_type in INLINE_TYPES

    def attachment(self) -> Attachment:
        """What a message shows of this upload."""
        return Attachment(
            self.id,
            self.name,
            self.size,
            self.content_type,
            self.width,
            self.height,
            self.thumb_sha256 is not None,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``Upload`` object of docs/protocol.md: an attachment and its time."""
        return {**self.attachment().to_json(), "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file of a message: what every reader of the room sees of it."""

    id: int
    name: str
    size: int
    content_type: str
    width: int | None = None
    height: int | None = None
    has_thumbnail: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``Attachment`` object, with links signed now (the same for every reader)."""
        links = file_links.signer()
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "url": links.url(self.id),
        }
        if self.width is not None and self.height is not None:
            body["width"] = self.width
            body["height"] = self.height
        if self.has_thumbnail:
            body["thumbnail_url"] = links.url(self.id, file_links.THUMBNAIL)
        return body
