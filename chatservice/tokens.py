"""HS256 JWTs: issue and verify, with "now" from an injected clock.

Only HS256 is accepted, and ``exp``, ``iat`` and ``sub`` must be present; the
clock is injected so expiry can be tested without waiting. A token also
names its session (``sid``, random per login or registration: what a logout
revokes) and its user's token generation (``gen``: bumping it revokes every
older token); tokens issued before these claims existed have neither and
count as generation 0 without a session (``revocation.py`` judges them).
"""

from __future__ import annotations

import math
import re
import secrets
import warnings
from dataclasses import dataclass

import jwt
from twisted.internet.interfaces import IReactorTime

from chatservice.errors import TokenExpired, Unauthorized
from chatservice.models import User

ALGORITHM = "HS256"

# User ids are signed 64-bit integers in every store.
MAX_USER_ID = 2**63 - 1

# The largest ``exp``/``iat`` accepted: the end of year 9999, like most JWT
# libraries. A bigger number cannot be a time this service issued, and past
# 1e308 it no longer converts to a float at all.
MAX_TIMESTAMP = 253_402_300_799
# A session id is ours (``new_session``: 22 URL-safe characters); anything
# longer or of other characters cannot be one.
MAX_SESSION_LENGTH = 64
_SESSION_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_session() -> str:
    """A new random session id (128 bits, URL-safe): one per login or registration."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token (or ticket) stands for, and until when."""

    user_id: int
    username: str
    expires_at: float  # seconds since the epoch
    # The token's session id, when it has one: what a logout revokes.
    session: str | None = None
    # The user's token generation when it was issued (0 for older tokens).
    generation: int = 0


# Tokens remembered as verified (a few hundred bytes each).
VERIFIED_CACHE_SIZE = 4096
# A token as ``issue`` spells it: three unpadded base64url segments, the last
# an HS256 signature, and at most this long. Only such are remembered: other
# spellings of a good token verify too (PyJWT takes a padded signature, and
# before 2.14 skipped any junk in it), and each would take a place.
_ISSUED_FORM = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}")
MAX_REMEMBERED_LENGTH = 1024


class TokenIssuer:
    """Signs and checks the service's access tokens.

    A token whose signature and claims were checked is remembered (the
    newest ``cache_size`` of them): decoding one was a fifth of a WebSocket
    handshake's CPU, paid again by every reconnect and REST call with it.
    Its times are checked against the clock on every use; revocation is
    ``revocation.py``'s, after this. Forged tokens are not remembered, nor
    other spellings of good ones, so garbage cannot push good tokens out.
    """

    def __init__(
        self,
        secret: str,
        lifetime_seconds: int,
        clock: IReactorTime,
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self._key = secret.encode("utf-8")
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._cache_size = cache_size
        # token -> (identity, iat); insertion order is age.
        self._verified: dict[str, tuple[Identity, float]] = {}

    def issue(self, user: User, session: str | None = None, generation: int = 0) -> str:
        """Return a signed token for ``user`` that expires after the lifetime.

        ``session`` continues a session (a password change answers a new
        token for the same one); by default the token starts a new session.
        ``generation`` must be the user's current token generation, or the
        token is born revoked.
        """
        now = int(self._clock.seconds())
        claims = {
            "sub": str(user.id),
            "username": user.username,
            "iat": now,
            "exp": now + self._lifetime,
            "sid": session or new_session(),
            "gen": generation,
        }
        with warnings.catch_warnings():
            # The short development key warns on every call; start-up already said so.
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> Identity:
        """Return the identity a token stands for.

        Raises:
            Unauthorized: the token is malformed, forged, of another algorithm,
                missing a claim, or expired (code ``token_expired``).
        """
        now = self._clock.seconds()
        verified = self._verified.get(token)
        if verified is None:
            verified = self._decode(token)
            if len(token) <= MAX_REMEMBERED_LENGTH and _ISSUED_FORM.fullmatch(token):
                if len(self._verified) >= self._cache_size:
                    del self._verified[next(iter(self._verified))]
                self._verified[token] = verified
        identity, iat = verified
        if identity.expires_at <= now:
            raise TokenExpired()
        if iat > now + 60:
            raise Unauthorized("The token is not valid yet.")
        return identity

    def _decode(self, token: str) -> tuple[Identity, float]:
        """Check a token's signature and the form of its claims (not its times)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
                # PyJWT reads the wall clock for exp/iat, so those checks are
                # done here against the injected clock instead.
                claims = jwt.decode(
                    token,
                    self._key,
                    algorithms=[ALGORITHM],
                    options={
                        "require": ["exp", "iat", "sub"],
                        "verify_exp": False,
                        "verify_iat": False,
                    },
                )
        except jwt.InvalidTokenError:
            raise Unauthorized("The token is invalid.") from None
        exp, iat = claims["exp"], claims["iat"]
        user_id = _user_id(claims["sub"])
        username = claims.get("username")
        session = claims.get("sid")
        generation = claims.get("gen", 0)
        if (
            not _is_timestamp(exp)
            or not _is_timestamp(iat)
            or user_id is None
            or not isinstance(username, str)
            or not (session is None or _is_session(session))
            or not _is_generation(generation)
        ):
            raise Unauthorized("The token is invalid.")
        return Identity(user_id, username, float(exp), session, generation), float(iat)


def _user_id(sub: object) -> int | None:
    """Return the user id a ``sub`` claim names, or None if it names none.

    Checked here, not by the store: an id past 64 bits overflows the SQLite
    driver, and Python refuses to parse more than 4,300 digits, so either
    would be a 500 on every authenticated route instead of a 401.
    """
    if not isinstance(sub, str) or not (sub.isascii() and sub.isdigit()):
        return None
    digits = sub.lstrip("0")
    if not digits or len(digits) > len(str(MAX_USER_ID)):
        return None
    user_id = int(digits)
    return user_id if user_id <= MAX_USER_ID else None


def _is_timestamp(value: object) -> bool:
    """Whether ``value`` is a finite number of seconds a token could carry.

    PyJWT's JSON reader accepts ``NaN`` and ``Infinity``: a NaN ``exp``
    compares false with everything and would never expire.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return -MAX_TIMESTAMP <= value <= MAX_TIMESTAMP


def _is_session(value: object) -> bool:
    """Whether a ``sid`` claim could be a session id this service made."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_SESSION_LENGTH
        and _SESSION_CHARACTERS.issuperset(value)
    )


def _is_generation(value: object) -> bool:
    """Whether a ``gen`` claim is a token generation (a 64-bit count, not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_USER_ID
