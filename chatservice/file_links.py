"""Short-lived signed links to files, for browsers that load ``<img src>`` without a token.

A message object names its attachments' download and thumbnail URLs with
an expiry and an HMAC over (file id, variant, expiry) in the query string,
so an ``<img>`` tag works without the long-lived bearer token ever being
put in a URL. The signature depends on the file and a time bucket only,
never on who reads it: a live frame is encoded once for every socket of a
room (and every process), so it must be the same bytes for all of them.
Whoever holds a link may fetch that one file until it expires, which is
the same power as holding the file's bytes (they could be saved and
re-shared anyway).

The key is derived from ``JWT_SECRET`` (every process of a deployment
shares it), so any process verifies a link any other one signed. One
signer per process (``install``): the message JSON is built in many places
(history, events, search, replays, live frames), and threading a signer
through each would couple all of them to files.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

# A link is valid for one to two buckets: every link signed in the same
# bucket is the same string (cacheable, identical for every recipient).
BUCKET_SECONDS = 1800
DOWNLOAD = "file"
THUMBNAIL = "thumbnail"
VARIANTS = (DOWNLOAD, THUMBNAIL)


def derive_key(jwt_secret: str) -> bytes:
    """The link-signing key: a hash of the token secret with its own label, never the secret."""
    label = b"chatservice file links v1"
    return hmac.new(jwt_secret.encode("utf-8"), label, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Signs and checks ``/api/files/{id}`` links with ``key`` and ``clock``."""

    key: bytes
    clock: IReactorTime | None = None
    prefix: str = "/api/files"

    def _now(self) -> float:
        if self.clock is not None:
            return self.clock.seconds()
        import time

        return time.time()

    def expiry(self) -> int:
        """When links signed now expire: the end of the next bucket."""
        bucket = int(self._now()) // BUCKET_SECONDS
        return (bucket + 2) * BUCKET_SECONDS

    def signature(self, upload_id: int, variant: str, expires: int) -> str:
        """The hex HMAC of one link (truncated to 128 bits: plenty against forgery)."""
        text = f"{upload_id}:{variant}:{expires}".encode("ascii")
        return hmac.new(self.key, text, hashlib.sha256).hexdigest()[:32]

    def url(self, upload_id: int, variant: str = DOWNLOAD) -> str:
        """A path-and-query link to the file (or its thumbnail), valid for 30-60 minutes."""
        expires = self.expiry()
        sig = self.signature(upload_id, variant, expires)
        suffix = "" if variant == DOWNLOAD else "/thumbnail"
        return f"{self.prefix}/{upload_id}{suffix}?expires={expires}&sig={sig}"

    def check(self, upload_id: int, variant: str, expires: int, sig: str) -> bool:
        """True if ``sig`` signs this link and ``expires`` has not passed."""
        if expires < self._now():
            return False
        return hmac.compare_digest(self.signature(upload_id, variant, expires), sig)


_signer = LinkSigner(os.urandom(32))


def install(signer: LinkSigner) -> None:
    """Make ``signer`` the one this process signs message links with (the service does)."""
    global _signer
    _signer = signer


def signer() -> LinkSigner:
    """The process's signer (a random key until a service installs its own)."""
    return _signer
