"""``MemoryStore``'s account methods (``IAccountStore``), in dicts.

The same rules as ``account_queries``: every change answers with the
account as it is after it, ``version`` one higher; a deleted account keeps
its row (renamed) for its messages and is ``NotFound`` to every change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.models import DELETED_USERNAME, Account, Change, ErasePage, User
from chatservice.store.memory_timeline import MemoryTimeline


class MemoryAccounts:
    """Accounts in process memory; mixed into ``MemoryStore``, whose dicts it shares."""

    _users: dict[int, User]
    _hashes: dict[int, bytes]
    _user_ids_by_name: dict[str, int]
    _timeline: MemoryTimeline
    # Per user, what differs from a fresh account (``user`` is ``_users``').
    _accounts: dict[int, Account]
    # Per user, revoked session -> the second its token expires.
    _revoked: dict[int, dict[str, int]]

    def _forget_push_of(self, user_id: int) -> None:
        """Delete the user's push subscriptions (``MemoryPush``'s; none without it)."""

    def _account(self, user_id: int, now: int | None = None) -> Account:
        """The account as it is; revoked sessions unexpired at ``now`` (none without ``now``)."""
        user = self._users[user_id]
        stored = self._accounts.get(user_id) or Account(user)
        revoked: frozenset[str] = frozenset()
        if now is not None:
            sessions = self._revoked.get(user_id, {})
            revoked = frozenset(s for s, expires in sessions.items() if expires > now)
        return dataclasses.replace(stored, user=user, revoked=revoked)

    def _live(self, user_id: int) -> Account:
        """The account of a user that exists and is not deleted; ``NotFound`` otherwise."""
        if user_id not in self._users or self._account(user_id).deleted:
            raise NotFound("No such user.")
        return self._account(user_id)

    def _changed(self, account: Account, **changes: object) -> Account:
        """Store ``account`` with ``changes`` and the next version; return it as stored."""
        new = dataclasses.replace(account, version=account.version + 1, **changes)  # type: ignore[arg-type]
        self._accounts[account.user.id] = dataclasses.replace(new, revoked=frozenset())
        return new

    def get_accounts(self, user_ids: Sequence[int], now: int) -> Deferred[Mapping[int, Account]]:
        """Fire with the accounts of ``user_ids`` that exist, by id."""
        return succeed(
            {
                user_id: self._account(user_id, now)
                for user_id in user_ids
                if user_id in self._users
            }
        )

    def list_accounts(
        self, query: str | None, after: int, limit: int, admins_only: bool = False
    ) -> Deferred[Sequence[Account]]:
        """Fire with a page of accounts in id order."""
        keys = {user_id: key for key, user_id in self._user_ids_by_name.items()}
        found: list[Account] = []
        for user_id in sorted(self._users):
            if len(found) >= limit:
                break
            account = self._account(user_id)
            key = keys.get(user_id, f"{DELETED_USERNAME} #{user_id}")
            if (
                user_id > after
                and (not query or query.casefold() in key)
                and (account.admin or not admins_only)
            ):
                found.append(account)
        return succeed(found)

    def revoke_session(
        self, user_id: int, session: str, expires_at: int, now: int
    ) -> Deferred[Account]:
        """Revoke one token's session until it expires; forget expired ones."""
        try:
            account = self._live(user_id)
        except NotFound as error:
            return fail(error)
        for sessions in self._revoked.values():
            for expired in [s for s, expires in sessions.items() if expires <= now]:
                del sessions[expired]
        if any(session in sessions for sessions in self._revoked.values()):
            return succeed(self._account(user_id, now))
        self._revoked.setdefault(user_id, {})[session] = expires_at
        self._changed(account)
        return succeed(self._account(user_id, now))

    def revoke_all_sessions(self, user_id: int) -> Deferred[Account]:
        """Bump the token generation; forget the sessions revoked one by one."""
        try:
            account = self._live(user_id)
        except NotFound as error:
            return fail(error)
        self._revoked.pop(user_id, None)
        self._forget_push_of(user_id)
        return succeed(self._changed(account, generation=account.generation + 1))

    def set_password(self, user_id: int, password_hash: bytes) -> Deferred[Account]:
        """Replace the hash and bump the token generation."""
        if user_id in self._users and not self._account(user_id).deleted:
            self._hashes[user_id] = password_hash
        return self.revoke_all_sessions(user_id)

    def set_disabled(self, user_id: int, disabled_at: int | None) -> Deferred[Account]:
        """Disable or enable; a repeat changes nothing."""
        try:
            account = self._live(user_id)
        except NotFound as error:
            return fail(error)
        if account.disabled == (disabled_at is not None):
            return succeed(account)
        return succeed(self._changed(account, disabled_at=disabled_at))

    def set_admin(self, username: str, admin: bool) -> Deferred[Account]:
        """Grant or take away the server admin right of the named user."""
        user_id = self._user_ids_by_name.get(username.casefold())
        if user_id is None:
            return fail(NotFound("No such user."))
        return succeed(self._changed(self._account(user_id), admin=admin))

    def delete_account(self, user_id: int, deleted_at: int) -> Deferred[Account]:
        """Rename the row, forget the hash and the name, revoke every token."""
        try:
            account = self._live(user_id)
        except NotFound as error:
            return fail(error)
        user = account.user
        del self._user_ids_by_name[user.username.casefold()]
        self._users[user_id] = renamed = dataclasses.replace(user, username=DELETED_USERNAME)
        self._hashes[user_id] = b""
        self._revoked.pop(user_id, None)
        self._forget_push_of(user_id)
        return succeed(
            self._changed(
                dataclasses.replace(account, user=renamed),
                generation=account.generation + 1,
                admin=False,
                disabled_at=None,
                deleted_at=deleted_at,
            )
        )

    def erase_messages(self, page: ErasePage) -> Deferred[Sequence[Change]]:
        """Tombstone the next page of the user's messages, renaming them if asked."""
        if page.user_id not in self._users or page.eraser_id not in self._users:
            return fail(NotFound("No such user."))
        timeline = self._timeline
        rename = page.rename
        erasable = sorted(
            message.id
            for messages in timeline.messages.values()
            for message in messages
            if message.sender_id == page.user_id
            and message.id > page.after
            and (not message.deleted or (rename is not None and message.username != rename))
        )
        erased = erasable[: page.limit]
        return succeed([timeline.erase(message_id, rename) for message_id in erased])
