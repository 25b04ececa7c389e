"""What a server admin does to users (list, search, disable, enable, erase), and the audit log.

The admin right is read from the store on every admin action rather than
from the cache the token checks use: admin actions are rare, and a right
granted or taken away with ``python -m chatservice.admin`` (which cannot
reach the running processes) must count at once. Every action is recorded
in the audit log (``_audit``).
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.access_models import AuditEntry, NewAuditEntry
from chatservice.account_forms import UsersQuery
from chatservice.erasure import erase_messages
from chatservice.errors import Forbidden, InvalidRequest, NotFound
from chatservice.hub import IHub
from chatservice.models import Account
from chatservice.revocation import Revocation
from chatservice.store import IChatStore
from chatservice.tokens import Identity

# Audit log actions (``moderation.py`` names the rooms' the same way).
DISABLED = "user_disabled"
ENABLED = "user_enabled"
ERASED = "user_messages_erased"


class UserAdmin:
    """Server-admin use cases on users, independent of HTTP."""

    log = Logger()

    def __init__(
        self, store: IChatStore, revocation: Revocation, hub: IHub, clock: IReactorTime
    ) -> None:
        self._store = store
        self._revocation = revocation
        self._hub = hub
        self._clock = clock

    async def require_admin(self, identity: Identity) -> Account:
        """The caller's account, read now, if it has the server admin right.

        Raises:
            Forbidden: it does not.
        """
        found = await self._store.get_accounts([identity.user_id], int(self._clock.seconds()))
        account = found.get(identity.user_id)
        if account is None or not account.admin or account.deleted:
            raise Forbidden("Only a server admin may do this: your account lacks the admin right.")
        return account

    async def _target(self, user_id: int) -> Account:
        """The account acted on; ``NotFound`` if there is none."""
        found = await self._store.get_accounts([user_id], int(self._clock.seconds()))
        account = found.get(user_id)
        if account is None:
            raise NotFound("No such user.")
        return account

    async def _audit(
        self, actor: Account, action: str, target: Account, reason: str | None
    ) -> None:
        """Record an admin action in the audit log: who did what to whom, why and when."""
        now_ms = int(self._clock.seconds() * 1000)
        entry = NewAuditEntry(actor.user.id, action, now_ms, target.user.id, None, reason or "")
        await self._store.add_audit(entry)
        self.log.info(
            "admin {actor_id} did {action} to user {target_id}",
            actor_id=actor.user.id,
            action=action,
            target_id=target.user.id,
        )

    async def list_users(self, identity: Identity, query: UsersQuery) -> Sequence[Account]:
        """A page of accounts in id order, those whose name contains ``query.query`` if given.

        Raises:
            Forbidden: the caller is not a server admin.
        """
        await self.require_admin(identity)
        return await self._store.list_accounts(query.query, query.after, query.limit)

    async def audit_log(
        self, identity: Identity, room_id: int | None, before: int | None, limit: int
    ) -> Sequence[AuditEntry]:
        """The audit log, newest first: every room's and every admin's actions, or one room's.

        Raises:
            Forbidden: the caller is not a server admin.
        """
        await self.require_admin(identity)
        return await self._store.list_audit(room_id, before, limit)

    async def disable(self, identity: Identity, user_id: int, reason: str | None) -> Account:
        """Disable an account on every process: its requests, logins and sockets are refused.

        Disabling a disabled account changes nothing (and is not recorded again).

        Raises:
            Forbidden: the caller is not a server admin.
            InvalidRequest: the caller names their own account.
            NotFound: no such account (or it was deleted).
        """
        actor = await self.require_admin(identity)
        if user_id == identity.user_id:
            raise InvalidRequest("An admin cannot disable their own account.")
        before = await self._target(user_id)
        now_ms = int(self._clock.seconds() * 1000)
        account = await self._store.set_disabled(user_id, now_ms)
        self._revocation.changed(account)
        if account.version != before.version:
            await self._audit(actor, DISABLED, account, reason)
        return account

    async def enable(self, identity: Identity, user_id: int, reason: str | None) -> Account:
        """Enable a disabled account again: its tokens work as before it was disabled.

        Raises:
            Forbidden: the caller is not a server admin.
            NotFound: no such account (or it was deleted).
        """
        actor = await self.require_admin(identity)
        before = await self._target(user_id)
        account = await self._store.set_disabled(user_id, None)
        self._revocation.changed(account)
        if account.version != before.version:
            await self._audit(actor, ENABLED, account, reason)
        return account

    async def erase(self, identity: Identity, user_id: int, reason: str | None) -> int:
        """Tombstone every message of a user (deleted accounts too); how many.

        Raises:
            Forbidden: the caller is not a server admin.
            NotFound: no such user.
        """
        actor = await self.require_admin(identity)
        target = await self._target(user_id)
        erased = await erase_messages(self._store, self._hub, self._clock, user_id, actor.user.id)
        await self._audit(actor, ERASED, target, reason)
        return erased
