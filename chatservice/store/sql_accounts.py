"""``SQLStore``'s account methods (``IAccountStore``), on ``account_queries``.

A mixin, so ``sql.py`` keeps to users, rooms and history. Ids that cannot
be bound as 64-bit integers are answered here without a round trip, as
``sql.py`` does: such a user does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.models import Account, Change, ErasePage
from chatservice.store import account_queries
from chatservice.store.database import Database
from chatservice.store.ranges import INT64_MAX, fits


def _no_such_user() -> Deferred[Account]:
    return fail(NotFound("No such user."))


class SQLAccounts:
    """Accounts on ``self.database``."""

    database: Database

    def get_accounts(self, user_ids: Sequence[int], now: int) -> Deferred[Mapping[int, Account]]:
        """Fire with the accounts of ``user_ids`` that exist, by id."""
        wanted = [user_id for user_id in user_ids if fits(user_id)]
        if not wanted:
            return succeed({})
        return self.database.run_read(
            "get_accounts", account_queries.get_accounts, wanted, min(now, INT64_MAX)
        )

    def list_accounts(
        self, query: str | None, after: int, limit: int, admins_only: bool = False
    ) -> Deferred[Sequence[Account]]:
        """Fire with a page of accounts in id order."""
        if limit <= 0 or after >= INT64_MAX:
            return succeed([])
        return self.database.run_read(
            "list_accounts",
            account_queries.list_accounts,
            query,
            max(after, 0),
            min(limit, INT64_MAX),
            admins_only,
        )

    def revoke_session(
        self, user_id: int, session: str, expires_at: int, now: int
    ) -> Deferred[Account]:
        """Revoke one token's session until it expires."""
        if not fits(user_id):
            return _no_such_user()
        return self.database.run_interaction(
            "revoke_session",
            account_queries.revoke_session,
            user_id,
            session,
            min(expires_at, INT64_MAX),
            now,
        )

    def revoke_all_sessions(self, user_id: int) -> Deferred[Account]:
        """Bump the token generation."""
        if not fits(user_id):
            return _no_such_user()
        return self.database.run_interaction(
            "revoke_all_sessions", account_queries.revoke_all_sessions, user_id
        )

    def set_password(self, user_id: int, password_hash: bytes) -> Deferred[Account]:
        """Replace the hash and bump the token generation."""
        if not fits(user_id):
            return _no_such_user()
        return self.database.run_interaction(
            "set_password", account_queries.set_password, user_id, password_hash
        )

    def set_disabled(self, user_id: int, disabled_at: int | None) -> Deferred[Account]:
        """Disable or enable the account."""
        if not fits(user_id):
            return _no_such_user()
        return self.database.run_interaction(
            "set_disabled", account_queries.set_disabled, user_id, disabled_at
        )

    def set_admin(self, username: str, admin: bool) -> Deferred[Account]:
        """Grant or take away the server admin right."""
        return self.database.run_interaction(
            "set_admin", account_queries.set_admin, username, admin
        )

    def delete_account(self, user_id: int, deleted_at: int) -> Deferred[Account]:
        """Erase the account itself (its messages are ``erase_messages``')."""
        if not fits(user_id):
            return _no_such_user()
        return self.database.run_interaction(
            "delete_account", account_queries.delete_account, user_id, deleted_at
        )

    def erase_messages(self, page: ErasePage) -> Deferred[Sequence[Change]]:
        """Tombstone the next page of the user's messages."""
        if not (fits(page.user_id) and fits(page.eraser_id)):
            return fail(NotFound("No such user."))
        if page.limit <= 0 or page.after >= INT64_MAX:
            return succeed([])
        return self.database.run_interaction(
            "erase_messages",
            account_queries.erase_messages,
            page.user_id,
            page.eraser_id,
            min(page.limit, INT64_MAX),
            page.ts,
            page.rename,
            max(page.after, 0),
        )
