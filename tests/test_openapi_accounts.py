"""The session, account and admin operations answer as the OpenAPI document says.

Each test drives one operation through every status it documents, and
``ConformanceCase.call`` checks each real answer (status, body, headers)
against the document.
"""

from __future__ import annotations

from typing import Any

from chatservice.revocation import REFRESH_SECONDS
from tests.openapi_support import ConformanceCase
from tests.rest_support import PASSWORD


class AccountConformanceTests(ConformanceCase):
    """Logout, logout-all, password change and account deletion."""

    def login(self) -> None:
        """Log alice in again (her token was revoked)."""
        reply = self.request(
            "POST", "/api/login", json={"username": "alice", "password": PASSWORD}
        )
        self.assertEqual(reply.code, 200, reply.body)
        self.token = reply.json()["token"]

    def logout_conforms(self, target: str) -> None:
        self.call("POST", target, auth=False)
        self.disabled("POST", target)
        self.call("POST", target, data=self.too_big())
        self.store_down("POST", target)
        status, _ = self.call("POST", target, json={"ignored": True})
        self.assertEqual(status, "200")
        status, reply = self.call("POST", target)
        self.assertEqual((status, reply.json()["code"]), ("401", "session_revoked"))
        self.assert_every_documented_status_was_seen("POST", target)

    def test_logout_conforms(self) -> None:
        """``POST /api/logout``: 200, 401, 403, 413, 503 as documented."""
        self.logout_conforms("/api/logout")

    def test_logout_all_conforms(self) -> None:
        """``POST /api/logout-all``: 200, 401, 403, 413, 503 as documented."""
        self.logout_conforms("/api/logout-all")

    def test_password_change_conforms(self) -> None:
        """``POST /api/account/password``: 200, 400, 401, 403, 413, 429, 503 as documented."""
        target = "/api/account/password"

        def body(current: str, new: str = "a new password") -> dict[str, Any]:
            return {"current_password": current, "new_password": new}

        self.call("POST", target, json=body(PASSWORD, "short"))
        self.call("POST", target, json=body(PASSWORD, "€" * 25))
        self.call("POST", target, data=b"[")
        self.call("POST", target, json=body(PASSWORD), auth=False)
        self.disabled("POST", target, json=body(PASSWORD))
        self.call("POST", target, data=self.too_big())
        self.store_down("POST", target, json=body(PASSWORD))
        for _ in range(4):  # past the failed-login limit (3)
            self.call("POST", target, json=body("not the password"))
        self.reactor.advance(3600)  # the failures are forgotten
        self.login()
        status, reply = self.call("POST", target, json=body(PASSWORD))
        self.assertEqual(status, "200")
        self.assertEqual(reply.json()["user"]["username"], "alice")
        self.assert_every_documented_status_was_seen("POST", target)

    def test_account_deletion_conforms(self) -> None:
        """``DELETE /api/account``: 200, 400, 401, 403, 413, 429, 503 as documented."""
        target = "/api/account"
        self.call("DELETE", target, json={"password": 1})
        self.call("DELETE", target, json={"password": PASSWORD}, auth=False)
        self.disabled("DELETE", target, json={"password": PASSWORD})
        self.call("DELETE", target, data=self.too_big())
        self.store_down("DELETE", target, json={"password": PASSWORD})
        for _ in range(4):
            self.call("DELETE", target, json={"password": "not the password"})
        self.reactor.advance(3600)
        self.login()
        status, reply = self.call("DELETE", target, json={"password": PASSWORD})
        self.assertEqual((status, reply.json()), ("200", {"deleted": True, "erased_messages": 2}))
        self.assert_every_documented_status_was_seen("DELETE", target)


class AdminConformanceTests(ConformanceCase):
    """The routes under ``/api/admin/``, with alice a server admin."""

    def setUp(self) -> None:
        super().setUp()
        self.successResultOf(self.store.set_admin("alice", True))
        self.bob_token, self.bob_id = self.register("bob")

    def as_bob(self, method: str, target: str, **kwargs: Any) -> None:
        """Bob has no admin right: 403 ``forbidden``."""
        saved, self.token = self.token, self.bob_token
        try:
            status, reply = self.call(method, target, **kwargs)
        finally:
            self.token = saved
        self.assertEqual((status, reply.json()["code"]), ("403", "forbidden"))
        self.assertIn("admin right", reply.json()["error"])

    def test_user_list_conforms(self) -> None:
        """``GET /api/admin/users``: 200, 400, 401, 403, 413, 503 as documented."""
        target = "/api/admin/users"
        status, reply = self.call("GET", f"{target}?q=BO&limit=5")
        self.assertEqual([u["username"] for u in reply.json()], ["bob"])
        self.call("GET", f"{target}?after=1")
        for query in ("limit=0", "limit=201", "after=-1", "q=" + "x" * 65):
            self.call("GET", f"{target}?{query}")
        self.call("GET", target, auth=False)
        self.as_bob("GET", target)
        self.call("GET", target, data=self.too_big())
        self.store_down("GET", target)
        self.assert_every_documented_status_was_seen("GET", target)

    def test_audit_log_conforms(self) -> None:
        """``GET /api/admin/audit``: 200, 400, 401, 403, 413, 503 as documented."""
        target = "/api/admin/audit"
        self.call("POST", f"/api/admin/users/{self.bob_id}/disable", json={"reason": "spam"})
        status, reply = self.call("GET", target)
        self.assertEqual([e["action"] for e in reply.json()], ["user_disabled"])
        self.call("GET", f"{target}?roomId=1&before=5&limit=100")
        for query in ("limit=0", "limit=101", "before=0", "roomId=x"):
            self.call("GET", f"{target}?{query}")
        self.call("GET", target, auth=False)
        self.call("POST", f"/api/admin/users/{self.bob_id}/enable")
        self.as_bob("GET", target)
        self.call("GET", target, data=self.too_big())
        self.store_down("GET", target)
        self.assert_every_documented_status_was_seen("GET", target)

    def action_conforms(self, action: str) -> None:
        path = f"/api/admin/users/{{user_id}}/{action}"
        target = f"/api/admin/users/{self.bob_id}/{action}"
        self.as_bob("POST", target)  # first: disabled, bob would be refused for that
        self.call("POST", target)
        self.call("POST", target, json={"reason": "why not"})
        self.call("POST", target, json={"reason": None})
        for bad in ("x", "0", "9" * 30):
            self.call("POST", f"/api/admin/users/{bad}/{action}")
        self.call("POST", target, json={"reason": "r" * 501})
        self.call("POST", target, data=b"{")
        self.call("POST", "/api/admin/users/999/" + action)
        self.call("POST", target, auth=False)
        self.call("POST", target, data=self.too_big())
        self.store_down("POST", target)
        self.assert_every_documented_status_was_seen("POST", path)

    def test_disable_conforms(self) -> None:
        """``POST .../disable``: 200, 400, 401, 403, 404, 413, 503 as documented."""
        self.action_conforms("disable")

    def test_enable_conforms(self) -> None:
        """``POST .../enable``: 200, 400, 401, 403, 404, 413, 503 as documented."""
        self.action_conforms("enable")

    def test_erase_messages_conforms(self) -> None:
        """``POST .../erase-messages``: 200, 400, 401, 403, 404, 413, 503 as documented."""
        self.action_conforms("erase-messages")

    def test_the_stale_account_of_a_token_is_read_again(self) -> None:
        """Past the refresh bound the caller's account is read again: 503 while it cannot be."""
        self.reactor.advance(REFRESH_SECONDS)
        self.store_down("GET", "/api/admin/users")
