"""REST: listing and creating rooms."""

from __future__ import annotations

from typing import Any

from tests.rest_support import Reply, RestTestCase

ROOM_KEYS = {
    "id",
    "name",
    "description",
    "created_by",
    "created_at",
    "visibility",
    "archived",
    "direct",
}


class RoomsTests(RestTestCase):
    """``GET /api/rooms``, ``POST /api/rooms/create`` and its alias ``POST /api/rooms``."""

    def setUp(self) -> None:
        super().setUp()
        self.token, self.user_id = self.register("alice")

    def create(self, body: Any, path: str = "/api/rooms/create") -> Reply:
        return self.request("POST", path, json=body, token=self.token)

    def list_rooms(self) -> list[dict[str, Any]]:
        reply = self.request("GET", "/api/rooms", token=self.token)
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-type"), "application/json")
        rooms: list[dict[str, Any]] = reply.json()
        return rooms

    def test_general_room_is_first_with_id_1(self) -> None:
        """A new store lists one room, General, with id 1 and no creator."""
        rooms = self.list_rooms()
        self.assertEqual(len(rooms), 1)
        self.assertEqual(
            set(rooms[0]),
            {*ROOM_KEYS, "membership", "last_read_id", "unread", "mention_count"},
        )
        self.assertIsNone(rooms[0]["membership"])  # never joined
        self.assertEqual((rooms[0]["id"], rooms[0]["name"]), (1, "General"))
        self.assertIsNone(rooms[0]["created_by"])

    def test_create_is_201_with_the_room(self) -> None:
        """Creating a room answers 201 with the Room object."""
        self.reactor.advance(42)
        reply = self.create({"name": "Lobby", "description": "Say hi"})
        self.assertEqual(reply.code, 201)
        self.assertEqual(reply.header("content-type"), "application/json")
        self.assertEqual(
            reply.json(),
            {
                "id": 2,
                "name": "Lobby",
                "description": "Say hi",
                "created_by": self.user_id,
                "created_at": 42000,
                "visibility": "public",
                "archived": False,
                "direct": False,
            },
        )

    def test_post_api_rooms_is_an_alias(self) -> None:
        """``POST /api/rooms`` creates a room like ``POST /api/rooms/create``."""
        reply = self.create({"name": "Lobby"}, path="/api/rooms")
        self.assertEqual(reply.code, 201)
        self.assertEqual(set(reply.json()), ROOM_KEYS)
        self.assertEqual([r["name"] for r in self.list_rooms()], ["General", "Lobby"])

    def test_description_defaults_to_empty(self) -> None:
        """Without a description (or with null) the room's description is ``""``."""
        self.assertEqual(self.create({"name": "one"}).json()["description"], "")
        self.assertEqual(
            self.create({"name": "two", "description": None}).json()["description"], ""
        )

    def test_rooms_are_listed_in_id_order(self) -> None:
        """The list holds every room, ordered by id, General first."""
        for name in ("zeta", "alpha", "Mid"):
            self.assertEqual(self.create({"name": name}).code, 201)
        rooms = self.list_rooms()
        self.assertEqual([r["name"] for r in rooms], ["General", "zeta", "alpha", "Mid"])
        self.assertEqual([r["id"] for r in rooms], sorted(r["id"] for r in rooms))

    def test_name_is_trimmed(self) -> None:
        """Surrounding white space is not part of the name."""
        reply = self.create({"name": "  \t Lobby \n "})
        self.assertEqual(reply.json()["name"], "Lobby")

    def test_name_of_1_and_64_characters_is_accepted(self) -> None:
        """Names from 1 to 64 characters (code points, after trimming) are valid."""
        for name in ("x", "n" * 64, "é" * 64, " " + "m" * 64 + " "):
            self.assertEqual(self.create({"name": name}).code, 201, name)

    def test_bad_names_are_400(self) -> None:
        """An empty, blank, 65-character, missing or non-string name is 400 ``invalid_request``."""
        bodies: list[Any] = [
            {"name": ""},
            {"name": "   "},
            {"name": "n" * 65},
            {},
            {"name": None},
            {"name": 7},
            {"name": ["Lobby"]},
            {"name": "bad\x00name"},
            {"description": "no name"},
        ]
        for body in bodies:
            self.assert_error(self.create(body), 400, "invalid_request")

    def test_description_of_512_characters_is_accepted_and_513_is_400(self) -> None:
        """A description may have up to 512 characters (code points)."""
        self.assertEqual(self.create({"name": "a", "description": "d" * 512}).code, 201)
        self.assertEqual(self.create({"name": "b", "description": "€" * 512}).code, 201)
        self.assert_error(
            self.create({"name": "c", "description": "d" * 513}), 400, "invalid_request"
        )
        self.assert_error(self.create({"name": "c", "description": 5}), 400, "invalid_request")

    def test_bodies_that_are_not_objects_are_400(self) -> None:
        """A JSON array is ``invalid_request``; broken JSON ``invalid_json``."""
        self.assert_error(self.create(["Lobby"]), 400, "invalid_request")
        reply = self.request("POST", "/api/rooms/create", data=b"{name", token=self.token)
        self.assert_error(reply, 400, "invalid_json")

    def test_duplicate_name_is_409_case_insensitively(self) -> None:
        """A name taken in any letter case, or only differing in white space, is 409."""
        self.assertEqual(self.create({"name": "Lobby"}).code, 201)
        for name in ("Lobby", "lobby", "LOBBY", " Lobby "):
            self.assert_error(self.create({"name": name}), 409, "conflict")
            self.assert_error(self.create({"name": name}, path="/api/rooms"), 409, "conflict")
        self.assert_error(self.create({"name": "general"}), 409, "conflict")
        self.assertEqual(len(self.list_rooms()), 2)
