"""Private rooms, membership, roles and moderation over REST and the WebSocket (memory store).

The rules are ``access.py``'s; the store-level rules are in
``tests/access_contract.py`` on all three stores.
"""

from __future__ import annotations

from typing import Any

from chatservice.membership import CLOSE_REMOVED
from tests.realtime_support import RealtimeCase
from tests.wsclient import result_now

PRIVATE_ROUTES = (
    ("GET", "/api/messages?roomId={room}", None),
    ("GET", "/api/events?roomId={room}", None),
    ("GET", "/api/search?q=secret&roomId={room}", None),
    ("GET", "/api/rooms/{room}/members", None),
    ("GET", "/api/rooms/{room}/audit", None),
    ("POST", "/api/rooms/{room}/join", None),
    ("POST", "/api/rooms/{room}/leave", None),
    ("POST", "/api/rooms/{room}/invites", {"user_id": 1}),
    ("POST", "/api/rooms/{room}/kick", {"user_id": 1}),
    ("POST", "/api/rooms/{room}/ban", {"user_id": 1}),
    ("POST", "/api/rooms/{room}/mute", {"user_id": 1}),
    ("PATCH", "/api/rooms/{room}", {"description": "x"}),
    ("PUT", "/api/rooms/{room}/members/1/role", {"role": "moderator"}),
    ("POST", "/api/messages", {"room_id": "{room}", "content": "hi"}),
)


class AccessCase(RealtimeCase):
    """alice (owner of 'Secret', private, id 2) and bob, both in General; helpers."""

    def setUp(self) -> None:
        super().setUp()
        self.carol, self.carol_id = self.world.rest.register("carol")
        self.secret = self.create("Secret", "private")

    def create(self, name: str, visibility: str = "public", token: str | None = None) -> int:
        status, room = self.call(
            "POST", "/api/rooms", token or self.alice, {"name": name, "visibility": visibility}
        )
        self.assertEqual((status, room["visibility"]), (201, visibility))
        room_id: int = room["id"]
        return room_id

    def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        result = self.world.rest.call(method, path, token, body)
        self.world.chat.flush()
        return result

    def ok(self, method: str, path: str, token: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, token, body)
        self.assertIn(status, (200, 201), (method, path, answer))
        return answer

    def refused(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, str]:
        status, answer = self.call(method, path, token, body)
        return status, answer["code"]


