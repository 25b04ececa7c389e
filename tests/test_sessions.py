"""sessions.py and erasure.py: logout, logout-all, password change, account deletion, no HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from chatservice.account_forms import PasswordChange
from chatservice.accounts import Accounts
from chatservice.erasure import ERASE_PAGE
from chatservice.errors import Forbidden, InvalidCredentials, RateLimited, SessionRevoked
from chatservice.hub import LocalHub, RoomEvent
from chatservice.models import DELETED_USERNAME, Account, NewMessage
from chatservice.passwords import PasswordHasher
from chatservice.sessions import MAX_REVOKED_SESSIONS, Sessions
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity, TokenIssuer
from chatservice.wire import CredentialsForm
from tests.fakes import TEST_SECRET, FakeReactor, ImmediateThreadPool

PASSWORD = "correct horse"


class Recorder:
    """The hub's listener: every event published, in order."""

    def __init__(self) -> None:
        self.events: list[RoomEvent] = []

    def room_event(self, event: RoomEvent) -> None:
        self.events.append(event)

    def rooms_interrupted(self, room_ids: Sequence[int]) -> None:
        """Never called by a LocalHub."""

    def rooms_restored(self, room_ids: Sequence[int]) -> None:
        """Never called by a LocalHub."""


class SessionsCase(SynchronousTestCase):
    """Accounts and Sessions on a memory store at cost-4 bcrypt; alice registered."""

    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.reactor.advance(1_000)
        self.store = MemoryStore(self.reactor)
        self.successResultOf(self.store.ensure_room("General", "", 1))
        pool: Any = ImmediateThreadPool()
        self.accounts = Accounts(
            self.store,
            PasswordHasher(self.reactor, pool, 4),  # type: ignore[arg-type]
            TokenIssuer(TEST_SECRET, 3600, self.reactor),
            self.reactor,
        )
        self.hub = LocalHub()
        self.recorder = Recorder()
        self.hub.set_listener(self.recorder)  # type: ignore[arg-type]
        self.sessions = Sessions(self.store, self.accounts, self.hub, self.reactor)
        self.token = self.done(self.accounts.register(CredentialsForm("alice", PASSWORD))).token

    def done(self, coroutine: Any) -> Any:
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def fails(self, coroutine: Any, error: type[Exception]) -> Any:
        return self.failureResultOf(Deferred.fromCoroutine(coroutine), error).value

    def login(self, password: str = PASSWORD) -> str:
        token: str = self.done(self.accounts.login(CredentialsForm("alice", password))).token
        return token

    def me(self, token: str | None = None) -> Identity:
        identity: Identity = self.done(self.accounts.authenticate(token or self.token))
        return identity


class LogoutTests(SessionsCase):
    """One token, or every token, revoked."""

    def test_logout_revokes_only_its_own_token(self) -> None:
        """The token is refused afterwards; another login's token still works."""
        other = self.login()
        self.done(self.sessions.logout(self.me()))
        self.fails(self.accounts.authenticate(self.token), SessionRevoked)
        self.assertEqual(self.me(other).username, "alice")

    def test_logout_all_revokes_every_token_but_not_the_next_login(self) -> None:
        """Both tokens are refused; a login afterwards gets the new generation."""
        other = self.login()
        account = self.done(self.sessions.logout_all(self.me()))
        self.assertEqual(account.generation, 1)
        for token in (self.token, other):
            self.fails(self.accounts.authenticate(token), SessionRevoked)
        self.assertEqual(self.me(self.login()).generation, 1)

    def test_a_token_without_a_session_is_logged_out_with_all_others(self) -> None:
        """An old token (no sid) cannot be revoked alone: its logout bumps the generation."""
        old = Identity(self.me().user_id, "alice", 1_000 + 3600)
        account = self.done(self.sessions.logout(old))
        self.assertEqual(account.generation, 1)
        self.fails(self.accounts.authenticate(self.token), SessionRevoked)

    def test_past_the_bound_of_revoked_sessions_a_logout_revokes_all(self) -> None:
        """The list of logged-out tokens per user stays short: past it, logout-all."""
        for _ in range(MAX_REVOKED_SESSIONS):
            account: Account = self.done(self.sessions.logout(self.me(self.login())))
        self.assertEqual((account.generation, len(account.revoked)), (0, MAX_REVOKED_SESSIONS))
        self.assertEqual(self.me().generation, 0)
        account = self.done(self.sessions.logout(self.me(self.login())))
        self.assertEqual((account.generation, account.revoked), (1, frozenset()))
        self.fails(self.accounts.authenticate(self.token), SessionRevoked)


