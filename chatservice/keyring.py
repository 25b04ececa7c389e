"""The encryption-at-rest key ring: AES-256-GCM keys named by id.

``ENCRYPTION_KEY`` is either one key or a ring ``id:key,id:key,...`` whose
first key encrypts and whose every key decrypts, so that a key can be
rotated in while rows sealed under the older ones stay readable until the
rotation command has re-sealed them. Keys are 32 bytes, written in URL-safe
base64 (``python -m chatservice.keyring`` prints a new one).

A sealed value names the key that sealed it, so a read never has to guess,
and a value sealed under a key the ring does not hold fails loudly
(:class:`UnknownKey`) instead of serving garbage. Every caller passes
*associated data* naming where the value lives (a message id, a file id and
chunk number): a sealed value copied to another row does not open there.

Layout of a sealed value::

    version 1 (1 byte) | len(key id) (1 byte) | key id (ASCII) | nonce (12) | ciphertext + tag (16)
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
DEFAULT_KEY_ID = "k1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class KeyRingError(ValueError):
    """``ENCRYPTION_KEY`` cannot be parsed; the message names the setting."""


class UnknownKey(Exception):
    """A value was sealed under a key id this ring does not hold."""


class CannotOpen(Exception):
    """A sealed value fails authentication: wrong key, wrong place or tampered."""


def _decode_key(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyRingError(
            "ENCRYPTION_KEY: each key must be 32 bytes in URL-safe base64 "
            "(python -m chatservice.keyring prints one)"
        )
    return raw


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256-GCM keys; ``current`` seals, any of them opens."""

    keys: tuple[tuple[str, bytes], ...] = field(repr=False)
    """(id, 32-byte key) pairs; left out of ``repr`` so no log line ever shows a key."""

    @property
    def current(self) -> str:
        """The id of the key new values are sealed under."""
        return self.keys[0][0]

    def key_ids(self) -> tuple[str, ...]:
        """Every key id this ring can open, the sealing one first."""
        return tuple(key_id for key_id, _ in self.keys)

    def _key(self, key_id: str) -> bytes:
        for candidate, key in self.keys:
            if candidate == key_id:
                return key
        raise UnknownKey(key_id)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt ``plaintext`` under the current key, bound to ``aad``."""
        key_id = self.current
        nonce = os.urandom(NONCE_BYTES)
        body = AESGCM(self._key(key_id)).encrypt(nonce, plaintext, aad)
        name = key_id.encode("ascii")
        return VERSION + bytes([len(name)]) + name + nonce + body

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt a value :meth:`seal` made, with the same ``aad``."""
        key_id, nonce, body = split_sealed(sealed)
        try:
            return AESGCM(self._key(key_id)).decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise CannotOpen(key_id) from exc


def split_sealed(sealed: bytes) -> tuple[str, bytes, bytes]:
    """The key id, nonce and ciphertext of a sealed value."""
    if len(sealed) < 2 or sealed[:1] != VERSION:
        raise CannotOpen("not a sealed value")
    name_end = 2 + sealed[1]
    key_id = sealed[2:name_end].decode("ascii", "replace")
    nonce = sealed[name_end : name_end + NONCE_BYTES]
    body = sealed[name_end + NONCE_BYTES :]
    if len(nonce) != NONCE_BYTES or len(body) < TAG_BYTES:
        raise CannotOpen("truncated sealed value")
    return key_id, nonce, body


def sealed_key_id(sealed: bytes) -> str:
    """Which key sealed a value (what rotation asks of each row)."""
    return split_sealed(sealed)[0]


def parse_key_ring(setting: str | None) -> KeyRing | None:
    """Parse ``ENCRYPTION_KEY``: ``None`` or empty means encryption is off."""
    if setting is None or not setting.strip():
        return None
    entries: list[tuple[str, bytes]] = []
    for part in setting.split(","):
        part = part.strip()
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        if not sep:
            key_id, encoded = DEFAULT_KEY_ID, part
        if not _KEY_ID.match(key_id):
            raise KeyRingError("ENCRYPTION_KEY: a key id is 1-32 letters, digits, '.', '_' or '-'")
        if any(key_id == seen for seen, _ in entries):
            raise KeyRingError(f"ENCRYPTION_KEY: key id {key_id!r} appears twice")
        entries.append((key_id, _decode_key(encoded)))
    if not entries:
        return None
    return KeyRing(tuple(entries))


def new_key() -> str:
    """A fresh random key in the form ``ENCRYPTION_KEY`` takes."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii").rstrip("=")


if __name__ == "__main__":  # pragma: no cover - a one-line command
    print(new_key())