class PrivateRoomTests(AccessCase):
    """A private room does not exist for anyone who is not in it."""

    def fill(self, template: Any, room: int) -> Any:
        if isinstance(template, str):
            filled = template.replace("{room}", str(room))
            return int(filled) if template == "{room}" else filled
        if isinstance(template, dict):
            return {key: self.fill(value, room) for key, value in template.items()}
        return template

    def test_a_non_member_gets_byte_identical_answers_for_it_and_an_unknown_id(self) -> None:
        """Every route: the same status and the same bytes as for room 999."""
        self.ok("POST", "/api/messages", self.alice, {"room_id": self.secret, "content": "secret"})
        for method, path, body in PRIVATE_ROUTES:
            private = self.world.rest.call_raw(
                method, self.fill(path, self.secret), self.bob, self.fill(body, self.secret)
            )
            unknown = self.world.rest.call_raw(
                method, self.fill(path, 999), self.bob, self.fill(body, 999)
            )
            self.assertEqual(private, unknown, (method, path))
            self.assertEqual(private[0], 404, (method, path))
        handshake = self.world.chat.refusal(
            f"/ws?roomId={self.secret}", {"Authorization": f"Bearer {self.bob}"}
        )
        unknown_handshake = self.world.chat.refusal(
            "/ws?roomId=999", {"Authorization": f"Bearer {self.bob}"}
        )
        self.assertEqual((handshake.status, handshake.body), (404, unknown_handshake.body))
        self.assertNotIn(self.secret, [r["id"] for r in self.ok("GET", "/api/rooms", self.bob)])
        found = self.ok("GET", "/api/search?q=secret", self.bob)
        self.assertEqual(found, [])
        self.assertEqual(len(self.ok("GET", "/api/search?q=secret", self.alice)), 1)

    def test_an_invitation_shows_the_room_and_joining_opens_it(self) -> None:
        """Invited: listed, 403 to read until joined; joined: reads, posts, opens its socket."""
        member = self.ok(
            "POST", f"/api/rooms/{self.secret}/invites", self.alice, {"user_id": self.bob_id}
        )
        self.assertEqual((member["state"], member["role"]), ("invited", "member"))
        listed = {r["id"]: r["membership"] for r in self.ok("GET", "/api/rooms", self.bob)}
        self.assertEqual(
            listed[self.secret], {"state": "invited", "role": "member", "muted": False}
        )
        self.assertEqual(
            self.refused("GET", f"/api/messages?roomId={self.secret}", self.bob),
            (403, "forbidden"),
        )
        alice = self.connect(self.alice, self.secret)
        joined = self.ok("POST", f"/api/rooms/{self.secret}/join", self.bob)
        self.assertEqual(joined["state"], "joined")
        bob = self.connect(self.bob, self.secret)
        self.send(bob, {"content": "hello alice"})
        self.assertEqual([f["content"] for f in alice.of_type("message")], ["hello alice"])
        kinds = [f["kind"] for f in alice.of_type("member_event")]
        self.assertEqual(kinds, ["joined"])  # the invitation came before alice's socket
        members = self.ok("GET", f"/api/rooms/{self.secret}/members", self.bob)
        self.assertEqual(
            [(m["username"], m["role"]) for m in members], [("alice", "owner"), ("bob", "member")]
        )

    def test_only_moderators_invite_to_a_private_room(self) -> None:
        """A plain member's invitation is refused, naming the right."""
        self.ok("POST", f"/api/rooms/{self.secret}/invites", self.alice, {"user_id": self.bob_id})
        self.ok("POST", f"/api/rooms/{self.secret}/join", self.bob)
        status, answer = self.call(
            "POST", f"/api/rooms/{self.secret}/invites", self.bob, {"user_id": self.carol_id}
        )
        self.assertEqual((status, answer["code"]), (403, "forbidden"))
        self.assertIn("owner and moderators may invite", answer["error"])

    def test_a_direct_room_is_the_same_for_both_and_private_to_others(self) -> None:
        """Asked twice, by either user: one private room; carol gets 404."""
        room = self.ok("POST", "/api/dms", self.alice, {"user_id": self.bob_id})
        again = self.ok("POST", "/api/dms", self.bob, {"user_id": self.alice_id})
        self.assertEqual(room, again)
        self.assertEqual((room["visibility"], room["direct"]), ("private", True))
        self.connect(self.bob, room["id"])
        self.assertEqual(
            self.refused("GET", f"/api/messages?roomId={room['id']}", self.carol),
            (404, "not_found"),
        )
        self.assertEqual(
            self.refused("POST", "/api/dms", self.alice, {"user_id": self.alice_id})[0], 400
        )


