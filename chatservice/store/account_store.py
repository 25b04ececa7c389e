"""``IAccountStore``: what the store keeps about accounts beside users, rooms and messages.

Token generations, sessions logged out one by one, disabled and deleted
accounts, and server admins (issue 11). ``IChatStore`` extends it, so every
backend implements it: ``MemoryAccounts`` in memory, ``SQLAccounts`` on
``account_queries``. Each change answers with the account as it is after
it, its ``version`` one higher, for ``revocation.py`` to spread to every
process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twisted.internet.defer import Deferred
from zope.interface import Interface

from chatservice import models


class IAccountStore(Interface):
    """Accounts: token generations, revoked sessions, disabled, deleted, admins."""

    def get_accounts(user_ids: Sequence[int], now: int) -> Deferred[Mapping[int, models.Account]]:
        """Fire with the account of each of ``user_ids`` that exists, by id.

        Deleted accounts are there (``deleted_at`` set); ids that name no
        user are left out. ``revoked`` holds the sessions revoked until
        after ``now`` (seconds since the epoch): an expired token needs no
        revocation. Any number of ids costs a few queries, not one each.
        """

    def list_accounts(
        query: str | None, after: int, limit: int, admins_only: bool = False
    ) -> Deferred[Sequence[models.Account]]:
        """Fire with at most ``limit`` accounts with ``id > after``, in id order.

        With ``query``, only those whose username contains it (compared
        case-insensitively, as names are: ``str.casefold``; ``%`` and ``_``
        are plain characters). With ``admins_only``, only server admins.
        Deleted accounts are listed too. ``revoked`` is left empty.
        """

    def revoke_session(
        user_id: int, session: str, expires_at: int, now: int
    ) -> Deferred[models.Account]:
        """Revoke one token's session until ``expires_at`` (its ``exp``, in seconds).

        Revoking a session twice changes nothing the second time. Sessions
        whose ``expires_at`` has passed at ``now`` are forgotten (of every
        user). Fails with ``NotFound`` for an unknown or deleted account.
        """

    def revoke_all_sessions(user_id: int) -> Deferred[models.Account]:
        """Bump the user's token generation: every token issued so far is revoked.

        The sessions revoked one by one are forgotten (their tokens are of
        an older generation now). ``NotFound`` for an unknown or deleted
        account.
        """

    def set_password(user_id: int, password_hash: bytes) -> Deferred[models.Account]:
        """Replace the password hash and bump the token generation, in one transaction.

        ``NotFound`` for an unknown or deleted account.
        """

    def set_disabled(user_id: int, disabled_at: int | None) -> Deferred[models.Account]:
        """Disable the account since ``disabled_at`` (ms), or enable it with None.

        Disabling a disabled account keeps its first ``disabled_at`` and
        changes nothing (nor does enabling an enabled one): the answer has
        the same ``version``. ``NotFound`` for an unknown or deleted account.
        """

    def set_admin(username: str, admin: bool) -> Deferred[models.Account]:
        """Grant (or take away) the server admin right of the user of that name.

        The name is looked up case-insensitively; ``NotFound`` if no account
        has it (a deleted account has no name any more).
        """

    def delete_account(user_id: int, deleted_at: int) -> Deferred[models.Account]:
        """Erase the account itself; its messages are ``erase_messages``' job.

        The row stays, so that messages and events keep their sender: its
        username becomes ``models.DELETED_USERNAME`` (the name is free to
        register again), its password hash is emptied (no login can match),
        its token generation is bumped, and it is no longer an admin or
        disabled. ``NotFound`` for an unknown or already deleted account.
        """

    def erase_messages(page: models.ErasePage) -> Deferred[Sequence[models.Change]]:
        """Tombstone up to ``limit`` of the user's messages past ``after`` (``page``'s fields).

        Oldest first; each becomes a ``delete`` event by ``eraser_id``
        (content and reactions removed, as ``delete_message`` does), all
        committed in one transaction. With ``rename``, the user's messages
        also take that username, tombstones already there included (each
        of those is a ``delete`` event too, so that clients learn the new
        name). Fires with the changes in id order: the next page starts
        after the last one's message, and fewer than ``limit`` means that
        nothing is left to erase. ``NotFound`` if either user is unknown.
        """


class DelegatedAccounts:
    """``IAccountStore`` passed straight to ``self._account_store``: for wrappers of a store.

    ``GroupCommitStore`` batches messages only; accounts are not its business.
    """

    _account_store: IAccountStore

    def get_accounts(
        self, user_ids: Sequence[int], now: int
    ) -> Deferred[Mapping[int, models.Account]]:
        """Delegate to the wrapped store."""
        return self._account_store.get_accounts(user_ids, now)

    def list_accounts(
        self, query: str | None, after: int, limit: int, admins_only: bool = False
    ) -> Deferred[Sequence[models.Account]]:
        """Delegate to the wrapped store."""
        return self._account_store.list_accounts(query, after, limit, admins_only)

    def revoke_session(
        self, user_id: int, session: str, expires_at: int, now: int
    ) -> Deferred[models.Account]:
        """Delegate to the wrapped store."""
        return self._account_store.revoke_session(user_id, session, expires_at, now)

    def revoke_all_sessions(self, user_id: int) -> Deferred[models.Account]:
        """Delegate to the wrapped store."""
        return self._account_store.revoke_all_sessions(user_id)

    def set_password(self, user_id: int, password_hash: bytes) -> Deferred[models.Account]:
        """Delegate to the wrapped store."""
        return self._account_store.set_password(user_id, password_hash)

    def set_disabled(self, user_id: int, disabled_at: int | None) -> Deferred[models.Account]:
        """Delegate to the wrapped store."""
        return self._account_store.set_disabled(user_id, disabled_at)

    def set_admin(self, username: str, admin: bool) -> Deferred[models.Account]:
        """Delegate to the wrapped store."""
        return self._account_store.set_admin(username, admin)

    def delete_account(self, user_id: int, deleted_at: int) -> Deferred[models.Account]:
        """Delegate to the wrapped store."""
        return self._account_store.delete_account(user_id, deleted_at)

    def erase_messages(self, page: models.ErasePage) -> Deferred[Sequence[models.Change]]:
        """Delegate to the wrapped store."""
        return self._account_store.erase_messages(page)
