"""HS256 JWTs: issue and verify, with "now" from an injected clock.

Only HS256 is accepted, and ``exp``, ``iat`` and ``sub`` must be present; the
clock is injected so expiry can be tested without waiting.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import jwt
from twisted.internet.interfaces import IReactorTime

from chatservice.errors import Unauthorized
from chatservice.models import User

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token (or ticket) stands for, and until when."""

    user_id: int
    username: str
    expires_at: float  # seconds since the epoch


class TokenIssuer:
    """Signs and checks the service's access tokens."""

    def __init__(self, secret: str, lifetime_seconds: int, clock: IReactorTime) -> None:
        self._key = secret.encode("utf-8")
        self._lifetime = lifetime_seconds
        self._clock = clock

    def issue(self, user: User) -> str:
        """Return a signed token for ``user`` that expires after the lifetime."""
        now = int(self._clock.seconds())
        claims = {
            "sub": str(user.id),
            "username": user.username,
            "iat": now,
            "exp": now + self._lifetime,
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
        exp, iat, sub = claims["exp"], claims["iat"], claims["sub"]
        username = claims.get("username")
        if (
            not isinstance(exp, int | float)
            or not isinstance(iat, int | float)
            or isinstance(exp, bool)
            or not isinstance(sub, str)
            or not (sub.isascii() and sub.isdigit())
            or not isinstance(username, str)
        ):
            raise Unauthorized("The token is invalid.")
        if exp <= now:
            raise Unauthorized("The token has expired.", code="token_expired")
        if iat > now + 60:
            raise Unauthorized("The token is not valid yet.")
        return Identity(int(sub), username, float(exp))