class ModerationTests(AccessCase):
    """Kicks, bans, mutes, roles and archives, with their sockets and their events."""

    def setUp(self) -> None:
        super().setUp()
        self.lobby = self.create("Lobby")
        self.ok("POST", f"/api/rooms/{self.lobby}/join", self.bob)
        self.ok("POST", f"/api/rooms/{self.lobby}/join", self.carol)

    def act(self, action: str, user_id: int, token: str | None = None, reason: str = "") -> Any:
        body = {"user_id": user_id, "reason": reason} if reason else {"user_id": user_id}
        return self.call("POST", f"/api/rooms/{self.lobby}/{action}", token or self.alice, body)

    def test_a_kick_closes_the_socket_with_4003_and_the_room_sees_it(self) -> None:
        """Bob's socket in the room closes at once; his other room's stays; a member event."""
        bob_here, bob_general = self.connect(self.bob, self.lobby), self.connect(self.bob)
        carol = self.connect(self.carol, self.lobby)
        status, member = self.act("kick", self.bob_id, reason="spam")
        self.assertEqual((status, member["state"]), (200, "left"))
        self.assertEqual(
            (bob_here.close_code, bob_here.remoteCloseReason),
            (CLOSE_REMOVED, "removed from the room"),
        )
        self.assertTrue(bob_general.ws_open)
        (event,) = [f for f in carol.of_type("member_event") if f["kind"] == "kicked"]
        self.assertEqual(
            (event["user_id"], event["actor_id"], event["reason"]),
            (self.bob_id, self.alice_id, "spam"),
        )
        self.connect(self.bob, self.lobby)  # a public room: he may come back

    def test_a_banned_user_cannot_read_or_come_back_until_unbanned(self) -> None:
        """403 to read, join, post and open a socket; unbanned, he joins again."""
        bob = self.connect(self.bob, self.lobby)
        self.assertEqual(self.act("ban", self.bob_id)[0], 200)
        self.assertEqual(bob.close_code, CLOSE_REMOVED)
        for method, path, body in (
            ("GET", f"/api/messages?roomId={self.lobby}", None),
            ("POST", f"/api/rooms/{self.lobby}/join", None),
            ("POST", "/api/messages", {"room_id": self.lobby, "content": "hi"}),
        ):
            self.assertEqual(self.refused(method, path, self.bob, body), (403, "forbidden"))
        refusal = self.world.chat.refusal(
            f"/ws?roomId={self.lobby}", {"Authorization": f"Bearer {self.bob}"}
        )
        self.assertEqual(refusal.status, 403)
        self.assertEqual(self.act("unban", self.bob_id)[0], 200)
        self.connect(self.bob, self.lobby)

    def test_a_muted_member_reads_but_cannot_post_on_an_open_socket(self) -> None:
        """The mute reaches the open socket at once: an error frame; unmuted, he posts."""
        bob = self.connect(self.bob, self.lobby)
        self.assertEqual(self.act("mute", self.bob_id)[0], 200)
        self.send(bob, {"content": "let me speak", "client_msg_id": "m1"})
        (error,) = bob.of_type("error")
        self.assertEqual((error["code"], error["client_msg_id"]), ("forbidden", "m1"))
        self.assertEqual(
            self.refused(
                "POST", "/api/messages", self.bob, {"room_id": self.lobby, "content": "x"}
            ),
            (403, "forbidden"),
        )
        self.assertEqual(self.act("unmute", self.bob_id)[0], 200)
        self.send(bob, {"content": "thanks"})
        self.assertEqual([f["content"] for f in bob.of_type("message")], ["thanks"])

    def test_moderators_act_on_members_only_and_only_the_owner_names_them(self) -> None:
        """Bob made moderator kicks carol, cannot kick alice; he cannot name moderators."""
        self.assertEqual(
            self.refused(
                "POST", f"/api/rooms/{self.lobby}/kick", self.bob, {"user_id": self.carol_id}
            ),
            (403, "forbidden"),
        )
        role = self.ok(
            "PUT",
            f"/api/rooms/{self.lobby}/members/{self.bob_id}/role",
            self.alice,
            {"role": "moderator"},
        )
        self.assertEqual(role["role"], "moderator")
        self.assertEqual(self.act("kick", self.carol_id, self.bob)[0], 200)
        status, answer = self.act("kick", self.alice_id, self.bob)
        self.assertEqual((status, answer["code"]), (403, "forbidden"))
        status, answer = self.call(
            "PUT",
            f"/api/rooms/{self.lobby}/members/{self.carol_id}/role",
            self.bob,
            {"role": "moderator"},
        )
        self.assertEqual(status, 403)
        self.assertIn("Only the room's owner", answer["error"])

    def test_a_moderator_deletes_anyone_s_message_and_the_audit_log_says_so(self) -> None:
        """Carol's message deleted by alice (owner); the room's audit log lists it."""
        message = self.ok(
            "POST", "/api/messages", self.carol, {"room_id": self.lobby, "content": "rude"}
        )
        self.assertEqual(
            self.refused("DELETE", f"/api/messages/{message['id']}", self.bob), (403, "forbidden")
        )
        deleted = self.ok("DELETE", f"/api/messages/{message['id']}", self.alice)
        self.assertTrue(deleted["deleted"])
        self.act("mute", self.bob_id, reason="calm down")
        log = self.ok("GET", f"/api/rooms/{self.lobby}/audit", self.alice)
        self.assertEqual([e["action"] for e in log], ["muted", "message_deleted"])
        self.assertEqual((log[0]["reason"], log[0]["target_user_id"]), ("calm down", self.bob_id))
        self.assertEqual(
            self.refused("GET", f"/api/rooms/{self.lobby}/audit", self.bob), (403, "forbidden")
        )

    def test_an_archived_room_is_read_only_on_open_sockets_too(self) -> None:
        """Archived: posts refused over REST and as error frames; unarchived, posts work."""
        bob = self.connect(self.bob, self.lobby)
        room = self.ok(
            "PATCH",
            f"/api/rooms/{self.lobby}",
            self.alice,
            {"archived": True, "name": "Old lobby"},
        )
        self.assertEqual((room["archived"], room["name"]), (True, "Old lobby"))
        self.send(bob, {"content": "anyone?"})
        self.assertEqual([f["code"] for f in bob.of_type("error")], ["forbidden"])
        self.assertEqual(
            self.refused(
                "POST", "/api/messages", self.carol, {"room_id": self.lobby, "content": "x"}
            ),
            (403, "forbidden"),
        )
        self.assertEqual(len(self.ok("GET", f"/api/messages?roomId={self.lobby}", self.carol)), 0)
        self.ok("PATCH", f"/api/rooms/{self.lobby}", self.alice, {"archived": False})
        self.send(bob, {"content": "back"})
        self.assertEqual([f["content"] for f in bob.of_type("message")], ["back"])
        kinds = [f["kind"] for f in bob.of_type("member_event")]
        self.assertEqual(kinds, ["room_updated", "room_archived", "room_archived"])

    def test_leaving_closes_one_s_sockets_and_the_owner_cannot_leave(self) -> None:
        """Bob leaves: 4003 on his socket; alice (owner) gets 409."""
        bob = self.connect(self.bob, self.lobby)
        self.assertEqual(
            self.ok("POST", f"/api/rooms/{self.lobby}/leave", self.bob),
            {"room_id": self.lobby, "state": "left"},
        )
        self.assertEqual((bob.close_code, bob.remoteCloseReason), (CLOSE_REMOVED, "left the room"))
        self.assertEqual(
            self.refused("POST", f"/api/rooms/{self.lobby}/leave", self.alice), (409, "conflict")
        )


