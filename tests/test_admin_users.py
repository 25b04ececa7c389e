"""admin_users.py: what a server admin does to users, without HTTP; each action audited."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatservice.account_forms import UsersQuery
from chatservice.admin_users import DISABLED, ENABLED, ERASED, UserAdmin
from chatservice.errors import AccountDisabled, Forbidden, InvalidRequest, NotFound
from chatservice.hub import LocalHub
from chatservice.models import NewMessage
from chatservice.revocation import Revocation
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity

NOW = 1_700_000_000


class UserAdminTests(SynchronousTestCase):
    """Alice is a server admin; bob and carol are not."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = MemoryStore(self.clock)
        self.successResultOf(self.store.ensure_room("General", "", 1))
        users = [
            self.successResultOf(self.store.create_user(n, b"h", 1))
            for n in ("alice", "bob", "carol")
        ]
        self.alice, self.bob, self.carol = (u.id for u in users)
        self.successResultOf(self.store.set_admin("alice", True))
        self.revocation = Revocation(self.store, self.clock)
        self.admin = UserAdmin(self.store, self.revocation, LocalHub(), self.clock)

    def who(self, user_id: int) -> Identity:
        return Identity(user_id, "x", NOW + 3600, "s", 0)

    def done(self, coroutine: Any) -> Any:
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def fails(self, coroutine: Any, error: type[Exception]) -> Any:
        return self.failureResultOf(Deferred.fromCoroutine(coroutine), error).value

    def audit(self) -> list[tuple[int | None, str, int | None, str]]:
        entries = self.successResultOf(self.store.list_audit(None, None, 100))
        return [(e.actor_id, e.action, e.target_user_id, e.reason) for e in reversed(entries)]

    def test_only_an_admin_may_act_and_the_refusal_names_the_right(self) -> None:
        """Bob gets 403 on every action, with a sentence about the admin right."""
        for action in (
            self.admin.list_users(self.who(self.bob), UsersQuery(None, 0, 10)),
            self.admin.disable(self.who(self.bob), self.carol, None),
            self.admin.enable(self.who(self.bob), self.carol, None),
            self.admin.erase(self.who(self.bob), self.carol, None),
        ):
            error = self.fails(action, Forbidden)
            self.assertEqual(error.code, "forbidden")
            self.assertIn("admin right", error.message)
        self.assertEqual(self.audit(), [])

    def test_the_right_is_read_anew_on_each_action(self) -> None:
        """Granted or taken away in the store (the command), it counts at the next action."""
        self.fails(self.admin.list_users(self.who(self.bob), UsersQuery(None, 0, 10)), Forbidden)
        self.successResultOf(self.store.set_admin("bob", True))
        self.done(self.admin.list_users(self.who(self.bob), UsersQuery(None, 0, 10)))
        self.successResultOf(self.store.set_admin("alice", False))
        self.fails(self.admin.list_users(self.who(self.alice), UsersQuery(None, 0, 10)), Forbidden)

    def test_listing_and_searching(self) -> None:
        """All users in id order, or those whose name has the query; pages by ``after``."""
        everyone = self.done(self.admin.list_users(self.who(self.alice), UsersQuery(None, 0, 10)))
        self.assertEqual([a.user.username for a in everyone], ["alice", "bob", "carol"])
        self.assertTrue(everyone[0].admin)
        found = self.done(self.admin.list_users(self.who(self.alice), UsersQuery("AR", 0, 10)))
        self.assertEqual([a.user.username for a in found], ["carol"])
        page = self.done(
            self.admin.list_users(self.who(self.alice), UsersQuery(None, self.alice, 1))
        )
        self.assertEqual([a.user.username for a in page], ["bob"])

    def test_disabling_refuses_the_user_at_once_and_is_audited(self) -> None:
        """Carol's token is refused from memory right away; the action and reason are logged."""
        carol = self.who(self.carol)
        self.done(self.revocation.check(carol))  # cached as enabled
        account = self.done(self.admin.disable(self.who(self.alice), self.carol, "spam"))
        self.assertTrue(account.disabled)
        self.fails(self.revocation.check(carol), AccountDisabled)
        self.done(self.admin.disable(self.who(self.alice), self.carol, "again"))  # a repeat
        self.done(self.admin.enable(self.who(self.alice), self.carol, None))
        self.done(self.revocation.check(carol))
        self.assertEqual(
            self.audit(),
            [(self.alice, DISABLED, self.carol, "spam"), (self.alice, ENABLED, self.carol, "")],
        )

    def test_an_admin_cannot_disable_themselves_and_unknown_users_are_not_found(self) -> None:
        """Self: 400. Unknown or deleted: 404."""
        self.fails(self.admin.disable(self.who(self.alice), self.alice, None), InvalidRequest)
        self.fails(self.admin.disable(self.who(self.alice), 999, None), NotFound)
        self.fails(self.admin.enable(self.who(self.alice), 999, None), NotFound)
        self.fails(self.admin.erase(self.who(self.alice), 999, None), NotFound)
        self.successResultOf(self.store.delete_account(self.bob, 1))
        self.fails(self.admin.disable(self.who(self.alice), self.bob, None), NotFound)

    def test_erasing_tombstones_every_message_and_counts_them(self) -> None:
        """Carol's messages are tombstones (her name kept); bob's are untouched; audited."""
        new = [
            NewMessage(1, self.carol, "carol", "spam", 1),
            NewMessage(1, self.bob, "bob", "hi", 2),
        ]
        self.successResultOf(self.store.add_messages(new * 2))
        erased = self.done(self.admin.erase(self.who(self.alice), self.carol, "spam"))
        self.assertEqual(erased, 2)
        history = self.successResultOf(self.store.get_messages(1, 10))
        self.assertEqual(
            [(m.username, m.content, m.deleted) for m in history],
            [("carol", "", True), ("bob", "hi", False)] * 2,
        )
        self.assertEqual(self.audit(), [(self.alice, ERASED, self.carol, "spam")])
