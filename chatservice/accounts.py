"""Register, log in, and turn a token into a user: the account use cases.

Whether a token still works (its session, its user's token generation, a
disabled or deleted account) is ``revocation.py``'s, answered from memory;
``sessions.py`` revokes tokens and changes passwords with the password
checks and tokens made here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.errors import (
    AccountDisabled,
    Conflict,
    Forbidden,
    InvalidCredentials,
    NotFound,
    Overloaded,
    RateLimited,
)
from chatservice.models import Account, Credentials, User
from chatservice.passwords import PasswordHasher
from chatservice.ratelimit import DEFAULT_MAX_BYTES, Decision, Rate, RateLimiter
from chatservice.revocation import Revocation
from chatservice.store import IChatStore
from chatservice.tokens import Identity, TokenIssuer
from chatservice.wire import MAX_PASSWORD_BYTES, USERNAME_PATTERN, CredentialsForm

MAX_USERNAME_LENGTH = 32  # USERNAME_PATTERN's upper bound


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
    # Each limiter's memory bound: its keys are client-chosen names and addresses.
    limiter_bytes: int = DEFAULT_MAX_BYTES


def could_have_registered(form: CredentialsForm) -> bool:
    """Whether these credentials could belong to an account at all.

    Registration only accepts ``USERNAME_PATTERN`` names and passwords of at
    most ``MAX_PASSWORD_BYTES``, so anything else is wrong without a look at
    the store, a limiter or bcrypt. Refusing it at once tells a client
    nothing it could not read in the API's rules, and costs the server
    nothing whatever the size (up to the 64 KiB body). Lengths are checked
    before the pattern and the encoding, so that work is bounded too.
    """
    username, password = form.username, form.password
    if len(username) > MAX_USERNAME_LENGTH or not USERNAME_PATTERN.fullmatch(username):
        return False
    # More characters than bytes allowed is too long whatever the encoding.
    return len(password) <= MAX_PASSWORD_BYTES and (
        len(password.encode("utf-8")) <= MAX_PASSWORD_BYTES
    )


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
        revocation: Revocation | None = None,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        # The service shares one with the sockets (``service.py``).
        self.revocation = revocation if revocation is not None else Revocation(store, clock)
        limits = limits or AccountLimits()
        size = limits.limiter_bytes
        self._failures_by_name = RateLimiter(
            "login-failures-per-username", limits.login_failures, clock, max_bytes=size
        )
        self._failures_by_address = RateLimiter(
            "login-failures-per-address", limits.login_failures, clock, max_bytes=size
        )
        self._registrations = RateLimiter(
            "registrations-per-address", limits.registrations, clock, max_bytes=size
        )

    @property
    def limiters(self) -> tuple[RateLimiter, ...]:
        """The account limiters, for metrics and tests of their memory."""
        return (self._failures_by_name, self._failures_by_address, self._registrations)

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
            Overloaded: bcrypt could not start within a few seconds.
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
        try:
            password_hash = await self._hasher.hash(form.password)
        except Overloaded:
            # Nothing was registered: the attempt does not count.
            self._registrations.give_back(address)
            raise
        now_ms = int(self._clock.seconds() * 1000)
        user = await self._store.create_user(form.username, password_hash, now_ms)
        self.log.info("user {user_id} registered", user_id=user.id)
        return Session(self._tokens.issue(user), user)

    async def login(self, form: CredentialsForm, address: str = "") -> Session:
        """Check a password and sign a token.

        An unknown user and a wrong password fail the same way after the same
        bcrypt work. While an address or a username has too many recent
        failures, its logins are refused before any password is checked.
        Credentials no account could have (see ``could_have_registered``) fail
        the same way at once, before any limiter or bcrypt work, so their
        size never reaches memory that outlives the request. A disabled
        account is told so only after its password was checked.

        Raises:
            InvalidCredentials: 401 ``invalid_credentials``.
            AccountDisabled: the right password of a disabled account.
            RateLimited: too many failed logins for the address or username.
            Overloaded: bcrypt could not start within a few seconds.
        """
        if not could_have_registered(form):
            raise InvalidCredentials()
        credentials = await self._checked(form.username, form.password, address)
        if credentials is None:
            raise InvalidCredentials()
        # Read, not cached: the token must carry the generation of now.
        account = await self.revocation.load(credentials.user.id)
        if account.disabled:
            raise AccountDisabled()
        token = self._tokens.issue(account.user, generation=account.generation)
        return Session(token, account.user)

    async def _checked(self, username: str, password: str, address: str) -> Credentials | None:
        """The credentials of ``username`` if ``password`` is theirs; None counts as a failure.

        Every attempt spends a token *before* its password is checked, and a
        success gives it back: attempts checked concurrently cannot all slip
        past the limit while the first ones are still being hashed. The
        address goes first: one address trying many names is stopped before
        any of those names is remembered.

        Raises:
            RateLimited: too many failed attempts for the address or username.
            Overloaded: bcrypt could not start within a few seconds.
        """
        name_key = username.casefold()
        spent: list[tuple[RateLimiter, str]] = []
        for limiter, key, kind in (
            (self._failures_by_address, address, "address"),
            (self._failures_by_name, name_key, "username"),
        ):
            decision = limiter.take(key)
            if not decision.allowed:
                for taken, taken_key in spent:
                    taken.give_back(taken_key)
                raise self._refuse(limiter, decision, kind)
            spent.append((limiter, key))
        try:
            try:
                credentials: Credentials | None = await self._store.get_credentials(username)
            except NotFound:
                credentials = None
            password_hash = credentials.password_hash if credentials else None
            matches = await self._hasher.verify(password, password_hash)
        except BaseException:
            # Not a failed attempt (the store is down, bcrypt is overloaded):
            # it does not count.
            for limiter, key in spent:
                limiter.give_back(key)
            raise
        if not matches or credentials is None:
            return None
        # Only failures count: a user who logs in often is never limited.
        for limiter, key in spent:
            limiter.give_back(key)
        return credentials

    async def confirm_password(self, user: User, password: str, address: str = "") -> None:
        """Check that ``password`` is ``user``'s before a change that needs it.

        A wrong password counts as a failed login of the user and of the
        address (a stolen token must not become a way to guess the password).

        Raises:
            Forbidden: the password is wrong.
            RateLimited: too many failed attempts for the address or username.
            Overloaded: bcrypt could not start within a few seconds.
        """
        wrong = Forbidden("The password is wrong.")
        if not could_have_registered(CredentialsForm(user.username, password)):
            raise wrong
        credentials = await self._checked(user.username, password, address)
        if credentials is None or credentials.user.id != user.id:
            raise wrong

    async def hash_password(self, password: str) -> bytes:
        """Hash a new password (already checked against the registration rules).

        Raises:
            Overloaded: bcrypt could not start within a few seconds.
        """
        return await self._hasher.hash(password)

    def issue(self, account: Account, session: str | None = None) -> str:
        """Sign a token of the account's current generation, for ``session`` or a new one."""
        return self._tokens.issue(account.user, session, account.generation)

    async def authenticate(self, token: str) -> Identity:
        """Verify a token and that its account still accepts it (from memory, mostly).

        Raises:
            Unauthorized: the token is bad or expired, or its user is gone.
            SessionRevoked: the token was logged out.
            AccountDisabled: the account is disabled.
        """
        identity = self._tokens.verify(token)
        await self.revocation.check(identity)
        return identity

    async def check_identity(self, identity: Identity) -> Account:
        """Return the account of an identity (a ticket's) if it still accepts its token.

        Raises:
            Unauthorized: its user no longer exists.
            SessionRevoked: its token was logged out.
            AccountDisabled: the account is disabled.
        """
        return await self.revocation.check(identity)
