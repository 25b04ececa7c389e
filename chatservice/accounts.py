"""Register, log in, and turn a token into a user: the account use cases."""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.errors import (
    Conflict,
    InvalidCredentials,
    NotFound,
    RateLimited,
    Unauthorized,
)
from chatservice.models import User
from chatservice.passwords import PasswordHasher
from chatservice.ratelimit import Decision, Rate, RateLimiter
from chatservice.store import IChatStore
from chatservice.tokens import Identity, TokenIssuer
from chatservice.wire import CredentialsForm


@dataclass(frozen=True, slots=True)
class Session:
    """A signed token and the user it belongs to: what register and login answer."""

    token: str
    user: User


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """How many failed logins and registrations are allowed (API.md's abuse table)."""

    login_failures: Rate = field(default_factory=lambda: Rate.per(10, 300))
    registrations: Rate = field(default_factory=lambda: Rate.per(20, 3600))


class Accounts:
    """Account use cases, independent of HTTP."""

    log = Logger()

    def __init__(
        self,
        store: IChatStore,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        clock: IReactorTime,
        limits: AccountLimits | None = None,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        limits = limits or AccountLimits()
        self._failures_by_name = RateLimiter(
            "login-failures-per-username", limits.login_failures, clock
        )
        self._failures_by_address = RateLimiter(
            "login-failures-per-address", limits.login_failures, clock
        )
        self._registrations = RateLimiter("registrations-per-address", limits.registrations, clock)

    def _refuse(self, limiter: RateLimiter, decision: Decision, key_kind: str) -> RateLimited:
        # The key (a username or address) is not logged: names are personal
        # data and the limiter name says enough to tune the limit.
        self.log.info("rate limited by {limiter} ({kind})", limiter=limiter.name, kind=key_kind)
        return limiter.refusal(decision)

    async def register(self, form: CredentialsForm, address: str = "") -> Session:
        """Create an account and sign a token for it.

        Raises:
            Conflict: the username is taken (case-insensitively).
            RateLimited: too many registrations from ``address``.
        """
        decision = self._registrations.take(address)
        if not decision.allowed:
            raise self._refuse(self._registrations, decision, "address")
        try:
            # Cheap check first, so a taken name costs no bcrypt work.
            await self._store.get_credentials(form.username)
        except NotFound:
            pass
        else:
            raise Conflict("That username is already taken.")
        password_hash = await self._hasher.hash(form.password)
        now_ms = int(self._clock.seconds() * 1000)
        user = await self._store.create_user(form.username, password_hash, now_ms)
        self.log.info("user {user_id} registered", user_id=user.id)
        return Session(self._tokens.issue(user), user)

    async def login(self, form: CredentialsForm, address: str = "") -> Session:
        """Check a password and sign a token.

        An unknown user and a wrong password fail the same way after the same
        bcrypt work. While a username or an address has too many recent
        failures, its logins are refused before any password is checked.

        Raises:
            Unauthorized: code ``invalid_credentials``.
            RateLimited: too many failed logins for the username or address.
        """
        name_key = form.username.casefold()
        # Every attempt spends a token *before* its password is checked, and
        # a success gives it back: attempts checked concurrently cannot all
        # slip past the limit while the first ones are still being hashed.
        spent: list[tuple[RateLimiter, str]] = []
        for limiter, key, kind in (
            (self._failures_by_name, name_key, "username"),
            (self._failures_by_address, address, "address"),
        ):
            decision = limiter.take(key)
            if not decision.allowed:
                for taken, taken_key in spent:
                    taken.give_back(taken_key)
                raise self._refuse(limiter, decision, kind)
            spent.append((limiter, key))
        try:
            try:
                credentials = await self._store.get_credentials(form.username)
            except NotFound:
                credentials = None
            password_hash = credentials.password_hash if credentials else None
            matches = await self._hasher.verify(form.password, password_hash)
        except BaseException:
            # Not a failed login (e.g. the store is down): it does not count.
            for limiter, key in spent:
                limiter.give_back(key)
            raise
        if not matches or credentials is None:
            raise InvalidCredentials()
        # Only failures count: a user who logs in often is never limited.
        for limiter, key in spent:
            limiter.give_back(key)
        return Session(self._tokens.issue(credentials.user), credentials.user)

    async def authenticate(self, token: str) -> Identity:
        """Verify a token and that its user still exists.

        Raises:
            Unauthorized: the token is bad or expired, or its user is gone.
        """
        identity = self._tokens.verify(token)
        await self.check_exists(identity)
        return identity

    async def check_exists(self, identity: Identity) -> User:
        """Return the user an identity names; ``Unauthorized`` if it no longer exists."""
        try:
            return await self._store.get_user(identity.user_id)
        except NotFound:
            raise Unauthorized("The token's user does not exist.") from None
