"""Log out, log out everywhere, change one's password, delete one's account.

Each change is committed in the store first, then handed to
``revocation.py``, which applies it on this process and publishes it to the
others: from then on, every process refuses the revoked tokens without a
store read and closes their sockets.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.account_forms import PasswordChange
from chatservice.accounts import Accounts, Session
from chatservice.erasure import erase_messages
from chatservice.hub import IHub
from chatservice.models import DELETED_USERNAME, Account
from chatservice.store import IChatStore
from chatservice.tokens import Identity

# Sessions of one user kept revoked one by one (until their tokens expire).
# Past it, a logout revokes every token of the user instead: the list is
# read with the account on every process, so it must stay short.
MAX_REVOKED_SESSIONS = 100


class Sessions:
    """The session and account use cases of a signed-in user, independent of HTTP."""

    log = Logger()

    def __init__(
        self, store: IChatStore, accounts: Accounts, hub: IHub, clock: IReactorTime
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._revocation = accounts.revocation
        self._hub = hub
        self._clock = clock

    async def logout(self, identity: Identity) -> Account:
        """Revoke the token ``identity`` came from, on every process.

        A token without a session id (issued before sessions existed) cannot
        be told apart from the user's other such tokens: it is revoked with
        all of them (``logout_all``). So is every token of a user who already
        has ``MAX_REVOKED_SESSIONS`` logged-out tokens that have not expired.

        Raises:
            Unauthorized: the account no longer exists.
        """
        if identity.session is None:
            return await self.logout_all(identity)
        account = await self._store.revoke_session(
            identity.user_id,
            identity.session,
            int(identity.expires_at),
            int(self._clock.seconds()),
        )
        if len(account.revoked) > MAX_REVOKED_SESSIONS:
            account = await self._store.revoke_all_sessions(identity.user_id)
        self._revocation.changed(account)
        self.log.info("user {user_id} logged out a session", user_id=identity.user_id)
        return account

    async def logout_all(self, identity: Identity) -> Account:
        """Revoke every token of the user (this one included), on every process."""
        account = await self._store.revoke_all_sessions(identity.user_id)
        self._revocation.changed(account)
        self.log.info("user {user_id} logged out everywhere", user_id=identity.user_id)
        return account

    async def change_password(
        self, identity: Identity, form: PasswordChange, address: str = ""
    ) -> Session:
        """Check the current password, set the new one, revoke every token issued before.

        Returns a new token for the same session: the one this client uses
        from now on (its old token is revoked too, and its sockets close).

        Raises:
            Forbidden: the current password is wrong.
            RateLimited: too many wrong passwords for the user or the address.
            Overloaded: bcrypt could not start within a few seconds.
        """
        account = await self._revocation.check(identity)
        await self._accounts.confirm_password(account.user, form.current_password, address)
        password_hash = await self._accounts.hash_password(form.new_password)
        account = await self._store.set_password(identity.user_id, password_hash)
        self._revocation.changed(account)
        self.log.info("user {user_id} changed their password", user_id=identity.user_id)
        return Session(self._accounts.issue(account, identity.session), account.user)

    async def delete_account(self, identity: Identity, password: str, address: str = "") -> int:
        """Check the password, delete the account, then erase its messages; how many.

        The account goes first: from then on no token of it works and its
        sockets are closed, so nothing new can be posted while its messages
        are erased (renamed to ``DELETED_USERNAME``). Its name is free to
        register again. If erasing fails midway the account stays deleted
        and a server admin can finish with ``erase-messages``.

        Raises:
            Forbidden: the password is wrong.
            RateLimited: too many wrong passwords for the user or the address.
        """
        account = await self._revocation.check(identity)
        await self._accounts.confirm_password(account.user, password, address)
        now_ms = int(self._clock.seconds() * 1000)
        account = await self._store.delete_account(identity.user_id, now_ms)
        self._revocation.changed(account)
        self.log.info("user {user_id} deleted their account", user_id=identity.user_id)
        return await erase_messages(
            self._store,
            self._hub,
            self._clock,
            identity.user_id,
            identity.user_id,
            rename=DELETED_USERNAME,
        )
