"""The SQL of encryption at rest: the start-up key check and the rotation batch.

Each function runs in a pool thread inside one ``Database`` transaction,
with the store's ``Sealing`` on ``txn.sealing`` (see ``store.sealing``).
"""

from __future__ import annotations

from chatservice.keyring import CannotOpen, UnknownKey, sealed_key_id
from chatservice.store.database import Txn
from chatservice.store.hook_queries import reseal_secrets
from chatservice.store.sealing import (
    NOTHING_TO_ROTATE_TO,
    SENTINEL_PLAINTEXT,
    NothingToRotateTo,
    ResealStep,
    WrongEncryptionKey,
    content_aad,
    sentinel_aad,
)

_KEYS = "SELECT key_id, sentinel FROM sealing_keys ORDER BY added_at, key_id"
_ADD_KEY = (
    "INSERT INTO sealing_keys (key_id, sentinel, added_at) VALUES (:key_id, :sentinel, :added_at)"
    " ON CONFLICT (key_id) DO NOTHING"
)
# The newest sealed message: a sample that must open too (the sentinels
# could have been tampered with, or the table emptied by hand).
_NEWEST_SEALED = (
    "SELECT id, sealed FROM messages"
    " WHERE id = (SELECT MAX(id) FROM messages) AND sealed IS NOT NULL"
)


def check_keys(txn: Txn, now_ms: int) -> None:
    """Refuse to start unless the ring opens everything the store holds; register its key.

    Every key id of ``sealing_keys`` must be in the ring, and its sentinel
    must open (the right key under that id, not just the right name); the
    newest message, if sealed, must open too. The ring's current key gets
    its sentinel before any row is sealed under it.

    Raises:
        WrongEncryptionKey: one line naming ``ENCRYPTION_KEY``.
    """
    txn.lock_writers()
    ring = txn.sealing.ring
    if ring is not None:
        sentinel = ring.seal(SENTINEL_PLAINTEXT, sentinel_aad(ring.current))
        params = {"key_id": ring.current, "sentinel": sentinel, "added_at": now_ms}
        txn.execute(_ADD_KEY, params)
    for key_id, sentinel in txn.query(_KEYS):
        _check_opens(txn, str(key_id), bytes(sentinel), sentinel_aad(str(key_id)))
    row = txn.query_one(_NEWEST_SEALED)
    if row is not None:
        sealed = bytes(row[1])
        _check_opens(txn, sealed_key_id(sealed), sealed, content_aad(int(row[0])))


def _check_opens(txn: Txn, key_id: str, sealed: bytes, aad: bytes) -> None:
    ring = txn.sealing.ring
    if ring is None:
        raise WrongEncryptionKey(
            f"ENCRYPTION_KEY: the database holds data sealed under key {key_id!r}, "
            "but ENCRYPTION_KEY is not set"
        )
    try:
        ring.open(sealed, aad)
    except UnknownKey:
        raise WrongEncryptionKey(
            f"ENCRYPTION_KEY: the database holds data sealed under key {key_id!r}, "
            "which the ring does not hold"
        ) from None
    except CannotOpen:
        raise WrongEncryptionKey(
            f"ENCRYPTION_KEY: key {key_id!r} of the ring is not the key the database's "
            f"data under {key_id!r} was sealed with"
        ) from None


_PROGRESS = "SELECT after_id FROM sealing_progress WHERE key_id = :key_id"
_SAVE_PROGRESS = (
    "INSERT INTO sealing_progress (key_id, after_id) VALUES (:key_id, :after_id)"
    " ON CONFLICT (key_id) DO UPDATE SET after_id = excluded.after_id"
)
_BATCH = (
    "SELECT id, content, sealed FROM messages WHERE id > :after_id AND NOT deleted"
    " ORDER BY id LIMIT :limit"
)
_RESEAL = "UPDATE messages SET content = :content, sealed = :sealed WHERE id = :id"


def reseal_batch(txn: Txn, batch_size: int) -> ResealStep:
    """One rotation step (``ISealingStore.reseal_batch``), under the writers' lock.

    The lock keeps edits and deletes of the batch's messages out until the
    commit, so a row is never re-sealed from a text an edit has replaced.
    A row already sealed under the current key has its tokens under it too
    (both are written together), so it is skipped.
    """
    sealing = txn.sealing
    ring = sealing.ring
    if ring is None:
        raise NothingToRotateTo(NOTHING_TO_ROTATE_TO)
    txn.lock_writers()
    current = ring.current
    row = txn.query_one(_PROGRESS, {"key_id": current})
    after_id = 0 if row is None else int(row[0])
    rows = txn.query(_BATCH, {"after_id": after_id, "limit": batch_size})
    if not rows:
        # Webhook secrets, then no row is left under an older key.
        secrets = reseal_secrets(txn)
        txn.execute("DELETE FROM sealing_keys WHERE key_id <> :key_id", {"key_id": current})
        txn.execute("DELETE FROM sealing_progress")
        return ResealStep(after_id, 0, True, secrets)
    updates: list[dict[str, object]] = []
    for message_id, content, sealed in rows:
        message_id = int(message_id)
        raw = None if sealed is None else bytes(sealed)
        if raw is None and not content:
            continue
        if raw is not None and sealed_key_id(raw) == current:
            continue
        text = sealing.open_content(message_id, str(content), raw)
        new_content, new_sealed = sealing.seal_content(message_id, text)
        updates.append({"id": message_id, "content": new_content, "sealed": new_sealed})
    if updates:
        txn.execute_many(_RESEAL, updates)
    after_id = int(rows[-1][0])
    txn.execute(_SAVE_PROGRESS, {"key_id": current, "after_id": after_id})
    return ResealStep(after_id, len(updates), False)
