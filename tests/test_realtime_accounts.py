"""Revocation on the WebSocket: sockets closed (4001, 4002), handshakes refused, no read per frame.

In memory, on a fake reactor: a revocation closes the affected sockets at
once on the process that made it; with its control event lost (two
services on one store, each with its own hub), the other process closes
them within ``REFRESH_SECONDS``. Sending messages never reads an account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from chatservice.models import Account, Credentials, User
from chatservice.revocation import CLOSE_ACCOUNT_DISABLED, CLOSE_SESSION_REVOKED, REFRESH_SECONDS
from chatservice.store.memory import MemoryStore
from tests.fakes import FakeReactor
from tests.wsclient import MemoryWorld, RecordingClient, memory_world

PASSWORD = "password-1"


class AccountReadCountingStore(MemoryStore):
    """A memory store that counts every read of a user, an account or credentials."""

    def __init__(self, clock: FakeReactor) -> None:
        super().__init__(clock)
        self.clock = clock  # what tests.wsclient.memory_world looks for
        self.account_reads = 0

    def get_accounts(self, user_ids: Sequence[int], now: int) -> Deferred[Mapping[int, Account]]:
        self.account_reads += 1
        return super().get_accounts(user_ids, now)

    def get_user(self, user_id: int) -> Deferred[User]:
        self.account_reads += 1
        return super().get_user(user_id)

    def get_credentials(self, username: str) -> Deferred[Credentials]:
        self.account_reads += 1
        return super().get_credentials(username)


class RevokedSocketsTests(TestCase):
    """One service: each revocation closes exactly the sockets it should."""

    def setUp(self) -> None:
        self.store = AccountReadCountingStore(FakeReactor())
        # Limits high enough for the message count test.
        self.world: MemoryWorld = memory_world(
            self, store=self.store, message_burst=1000, message_rate=1000.0
        )
        self.alice, self.alice_id = self.world.rest.register("alice")
        self.bob, _ = self.world.rest.register("bob")
        self.alice_2 = self.login("alice")

    def login(self, name: str, password: str = PASSWORD) -> str:
        status, body = self.world.rest.call(
            "POST", "/api/login", body={"username": name, "password": password}
        )
        self.assertEqual(status, 200, body)
        token: str = body["token"]
        return token

    def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        status, answer = self.world.rest.call(method, path, token, body)
        self.world.chat.flush()
        return status, answer

    def closed(self, client: RecordingClient) -> tuple[int | None, str | None]:
        return client.close_code, client.remoteCloseReason

    def test_logout_closes_the_sockets_of_that_token_only(self) -> None:
        """4001 ``session revoked`` for the logged-out token's sockets; the rest stay open."""
        revoked = [self.world.chat.open(self.alice) for _ in range(2)]
        kept = self.world.chat.open(self.alice_2)
        bob = self.world.chat.open(self.bob)
        self.assertEqual(self.call("POST", "/api/logout", self.alice)[0], 200)
        for client in revoked:
            self.assertEqual(self.closed(client), (CLOSE_SESSION_REVOKED, "session revoked"))
        self.assertTrue(kept.ws_open and bob.ws_open)

    def test_logout_all_and_a_password_change_close_every_socket_of_the_user(self) -> None:
        """Both close all of the user's sockets with 4001; the new token opens a socket."""
        clients = [self.world.chat.open(token) for token in (self.alice, self.alice_2)]
        self.call("POST", "/api/logout-all", self.alice)
        for client in clients:
            self.assertEqual(self.closed(client), (CLOSE_SESSION_REVOKED, "session revoked"))
        token = self.login("alice")
        client = self.world.chat.open(token)
        change = {"current_password": PASSWORD, "new_password": "a new password"}
        status, session = self.call("POST", "/api/account/password", token, change)
        self.assertEqual(status, 200)
        self.assertEqual(client.close_code, CLOSE_SESSION_REVOKED)
        self.assertTrue(self.world.chat.open(session["token"]).ws_open)

    def test_disabling_closes_with_4002_and_refuses_the_handshake_until_enabled(self) -> None:
        """Every socket of the user closes with 4002; /ws is 403 account_disabled until enabled."""
        self.successResultOf(self.store.set_admin("bob", True))
        clients = [self.world.chat.open(token) for token in (self.alice, self.alice_2)]
        self.call("POST", f"/api/admin/users/{self.alice_id}/disable", self.bob)
        for client in clients:
            self.assertEqual(self.closed(client), (CLOSE_ACCOUNT_DISABLED, "account disabled"))
        refused = self.world.chat.refusal(
            "/ws?roomId=1", {"Authorization": f"Bearer {self.alice}"}
        )
        self.assertEqual((refused.status, refused.json()["code"]), (403, "account_disabled"))
        self.call("POST", f"/api/admin/users/{self.alice_id}/enable", self.bob)
        self.assertTrue(self.world.chat.open(self.alice).ws_open)

    def test_a_revoked_token_and_its_ticket_are_refused_at_the_handshake(self) -> None:
        """A ticket asked before the logout is refused after it, like the token itself."""
        ticket = self.world.rest.ticket(self.alice)
        self.call("POST", "/api/logout", self.alice)
        for target, headers in (
            ("/ws?roomId=1", {"Authorization": f"Bearer {self.alice}"}),
            (f"/ws?roomId=1&ticket={ticket}", None),
            (f"/ws?roomId=1&token={self.alice}", None),
        ):
            refused = self.world.chat.refusal(target, headers)
            self.assertEqual((refused.status, refused.json()["code"]), (401, "session_revoked"))

    def test_deleting_the_account_closes_its_sockets_and_updates_the_room(self) -> None:
        """4001 ``account deleted``; bob sees each of alice's messages become a tombstone."""
        alice = self.world.chat.open(self.alice)
        bob = self.world.chat.open(self.bob)
        for n in range(3):
            alice.send_json({"content": f"a{n}"})
        self.world.chat.flush()
        status, body = self.call("DELETE", "/api/account", self.alice_2, {"password": PASSWORD})
        self.assertEqual((status, body["erased_messages"]), (200, 3))
        self.assertEqual(self.closed(alice), (CLOSE_SESSION_REVOKED, "account deleted"))
        updates = bob.of_type("message_updated")
        self.assertEqual(len(updates), 3)
        self.assertEqual(
            {(u["message"]["username"], u["message"]["deleted"]) for u in updates},
            {("deleted user", True)},
        )

    def test_sending_messages_reads_no_account(self) -> None:
        """200 messages over two sockets: not one read of a user, an account or credentials."""
        alice = self.world.chat.open(self.alice)
        bob = self.world.chat.open(self.bob)
        self.world.chat.flush()
        reads = self.store.account_reads
        for n in range(100):
            alice.send_json({"content": f"a{n}"})
            bob.send_json({"content": f"b{n}"})
        self.world.chat.flush()
        self.assertEqual(len(bob.of_type("message")), 200)
        self.assertEqual(self.store.account_reads, reads)

    def test_rest_requests_read_an_account_once_per_refresh(self) -> None:
        """50 requests: no read while the cached account is fresh, one after it is stale."""
        self.call("GET", "/api/rooms", self.alice)
        reads = self.store.account_reads
        for _ in range(50):
            self.call("GET", "/api/rooms", self.alice)
        self.assertEqual(self.store.account_reads, reads)
        self.world.reactor.advance(REFRESH_SECONDS)
        for _ in range(50):
            self.call("GET", "/api/rooms", self.alice)
        self.assertGreaterEqual(self.store.account_reads - reads, 1)
        self.assertLessEqual(self.store.account_reads - reads, 2)  # the sweep may read once


class LostEventTests(TestCase):
    """Two services on one store, each with its own hub: no event ever crosses."""

    def setUp(self) -> None:
        self.store = AccountReadCountingStore(FakeReactor())
        self.a = memory_world(self, store=self.store)
        self.b = memory_world(self, store=self.store)
        self.alice, _ = self.a.rest.register("alice")

    def test_a_logout_on_one_closes_the_socket_on_the_other_within_the_refresh(self) -> None:
        """B learns nothing from A; its sweep closes the socket, its REST refuses the token."""
        on_b = self.b.chat.open(self.alice)
        self.assertEqual(self.b.rest.call("GET", "/api/rooms", self.alice)[0], 200)
        self.assertEqual(self.a.rest.call("POST", "/api/logout", self.alice)[0], 200)
        self.b.chat.flush()
        self.assertTrue(on_b.ws_open)  # the event was lost
        self.b.chat.advance(REFRESH_SECONDS)
        self.assertEqual(on_b.close_code, CLOSE_SESSION_REVOKED)
        status, body = self.b.rest.call("GET", "/api/rooms", self.alice)
        self.assertEqual((status, body["code"]), (401, "session_revoked"))
