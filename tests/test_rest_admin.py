"""The server admin routes over HTTP: users listed and searched, disabled, enabled, erased."""

from __future__ import annotations

from typing import Any

from tests.rest_support import PASSWORD, RestTestCase


class AdminRoutesTests(RestTestCase):
    """Alice is a server admin (granted in the store, as the command does); bob is not."""

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_id = self.register("alice")
        self.bob, self.bob_id = self.register("bob")
        self.successResultOf(self.service.store.set_admin("alice", True))

    def admin(self, method: str, target: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request(method, "/api/admin" + target, token=token or self.alice, **kwargs)

    def test_users_are_listed_with_their_state_and_searched(self) -> None:
        """AdminUser objects in id order; ``q`` finds by a part of the name; pages by ``after``."""
        reply = self.admin("GET", "/users")
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            reply.json(),
            [
                {
                    "id": self.alice_id,
                    "username": "alice",
                    "created_at": 0,
                    "admin": True,
                    "disabled": False,
                    "disabled_at": None,
                    "deleted": False,
                },
                {
                    "id": self.bob_id,
                    "username": "bob",
                    "created_at": 0,
                    "admin": False,
                    "disabled": False,
                    "disabled_at": None,
                    "deleted": False,
                },
            ],
        )
        self.assertEqual([u["username"] for u in self.admin("GET", "/users?q=OB").json()], ["bob"])
        page = self.admin("GET", f"/users?after={self.alice_id}&limit=1").json()
        self.assertEqual([u["username"] for u in page], ["bob"])
        self.assert_error(self.admin("GET", "/users?limit=0"), 400, "invalid_request")

    def test_non_admins_are_403_with_the_right_named(self) -> None:
        """Bob gets 403 forbidden on every admin route; no token is 401."""
        for method, target in (
            ("GET", "/users"),
            ("POST", f"/users/{self.alice_id}/disable"),
            ("POST", f"/users/{self.alice_id}/enable"),
            ("POST", f"/users/{self.alice_id}/erase-messages"),
        ):
            body = self.assert_error(self.admin(method, target, token=self.bob), 403, "forbidden")
            self.assertIn("server admin", body["error"])
            reply = self.request(method, "/api/admin" + target)
            self.assert_error(reply, 401, "unauthorized")

    def test_disabling_refuses_requests_logins_and_handshakes_until_enabled(self) -> None:
        """403 account_disabled everywhere (login after the password); enabling restores."""
        reply = self.admin("POST", f"/users/{self.bob_id}/disable", json={"reason": "spam"})
        self.assertEqual(reply.code, 200)
        self.assertEqual((reply.json()["disabled"], reply.json()["id"]), (True, self.bob_id))
        self.assertIsInstance(reply.json()["disabled_at"], int)
        self.assert_error(
            self.request("GET", "/api/rooms", token=self.bob), 403, "account_disabled"
        )
        login = {"username": "bob", "password": PASSWORD}
        self.assert_error(self.request("POST", "/api/login", json=login), 403, "account_disabled")
        wrong = {"username": "bob", "password": "not the password"}
        self.assert_error(
            self.request("POST", "/api/login", json=wrong), 401, "invalid_credentials"
        )
        enabled = self.admin("POST", f"/users/{self.bob_id}/enable")
        self.assertEqual((enabled.code, enabled.json()["disabled"]), (200, False))
        self.assertEqual(self.request("GET", "/api/rooms", token=self.bob).code, 200)
        self.assertEqual(self.request("POST", "/api/login", json=login).code, 200)

    def test_disable_errors(self) -> None:
        """Oneself: 400; an unknown user: 404; a bad id or reason: 400."""
        self.assert_error(
            self.admin("POST", f"/users/{self.alice_id}/disable"), 400, "invalid_request"
        )
        self.assert_error(self.admin("POST", "/users/999/disable"), 404, "not_found")
        self.assert_error(self.admin("POST", "/users/abc/disable"), 400, "invalid_request")
        long_reason = {"reason": "r" * 600}
        reply = self.admin("POST", f"/users/{self.bob_id}/disable", json=long_reason)
        self.assert_error(reply, 400, "invalid_request")

    def test_erasing_messages_tombstones_them_with_events(self) -> None:
        """200 with the count; bob's messages are tombstones (his name kept), with events."""
        for n in range(2):
            self.request(
                "POST", "/api/messages", token=self.bob, json={"room_id": 1, "content": f"b{n}"}
            )
        reply = self.admin("POST", f"/users/{self.bob_id}/erase-messages", json={"reason": "spam"})
        self.assertEqual((reply.code, reply.json()), (200, {"erased_messages": 2}))
        history = self.request("GET", "/api/messages?roomId=1", token=self.alice).json()
        self.assertEqual([(m["username"], m["deleted"]) for m in history], [("bob", True)] * 2)
        events = self.request("GET", "/api/events?roomId=1", token=self.alice).json()
        self.assertEqual(len([e for e in events if e["type"] == "message_updated"]), 2)
        again = self.admin("POST", f"/users/{self.bob_id}/erase-messages")
        self.assertEqual(again.json(), {"erased_messages": 0})
        self.assert_error(self.admin("POST", "/users/999/erase-messages"), 404, "not_found")

    def test_a_right_taken_away_counts_at_the_next_request(self) -> None:
        """Revoked in the store (the command), alice's next admin request is 403."""
        self.successResultOf(self.service.store.set_admin("alice", False))
        self.assert_error(self.admin("GET", "/users"), 403, "forbidden")

    def test_the_audit_log_has_every_admin_action_newest_first(self) -> None:
        """Disable, enable and erase are entries with actor, action, target and reason."""
        self.admin("POST", f"/users/{self.bob_id}/disable", json={"reason": "spam"})
        self.admin("POST", f"/users/{self.bob_id}/enable")
        self.admin("POST", f"/users/{self.bob_id}/erase-messages", json={"reason": "cleanup"})
        reply = self.admin("GET", "/audit")
        self.assertEqual(reply.code, 200)
        entries = reply.json()
        self.assertEqual(
            [
                (e["actor_id"], e["action"], e["target_user_id"], e["room_id"], e["reason"])
                for e in entries
            ],
            [
                (self.alice_id, "user_messages_erased", self.bob_id, None, "cleanup"),
                (self.alice_id, "user_enabled", self.bob_id, None, ""),
                (self.alice_id, "user_disabled", self.bob_id, None, "spam"),
            ],
        )
        self.assertEqual(len(self.admin("GET", f"/audit?before={entries[0]['id']}").json()), 2)
        self.assertEqual(self.admin("GET", "/audit?limit=1").json(), entries[:1])
        self.assert_error(self.admin("GET", "/audit", token=self.bob), 403, "forbidden")
