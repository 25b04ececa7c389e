"""The SQL of uploads and attachments; each function runs in one transaction of ``Database``.

Attachments are read for a page of messages in one query (``attachments_of``),
like reactions: never one query per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatservice.errors import NotFound, QuotaExceeded
from chatservice.file_models import Attachment, NewUpload, Upload
from chatservice.store.database import Txn
from chatservice.store.in_lists import chunks, in_list

UPLOAD_COLUMNS = (
    "id, owner_id, name, size, sha256, content_type, created_at,"
    " width, height, thumb_sha256, thumb_size"
)


def upload_row(row: tuple[Any, ...]) -> Upload:
    """An ``UPLOAD_COLUMNS`` row as an ``Upload``."""
    return Upload(
        id=int(row[0]),
        owner_id=int(row[1]),
        name=row[2],
        size=int(row[3]),
        sha256=row[4],
        content_type=row[5],
        created_at=int(row[6]),
        width=None if row[7] is None else int(row[7]),
        height=None if row[8] is None else int(row[8]),
        thumb_sha256=row[9],
        thumb_size=None if row[10] is None else int(row[10]),
    )


# -- attachments of messages ------------------------------------------------------

_ATTACHMENTS = (
    "SELECT a.message_id, a.position, u.id, u.name, u.size, u.content_type, u.width, u.height,"
    " u.thumb_sha256 FROM message_attachments a JOIN uploads u ON u.id = a.upload_id"
    " WHERE a.message_id IN ({ids})"
)


def attachments_of(txn: Txn, message_ids: Sequence[int]) -> dict[int, tuple[Attachment, ...]]:
    """The attachments of each message of ``message_ids`` that has some, in order."""
    found: dict[int, list[tuple[int, Attachment]]] = {}
    for chunk in chunks(message_ids):
        placeholders, params = in_list("id", chunk)
        for row in txn.query(_ATTACHMENTS.format(ids=placeholders), params):
            attachment = Attachment(
                int(row[2]),
                row[3],
                int(row[4]),
                row[5],
                None if row[6] is None else int(row[6]),
                None if row[7] is None else int(row[7]),
                row[8] is not None,
            )
            found.setdefault(int(row[0]), []).append((int(row[1]), attachment))
    return {key: tuple(a for _, a in sorted(rows)) for key, rows in found.items()}


def attach(txn: Txn, message_id: int, attachments: Sequence[Attachment], ts: int) -> None:
    """Record the files of a new message (checked as the sender's before the post)."""
    if not attachments:
        return
    txn.execute_many(
        "INSERT INTO message_attachments (message_id, position, upload_id)"
        " VALUES (:message_id, :position, :upload_id)",
        [
            {"message_id": message_id, "position": position, "upload_id": attachment.id}
            for position, attachment in enumerate(attachments)
        ],
    )
    for chunk in chunks([attachment.id for attachment in attachments]):
        placeholders, params = in_list("id", chunk)
        params["ts"] = ts
        txn.execute(
            "UPDATE uploads SET attached_at = :ts"
            f" WHERE attached_at IS NULL AND id IN ({placeholders})",
            params,
        )


def detach(txn: Txn, message_id: int) -> None:
    """A deleted (or erased) message carries no files any more; uploads left alone go now.

    The uploads no other message carries are deleted in the same
    transaction, so a download fails from the moment the delete commits;
    their bytes are garbage the files command collects (``orphan_blobs``).
    """
    rows = txn.query(
        "SELECT upload_id FROM message_attachments WHERE message_id = :id", {"id": message_id}
    )
    if not rows:
        return
    txn.execute("DELETE FROM message_attachments WHERE message_id = :id", {"id": message_id})
    for (upload_id,) in rows:
        txn.execute(
            "DELETE FROM uploads WHERE id = :id AND NOT EXISTS"
            " (SELECT 1 FROM message_attachments WHERE upload_id = :id)",
            {"id": int(upload_id)},
        )


# -- uploads ----------------------------------------------------------------------

_INSERT_BLOB = (
    "INSERT INTO blobs (sha256, size, created_at) VALUES (:sha256, :size, :created_at)"
    " ON CONFLICT (sha256) DO NOTHING"
)
_INSERT_UPLOAD = (
    "INSERT INTO uploads (owner_id, name, size, sha256, content_type, created_at,"
    " width, height, thumb_sha256, thumb_size) VALUES (:owner_id, :name, :size, :sha256,"
    " :content_type, :created_at, :width, :height, :thumb_sha256, :thumb_size)"
)


def add_upload(txn: Txn, new: NewUpload, quota: int) -> Upload:
    """Store an upload within its owner's quota (see ``IUploadStore.add_upload``)."""
    txn.lock_writers()
    if txn.query_one("SELECT id FROM users WHERE id = :id", {"id": new.owner_id}) is None:
        raise NotFound("No such user.")
    row = txn.query_one(
        "SELECT COALESCE(SUM(size), 0) FROM uploads WHERE owner_id = :owner_id",
        {"owner_id": new.owner_id},
    )
    used = int(row[0]) if row is not None else 0
    if used + new.size > quota:
        raise QuotaExceeded()
    blobs = [(new.sha256, new.size)]
    if new.thumb_sha256 is not None:
        blobs.append((new.thumb_sha256, new.thumb_size or 0))
    for sha, size in blobs:
        txn.execute(_INSERT_BLOB, {"sha256": sha, "size": size, "created_at": new.created_at})
    params = {
        "owner_id": new.owner_id,
        "name": new.name,
        "size": new.size,
        "sha256": new.sha256,
        "content_type": new.content_type,
        "created_at": new.created_at,
        "width": new.width,
        "height": new.height,
        "thumb_sha256": new.thumb_sha256,
        "thumb_size": new.thumb_size,
    }
    upload_id = txn.insert(_INSERT_UPLOAD, params)
    return get_upload(txn, upload_id)


def get_upload(txn: Txn, upload_id: int) -> Upload:
    """The upload, or ``NotFound``."""
    row = txn.query_one(f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = :id", {"id": upload_id})
    if row is None:
        raise NotFound("No such file.")
    return upload_row(row)


def get_uploads(txn: Txn, owner_id: int, upload_ids: Sequence[int]) -> list[Upload]:
    """The owner's uploads among ``upload_ids``, in that order."""
    found: dict[int, Upload] = {}
    for chunk in chunks(upload_ids):
        placeholders, params = in_list("id", chunk)
        params["owner_id"] = owner_id
        sql = (
            f"SELECT {UPLOAD_COLUMNS} FROM uploads"
            f" WHERE owner_id = :owner_id AND id IN ({placeholders})"
        )
        for row in txn.query(sql, params):
            upload = upload_row(row)
            found[upload.id] = upload
    return [found[upload_id] for upload_id in upload_ids if upload_id in found]


def upload_rooms(txn: Txn, upload_id: int) -> list[int]:
    """The rooms of live messages carrying the upload."""
    rows = txn.query(
        "SELECT DISTINCT m.room_id FROM message_attachments a JOIN messages m"
        " ON m.id = a.message_id WHERE a.upload_id = :id AND NOT m.deleted ORDER BY m.room_id",
        {"id": upload_id},
    )
    return [int(row[0]) for row in rows]


def collect_uploads(txn: Txn, unattached_before: int, limit: int) -> int:
    """Delete uploads no message carries (see ``IUploadStore.collect_uploads``)."""
    rows = txn.query(
        "SELECT id FROM uploads u WHERE (attached_at IS NOT NULL OR created_at < :before)"
        " AND NOT EXISTS (SELECT 1 FROM message_attachments a WHERE a.upload_id = u.id)"
        " ORDER BY id LIMIT :limit",
        {"before": unattached_before, "limit": limit},
    )
    for (upload_id,) in rows:
        txn.execute("DELETE FROM uploads WHERE id = :id", {"id": int(upload_id)})
    return len(rows)


_UNUSED = (
    "NOT EXISTS (SELECT 1 FROM uploads u WHERE u.sha256 = b.sha256)"
    " AND NOT EXISTS (SELECT 1 FROM uploads t WHERE t.thumb_sha256 = b.sha256)"
)


def orphan_blobs(txn: Txn, limit: int) -> list[str]:
    """Blob hashes no upload uses."""
    rows = txn.query(
        f"SELECT b.sha256 FROM blobs b WHERE {_UNUSED} ORDER BY b.sha256 LIMIT :limit",
        {"limit": limit},
    )
    return [str(row[0]) for row in rows]


def has_blob(txn: Txn, sha256: str) -> bool:
    """Whether blob ``sha256`` has a row."""
    row = txn.query_one("SELECT size FROM blobs WHERE sha256 = :sha256", {"sha256": sha256})
    return row is not None


def forget_blob(txn: Txn, sha256: str) -> bool:
    """Delete the blob's row (and its chunks, if in the database) if no upload uses it."""
    txn.lock_writers()
    row = txn.query_one(
        f"SELECT b.sha256 FROM blobs b WHERE b.sha256 = :sha256 AND {_UNUSED}", {"sha256": sha256}
    )
    if row is None:
        return False
    txn.execute("DELETE FROM blobs WHERE sha256 = :sha256", {"sha256": sha256})
    return True


def list_blobs(txn: Txn, after: str, limit: int) -> list[tuple[str, int]]:
    """``(sha256, size)`` of blobs past ``after``, in hash order."""
    rows = txn.query(
        "SELECT sha256, size FROM blobs WHERE sha256 > :after ORDER BY sha256 LIMIT :limit",
        {"after": after, "limit": limit},
    )
    return [(str(row[0]), int(row[1])) for row in rows]