class AdminRoomTests(AccessCase):
    """Server admins archive and delete any room, member of it or not."""

    def setUp(self) -> None:
        super().setUp()
        result_now(self.store.set_admin("carol", True))

    def test_an_admin_deletes_a_private_room_they_are_not_in(self) -> None:
        """Its sockets close (4003), it is 404 everywhere, its name is free; General stays."""
        alice = self.connect(self.alice, self.secret)
        self.assertEqual(
            self.ok("DELETE", f"/api/admin/rooms/{self.secret}", self.carol, {"reason": "abuse"}),
            {"room_id": self.secret, "deleted": True},
        )
        self.assertEqual(
            (alice.close_code, alice.remoteCloseReason), (4003, "the room was deleted")
        )
        self.assertEqual(
            self.refused("GET", f"/api/messages?roomId={self.secret}", self.alice),
            (404, "not_found"),
        )
        self.create("Secret", "private")
        self.assertEqual(
            self.refused("DELETE", "/api/admin/rooms/1", self.carol), (409, "conflict")
        )
        log = self.ok("GET", f"/api/admin/audit?roomId={self.secret}", self.carol)
        self.assertEqual([(e["action"], e["reason"]) for e in log], [("room_deleted", "abuse")])

    def test_an_admin_archives_any_room_and_others_may_not(self) -> None:
        """Read-only for its sockets at once; bob (not an admin) gets 403 naming the right."""
        alice = self.connect(self.alice, self.secret)
        status, answer = self.call(
            "POST", f"/api/admin/rooms/{self.secret}/archive", self.bob, {"archived": True}
        )
        self.assertEqual(status, 403)
        self.assertIn("server admin", answer["error"])
        room = self.ok(
            "POST", f"/api/admin/rooms/{self.secret}/archive", self.carol, {"archived": True}
        )
        self.assertTrue(room["archived"])
        self.send(alice, {"content": "still here?"})
        self.assertEqual([f["code"] for f in alice.of_type("error")], ["forbidden"])
