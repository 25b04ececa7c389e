"""The session and account routes over HTTP: logout(-all), password, deletion, their errors."""

from __future__ import annotations

from typing import Any

from tests.rest_support import PASSWORD, RestTestCase


class AccountRoutesCase(RestTestCase):
    """Alice registered, with a second token from a login."""

    def setUp(self) -> None:
        super().setUp()
        self.token, self.user_id = self.register("alice")
        self.other = self.login()

    def login(self, password: str = PASSWORD) -> str:
        reply = self.request(
            "POST", "/api/login", json={"username": "alice", "password": password}
        )
        self.assertEqual(reply.code, 200, reply.body)
        token: str = reply.json()["token"]
        return token

    def works(self, token: str) -> bool:
        """Whether ``token`` is accepted (a 200 from ``GET /api/rooms``)."""
        reply = self.request("GET", "/api/rooms", token=token)
        if reply.code != 200:
            self.assert_error(reply, 401, "session_revoked")
        return reply.code == 200


class LogoutRouteTests(AccountRoutesCase):
    """``POST /api/logout`` and ``POST /api/logout-all``."""

    def test_logout_revokes_the_token_it_is_called_with(self) -> None:
        """200 ``{"revoked": "session"}``; that token is 401 session_revoked, the other works."""
        reply = self.request("POST", "/api/logout", token=self.token)
        self.assertEqual((reply.code, reply.json()), (200, {"revoked": "session"}))
        self.assertEqual((self.works(self.token), self.works(self.other)), (False, True))
        again = self.request("POST", "/api/logout", token=self.token)
        self.assert_error(again, 401, "session_revoked")

    def test_logout_all_revokes_every_token(self) -> None:
        """200 ``{"revoked": "all"}``; both tokens are refused; a new login works."""
        reply = self.request("POST", "/api/logout-all", token=self.other, json={"ignored": 1})
        self.assertEqual((reply.code, reply.json()), (200, {"revoked": "all"}))
        self.assertEqual((self.works(self.token), self.works(self.other)), (False, False))
        self.assertTrue(self.works(self.login()))

    def test_both_need_a_token(self) -> None:
        """No token, or a bad one: 401 unauthorized."""
        for target in ("/api/logout", "/api/logout-all"):
            self.assert_error(self.request("POST", target), 401, "unauthorized")
            self.assert_error(self.request("POST", target, token="junk"), 401, "unauthorized")

    def test_a_revoked_token_is_refused_on_every_route_and_at_the_handshake(self) -> None:
        """Messages, events, tickets and /ws: all 401 session_revoked."""
        self.request("POST", "/api/logout", token=self.token)
        for method, target in (
            ("GET", "/api/messages?roomId=1"),
            ("GET", "/api/events?roomId=1"),
            ("POST", "/api/ws-ticket"),
            ("POST", "/api/rooms"),
        ):
            reply = self.request(method, target, token=self.token, json={"name": "x"})
            self.assert_error(reply, 401, "session_revoked")
        handshake = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
        reply = self.request("GET", "/ws?roomId=1", token=self.token, headers=handshake)
        self.assert_error(reply, 401, "session_revoked")


class PasswordRouteTests(AccountRoutesCase):
    """``POST /api/account/password``."""

    def change(self, current: str, new: str, token: str | None = None) -> Any:
        return self.request(
            "POST",
            "/api/account/password",
            token=token or self.token,
            json={"current_password": current, "new_password": new},
        )

    def test_a_change_answers_a_new_token_and_revokes_the_others(self) -> None:
        """200 with a Session; both old tokens refused; the new one and password work."""
        reply = self.change(PASSWORD, "an entirely new one")
        self.assertEqual(reply.code, 200, reply.body)
        session = reply.json()
        self.assertEqual(
            session["user"], {"id": self.user_id, "username": "alice", "created_at": 0}
        )
        self.assertEqual((self.works(self.token), self.works(self.other)), (False, False))
        self.assertTrue(self.works(session["token"]))
        self.assertTrue(self.works(self.login("an entirely new one")))
        self.assert_error(
            self.request("POST", "/api/login", json={"username": "alice", "password": PASSWORD}),
            401,
            "invalid_credentials",
        )

    def test_wrong_current_password_is_403_and_limited_like_logins(self) -> None:
        """403 forbidden naming the password; after 10 failures, 429 with Retry-After."""
        for _ in range(10):
            reply = self.change("not my password", "an entirely new one")
            body = self.assert_error(reply, 403, "forbidden")
            self.assertIn("password", body["error"])
        limited = self.change("not my password", "an entirely new one")
        self.assert_error(limited, 429, "rate_limited")
        self.assertIsNotNone(limited.header("retry-after"))
        self.assertTrue(self.works(self.token))

    def test_the_new_password_follows_the_registration_rules(self) -> None:
        """Too short: 400 invalid_request; over 72 bytes: 400 password_too_long."""
        self.assert_error(self.change(PASSWORD, "short"), 400, "invalid_request")
        self.assert_error(self.change(PASSWORD, "€" * 25), 400, "password_too_long")

    def test_malformed_bodies_are_400(self) -> None:
        """Not JSON, not an object, a missing or mistyped field."""
        for data in (b"{", b"[]", b'{"new_password": "long enough"}', b'{"current_password": 1}'):
            reply = self.request("POST", "/api/account/password", token=self.token, data=data)
            self.assertEqual(reply.code, 400, data)


class DeleteAccountRouteTests(AccountRoutesCase):
    """``DELETE /api/account``."""

    def delete(self, password: str, token: str | None = None) -> Any:
        return self.request(
            "DELETE", "/api/account", token=token or self.token, json={"password": password}
        )

    def test_deletion_erases_messages_with_events_and_frees_the_name(self) -> None:
        """200 with the count; messages are tombstones of "deleted user" in history and events."""
        bob, _ = self.register("bob")
        for n in range(3):
            sent = self.request(
                "POST", "/api/messages", token=self.token, json={"room_id": 1, "content": f"a{n}"}
            )
            self.assertEqual(sent.code, 201, sent.body)
        self.request("POST", "/api/messages", token=bob, json={"room_id": 1, "content": "b"})
        reply = self.delete(PASSWORD)
        self.assertEqual(
            (reply.code, reply.json()), (200, {"deleted": True, "erased_messages": 3})
        )
        history = self.request("GET", "/api/messages?roomId=1", token=bob).json()
        self.assertEqual(
            [(m["username"], m["content"], m["deleted"]) for m in history],
            [("deleted user", "", True)] * 3 + [("bob", "b", False)],
        )
        events = self.request("GET", "/api/events?roomId=1", token=bob).json()
        updates = [e for e in events if e["type"] == "message_updated"]
        self.assertEqual([u["message"]["id"] for u in updates], [m["id"] for m in history[:3]])
        for token in (self.token, self.other):
            self.assert_error(self.request("GET", "/api/rooms", token=token), 401, "unauthorized")
        self.assertNotEqual(self.register("alice", "another password")[1], self.user_id)

    def test_a_wrong_password_is_403_and_deletes_nothing(self) -> None:
        """403 forbidden; the account still works."""
        self.assert_error(self.delete("not my password"), 403, "forbidden")
        self.assertTrue(self.works(self.token))

    def test_the_body_must_name_the_password(self) -> None:
        """No body, a wrong type: 400."""
        self.assertEqual(self.request("DELETE", "/api/account", token=self.token).code, 400)
        reply = self.request("DELETE", "/api/account", token=self.token, json={"password": 1})
        self.assert_error(reply, 400, "invalid_request")
