"""Encryption at rest of message text: what a row holds, sealed or not.

One ``Sealing`` per store, built from ``ENCRYPTION_KEY`` (``keyring``), is
handed to every transaction (``Txn.sealing``); the SQL modules ask it what
to write and how to read, so SQLite and PostgreSQL seal the same way and
nothing else knows encryption exists.

With a key ring, a message row holds:

* ``sealed``: the text sealed with AES-256-GCM under the ring's current key
  (the value names its key id: ``keyring.sealed_key_id``), bound by its
  associated data to the row and the field (``message:<id>:content``), so a
  value copied into another row does not open;
* ``content``: the text's blind-index tokens (``blindindex``), which the
  full-text indexes (FTS5, ``tsvector``) index as they indexed words.

Without one, or for a row written before encryption was turned on,
``sealed`` is NULL and ``content`` is the text, as it always was; a
tombstone (content ``''``) has nothing to seal. So a read never guesses:
``sealed`` NULL is plain text, anything else opens with the key it names
or fails loudly (``CannotOpen``/``UnknownKey``), never serving tokens or
ciphertext as text.

The memory store keeps no data at rest and keeps plain text (it still
answers the rotation step, with nothing to do).
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.defer import Deferred
from zope.interface import Interface

from chatservice.blindindex import IndexKey, query_tokens
from chatservice.errors import ChatError
from chatservice.keyring import KeyRing, UnknownKey, sealed_key_id

SENTINEL_PLAINTEXT = b"chatservice sealing sentinel"
"""What each key's sentinel row seals: opening it proves the ring's key is the right one."""


class WrongEncryptionKey(ChatError):
    """``ENCRYPTION_KEY`` cannot open the data in the store: start-up stops.

    No ``code`` of its own: a start-up error that never reaches a client
    (``errors.all_error_classes`` leaves it out). The message is one line
    that names the setting.
    """


class NothingToRotateTo(ChatError):
    """The rotation command was run without ``ENCRYPTION_KEY``."""


NOTHING_TO_ROTATE_TO = "ENCRYPTION_KEY is not set: there is no key to rotate to"


def content_aad(message_id: int) -> bytes:
    """The associated data of a message's text: its row and field."""
    return b"message:%d:content" % message_id


def secret_aad(webhook_id: int) -> bytes:
    """The associated data of a webhook's signing secret: its row and field."""
    return b"webhook:%d:secret" % webhook_id


def sentinel_aad(key_id: str) -> bytes:
    """The associated data of a key's sentinel."""
    return b"sealing_keys:" + key_id.encode("ascii")


class Sealing:
    """How message text is written and read at rest; ``Sealing(None)`` is plain text."""

    def __init__(self, ring: KeyRing | None) -> None:
        self.ring = ring
        self._index_keys: dict[str, IndexKey] = (
            {key_id: IndexKey(key) for key_id, key in ring.keys} if ring is not None else {}
        )

    @property
    def enabled(self) -> bool:
        """Whether new text is sealed."""
        return self.ring is not None

    def seal_content(self, message_id: int, text: str) -> tuple[str, bytes | None]:
        """The ``(content, sealed)`` columns for ``text`` of message ``message_id``."""
        ring = self.ring
        if ring is None or not text:
            return text, None
        return self.index_text(text), self.seal_text(message_id, text)

    def seal_text(self, message_id: int, text: str) -> bytes:
        """The ``sealed`` column alone (``add_messages`` wrote the tokens with the row)."""
        assert self.ring is not None
        return self.ring.seal(text.encode("utf-8"), content_aad(message_id))

    def index_text(self, text: str) -> str:
        """The ``content`` column of a sealed text: its tokens under the current key."""
        assert self.ring is not None
        return self.current_index_key().index_text(text)

    def current_index_key(self) -> IndexKey:
        """The index key new tokens are made with (benchmarks clear its cache)."""
        assert self.ring is not None
        return self._index_keys[self.ring.current]

    def open_content(self, message_id: int, content: str, sealed: bytes | None) -> str:
        """The text of a row read back: ``content`` itself, or ``sealed`` opened.

        Raises:
            keyring.CannotOpen, keyring.UnknownKey: the ring cannot open it, or
                there is no ring (start-up refuses that, so only a row written
                meanwhile by a process with another ring gets here). Not a
                ``ChatError``: a client gets a plain 500, the log the detail.
        """
        if sealed is None:
            return content
        if self.ring is None:
            raise UnknownKey(sealed_key_id(bytes(sealed)))
        return self.ring.open(bytes(sealed), content_aad(message_id)).decode("utf-8")

    def seal_secret(self, webhook_id: int, secret: str) -> tuple[str, bytes | None]:
        """The ``(secret, sealed_secret)`` columns of webhook ``webhook_id``'s secret.

        Sealed, ``secret`` is empty: a signing secret read from a stolen
        database would let anyone forge the service's deliveries.
        """
        if self.ring is None:
            return secret, None
        return "", self.ring.seal(secret.encode("utf-8"), secret_aad(webhook_id))

    def open_secret(self, webhook_id: int, secret: str, sealed: bytes | None) -> str:
        """A webhook's secret read back: ``secret`` itself, or ``sealed`` opened.

        Raises what ``open_content`` raises.
        """
        if sealed is None:
            return secret
        if self.ring is None:
            raise UnknownKey(sealed_key_id(bytes(sealed)))
        return self.ring.open(bytes(sealed), secret_aad(webhook_id)).decode("utf-8")

    def search_terms(self, words: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
        """For each query word, what the index may hold for it: the word itself, or a token.

        The word as typed matches rows stored before encryption was on (and
        not yet rotated); a token per key of the ring matches rows sealed
        under any of them, so a rotation under way loses no result.
        """
        if not self._index_keys:
            return tuple((word,) for word in words)
        keys = self._index_keys.values()
        return tuple((word, *query_tokens(keys, word)) for word in words)


PLAINTEXT = Sealing(None)
"""No encryption: what a store built without a key ring uses."""


@dataclass(frozen=True, slots=True)
class ResealStep:
    """What one rotation batch did.

    Attributes:
        after_id: the last message id looked at (the progress kept in the store).
        resealed: rows rewritten under the current key in this batch.
        done: every row is under the current key; older keys were retired.
        secrets: webhook secrets re-sealed (by the last step, before retiring).
    """

    after_id: int
    resealed: int
    done: bool
    secrets: int = 0


class ISealingStore(Interface):
    """A store whose message text can be re-sealed under the current key, in batches."""

    def reseal_batch(batch_size: int) -> Deferred[ResealStep]:
        """Re-seal the next ``batch_size`` messages after the stored progress.

        Rows under an older key (or plain text from before encryption) are
        sealed under the ring's current key and re-indexed with its tokens;
        rows already under it are left alone, so a rerun after an
        interruption redoes nothing. The progress (the last id) is kept in
        the store in the same transaction, so an interrupted rotation
        resumes there. When no message is left, keys other than the
        current one are retired (start-up no longer asks for them) and
        ``done`` is set. Webhook secrets (few: at most ten a room) are
        re-sealed by that last step, in its transaction, before the keys are
        retired. Fails with ``NothingToRotateTo`` without a ring.
        """