class PasswordChangeTests(SessionsCase):
    """A new password revokes every other token and answers a new one for this session."""

    def test_the_new_password_logs_in_and_the_old_one_does_not(self) -> None:
        """Login with the new password works; with the old one it is invalid."""
        change = PasswordChange(PASSWORD, "a brand new one")
        before = self.me()
        session = self.done(self.sessions.change_password(before, change))
        self.assertEqual(self.me(session.token).session, before.session)
        self.fails(self.accounts.login(CredentialsForm("alice", PASSWORD)), InvalidCredentials)
        self.login("a brand new one")

    def test_every_token_issued_before_is_revoked(self) -> None:
        """This token and another one are refused; the answered token works."""
        before = self.me()
        other = self.login()
        session = self.done(
            self.sessions.change_password(before, PasswordChange(PASSWORD, "new password!"))
        )
        for token in (self.token, other):
            self.fails(self.accounts.authenticate(token), SessionRevoked)
        self.assertEqual(self.me(session.token).generation, 1)

    def test_a_wrong_current_password_is_forbidden_and_counted(self) -> None:
        """403 with a sentence; past the failed-login limit, 429; nothing changed."""
        change = PasswordChange("not it at all", "new password!")
        error = self.fails(self.sessions.change_password(self.me(), change), Forbidden)
        self.assertIn("password", error.message)
        for _ in range(9):
            self.fails(self.sessions.change_password(self.me(), change), Forbidden)
        self.fails(self.sessions.change_password(self.me(), change), RateLimited)
        self.assertEqual(self.me().generation, 0)

    def test_a_current_password_no_account_could_have_is_wrong_without_bcrypt(self) -> None:
        """Over 72 bytes: wrong at once."""
        change = PasswordChange("x" * 100, "new password!")
        self.fails(self.sessions.change_password(self.me(), change), Forbidden)


class DeleteAccountTests(SessionsCase):
    """Deleting an account revokes its tokens and erases its messages, renamed."""

    def post(self, count: int, user_id: int, username: str = "alice") -> list[int]:
        new = [NewMessage(1, user_id, username, f"m{n}", n) for n in range(count)]
        return [p.message.id for p in self.successResultOf(self.store.add_messages(new))]

    def test_the_account_goes_its_tokens_with_it_and_its_name_is_free(self) -> None:
        """Tokens are refused (401), login fails, the name can be registered again."""
        me = self.me()
        self.assertEqual(self.done(self.sessions.delete_account(me, PASSWORD)), 0)
        error = self.fails(self.accounts.authenticate(self.token), Exception)
        self.assertEqual(error.code, "unauthorized")
        self.fails(self.accounts.login(CredentialsForm("alice", PASSWORD)), InvalidCredentials)
        again = self.done(self.accounts.register(CredentialsForm("alice", PASSWORD)))
        self.assertNotEqual(again.user.id, me.user_id)

    def test_every_message_becomes_a_tombstone_of_a_deleted_user_with_an_event(self) -> None:
        """More than a page of messages: all erased, each published as message_updated."""
        me = self.me()
        bob = self.successResultOf(self.store.create_user("bob", b"h", 1))
        mine = self.post(ERASE_PAGE + 3, me.user_id)
        self.post(2, bob.id, "bob")
        erased = self.done(self.sessions.delete_account(me, PASSWORD))
        self.assertEqual(erased, ERASE_PAGE + 3)
        history = self.successResultOf(self.store.get_messages(1, 10_000))
        tombstones = [m for m in history if m.sender_id == me.user_id]
        self.assertEqual([m.id for m in tombstones], mine)
        self.assertTrue(all(m.deleted and m.content == "" for m in tombstones))
        self.assertEqual({m.username for m in tombstones}, {DELETED_USERNAME})
        self.assertEqual([m.content for m in history if m.sender_id == bob.id], ["m0", "m1"])
        published = [e for e in self.recorder.events if e.room_id == 1]
        self.assertEqual(len(published), ERASE_PAGE + 3)
        self.assertIn(b'"type":"message_updated"', published[0].payload)

    def test_a_wrong_password_deletes_nothing(self) -> None:
        """403; the account and its token still work."""
        self.fails(self.sessions.delete_account(self.me(), "not the password"), Forbidden)
        self.assertEqual(self.me().username, "alice")
