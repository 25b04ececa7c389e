"""Register, log in, and turn a token into a user: the account use cases."""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.errors import Conflict, NotFound, Unauthorized
from chatservice.models import User
from chatservice.passwords import PasswordHasher
from chatservice.store import IChatStore
from chatservice.tokens import Identity, TokenIssuer
from chatservice.wire import CredentialsForm


@dataclass(frozen=True, slots=True)
class Session:
    """A signed token and the user it belongs to: what register and login answer."""

    token: str
    user: User


class Accounts:
    """Account use cases, independent of HTTP."""

    log = Logger()

    def __init__(
        self, store: IChatStore, hasher: PasswordHasher, tokens: TokenIssuer, clock: IReactorTime
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock

    async def register(self, form: CredentialsForm) -> Session:
        """Create an account and sign a token for it.

        Raises:
            Conflict: the username is taken (case-insensitively).
        """
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

    async def login(self, form: CredentialsForm) -> Session:
        """Check a password and sign a token.

        An unknown user and a wrong password fail the same way after the same
        bcrypt work.

        Raises:
            Unauthorized: code ``invalid_credentials``.
        """
        try:
            credentials = await self._store.get_credentials(form.username)
        except NotFound:
            credentials = None
        password_hash = credentials.password_hash if credentials else None
        if not await self._hasher.verify(form.password, password_hash) or credentials is None:
            raise Unauthorized("Invalid username or password.", code="invalid_credentials")
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
