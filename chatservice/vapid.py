"""VAPID (RFC 8292): the key pair that identifies this service to push services.

The private key is a setting (``VAPID_PRIVATE_KEY``: the 32-byte P-256
scalar in URL-safe base64, as ``python -m chatservice.vapid`` prints it);
the public key is derived from it and given to browsers as the
``applicationServerKey`` of their subscription, so that a push service only
accepts pushes for that subscription signed by this key.

Every push carries ``Authorization: vapid t=<JWT>, k=<public key>``: an
ES256 JWT whose ``aud`` is the push service's origin, ``exp`` at most 24 h
ahead and ``sub`` a contact (``mailto:`` or ``https:``, ``VAPID_SUBJECT``).
A JWT is signed once per origin and reused until it nears its expiry, so the
ECDSA signature is not paid per push. ``py_vapid`` does the key handling and
the signing.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from twisted.internet.interfaces import IReactorTime

from chatservice.push_models import b64url_encode

# A JWT lives 12 h (RFC 8292 allows 24 h) and is replaced once it has less
# than 1 h left: the clocks of push services may run a little ahead.
TOKEN_LIFETIME = 12 * 3600
RENEW_BEFORE = 3600
# py_vapid's own check is stricter than RFC 8292; this is the form only.
_SUBJECT = re.compile(r"^(mailto:[^\s@]+@[^\s@]+|https://[^\s/]+(/\S*)?)$")
MAX_CACHED_ORIGINS = 1000


class VapidKeyError(ValueError):
    """A VAPID setting cannot be used; the message names it."""


def parse_private_key(text: str) -> Vapid02:
    """The signer of a ``VAPID_PRIVATE_KEY`` value (raw URL-safe base64, or DER).

    Raises:
        VapidKeyError: it is not a P-256 private key in one of those forms.
    """
    try:
        signer = Vapid02.from_string(text.strip())
        signer.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    except Exception:
        raise VapidKeyError(
            "VAPID_PRIVATE_KEY (--vapid-private-key): must be a P-256 private key in "
            "URL-safe base64 (python -m chatservice.vapid prints a new pair)"
        ) from None
    return signer


def check_subject(subject: str) -> str:
    """``VAPID_SUBJECT`` if it is a ``mailto:`` address or an ``https:`` URL."""
    if not _SUBJECT.match(subject):
        raise VapidKeyError(
            "VAPID_SUBJECT (--vapid-subject): must be a mailto: address or an https: URL "
            "(e.g. mailto:ops@example.com), so push services can reach the operator"
        )
    return subject


def public_key_of(signer: Vapid02) -> str:
    """The public key as browsers take it: the uncompressed point in URL-safe base64."""
    raw: bytes = signer.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(raw)


def new_key_pair() -> tuple[str, str]:
    """A new (private, public) pair, both URL-safe base64 without padding."""
    signer = Vapid02()
    signer.generate_keys()
    scalar: int = signer.private_key.private_numbers().private_value
    return b64url_encode(scalar.to_bytes(32, "big")), public_key_of(signer)


class Vapid:
    """Signs the ``Authorization`` header of pushes, one cached JWT per push-service origin."""

    def __init__(self, private_key: str, subject: str, clock: IReactorTime) -> None:
        self._signer = parse_private_key(private_key)
        self._subject = check_subject(subject)
        self._clock = clock
        self.public_key = public_key_of(self._signer)
        self._tokens: dict[str, tuple[str, float]] = {}

    def authorization(self, origin: str) -> str:
        """The header value for a push to ``origin`` (``scheme://host[:port]``)."""
        now = self._clock.seconds()
        cached = self._tokens.get(origin)
        if cached is not None and cached[1] - now > RENEW_BEFORE:
            return cached[0]
        expires = int(now) + TOKEN_LIFETIME
        claims: dict[str, Any] = {"aud": origin, "exp": expires, "sub": self._subject}
        header: str = self._signer.sign(claims)["Authorization"]
        if len(self._tokens) >= MAX_CACHED_ORIGINS:
            self._tokens.clear()  # a handful of push services in practice
        self._tokens[origin] = (header, float(expires))
        return header


def main(argv: list[str]) -> int:
    """``python -m chatservice.vapid``: print a new key pair as settings."""
    if argv[1:]:
        print("usage: python -m chatservice.vapid", file=sys.stderr)
        return 2
    private, public = new_key_pair()
    print(f"VAPID_PRIVATE_KEY={private}")
    print(f"# public key (GET /api/push/vapid-public-key serves it): {public}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv))
