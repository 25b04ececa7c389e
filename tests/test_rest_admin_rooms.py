"""The admin panel's room routes over HTTP: every room listed and searched, any room's members."""

from __future__ import annotations

from typing import Any

from tests.rest_support import RestTestCase


class AdminRoomListingTests(RestTestCase):
    """Alice is a server admin; bob is not, and owns a private room alice is not in."""

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_id = self.register("alice")
        self.bob, self.bob_id = self.register("bob")
        self.carol, self.carol_id = self.register("carol")
        self.successResultOf(self.service.store.set_admin("alice", True))
        self.lobby = self.create(self.bob, "Lobby", "public")
        self.secret = self.create(self.bob, "Secret 100%", "private")
        reply = self.request("POST", "/api/dms", token=self.bob, json={"user_id": self.carol_id})
        self.direct = reply.json()["id"]

    def create(self, token: str, name: str, visibility: str) -> int:
        body = {"name": name, "visibility": visibility}
        reply = self.request("POST", "/api/rooms", token=token, json=body)
        self.assertEqual(reply.code, 201)
        room_id: int = reply.json()["id"]
        return room_id

    def admin(self, target: str, token: str | None = None) -> Any:
        return self.request("GET", "/api/admin" + target, token=token or self.alice)

    def names(self, target: str) -> list[str]:
        reply = self.admin(target)
        self.assertEqual(reply.code, 200)
        return [room["name"] for room in reply.json()]

    def test_every_room_is_listed_private_and_direct_ones_too(self) -> None:
        """Rooms by id, whoever is in them; the admin's own GET /api/rooms lacks private ones."""
        self.assertEqual(self.names("/rooms"), ["General", "Lobby", "Secret 100%", "bob & carol"])
        rooms = self.admin("/rooms").json()
        self.assertEqual([r["visibility"] for r in rooms][2:], ["private", "private"])
        self.assertTrue(rooms[3]["direct"])
        own = self.request("GET", "/api/rooms", token=self.alice).json()
        self.assertEqual([r["name"] for r in own], ["General", "Lobby"])

    def test_rooms_are_searched_by_name_and_paged(self) -> None:
        """``q`` is a case-insensitive part of the name (wildcards literal); ``after`` pages."""
        self.assertEqual(self.names("/rooms?q=SECRET"), ["Secret 100%"])
        self.assertEqual(self.names("/rooms?q=%25"), ["Secret 100%"])
        self.assertEqual(self.names("/rooms?q=_"), [])
        self.assertEqual(self.names("/rooms?q=Carol"), ["bob & carol"])
        self.assertEqual(self.names(f"/rooms?after={self.lobby}&limit=1"), ["Secret 100%"])
        self.assert_error(self.admin("/rooms?limit=0"), 400, "invalid_request")
        self.assert_error(self.admin("/rooms?q=" + "x" * 65), 400, "invalid_request")

    def test_a_deleted_room_is_no_longer_listed(self) -> None:
        """Deleting a room takes it out of the listing and its members are 404."""
        reply = self.request("DELETE", f"/api/admin/rooms/{self.lobby}", token=self.alice)
        self.assertEqual(reply.code, 200)
        self.assertNotIn("Lobby", self.names("/rooms"))
        self.assert_error(self.admin(f"/rooms/{self.lobby}/members"), 404, "not_found")

    def test_any_rooms_members_with_roles_and_bans(self) -> None:
        """A private room alice is not in: its owner, an invitee, a ban; 404 for no room."""
        invite = {"user_id": self.carol_id}
        reply = self.request(
            "POST", f"/api/rooms/{self.secret}/invites", token=self.bob, json=invite
        )
        self.assertEqual(reply.code, 200)
        reply = self.request("POST", f"/api/rooms/{self.lobby}/join", token=self.carol)
        self.assertEqual(reply.code, 200)
        reply = self.request("POST", f"/api/rooms/{self.lobby}/ban", token=self.bob, json=invite)
        self.assertEqual(reply.code, 200)
        secret = self.admin(f"/rooms/{self.secret}/members").json()
        self.assertEqual(
            [(m["username"], m["role"], m["state"]) for m in secret],
            [("bob", "owner", "joined"), ("carol", "member", "invited")],
        )
        lobby = self.admin(f"/rooms/{self.lobby}/members").json()
        self.assertEqual(
            [(m["username"], m["state"]) for m in lobby], [("bob", "joined"), ("carol", "banned")]
        )
        self.assert_error(self.admin("/rooms/999/members"), 404, "not_found")

    def test_non_admins_are_403_even_for_their_own_rooms(self) -> None:
        """Bob owns Secret, but the admin routes need the admin right."""
        for target in ("/rooms", f"/rooms/{self.secret}/members"):
            body = self.assert_error(self.admin(target, token=self.bob), 403, "forbidden")
            self.assertIn("server admin", body["error"])
            self.assert_error(self.request("GET", "/api/admin" + target), 401, "unauthorized")
