"""REST: ``GET /api/messages``, a room's history."""

from __future__ import annotations

from typing import Any, ClassVar

from chatservice.tokens import Identity
from tests.rest_support import MESSAGE_KEYS, Reply, RestTestCase


class HistoryTests(RestTestCase):
    """``GET /api/messages?roomId=&limit=&before=&after=``."""

    # History is seeded through the posting use case: lift its rate limit.
    config_changes: ClassVar[dict[str, Any]] = {"message_burst": 100_000}

    def setUp(self) -> None:
        super().setUp()
        self.token, self.user_id = self.register("alice")
        self.identity = Identity(self.user_id, "alice", expires_at=10**9)
        reply = self.request("POST", "/api/rooms", json={"name": "other"}, token=self.token)
        self.other_room = reply.json()["id"]

    def post(self, count: int, room_id: int = 1) -> list[int]:
        """Store ``count`` messages in a room; return their ids."""
        ids = []
        for n in range(count):
            posted = self.run_coroutine(
                self.service.messages.post(self.identity, room_id, f"message {n}")
            )
            ids.append(posted.message.id)
        return ids

    def history(self, query: str) -> Reply:
        return self.request("GET", "/api/messages?" + query, token=self.token)

    def ids(self, query: str) -> list[int]:
        """The ids of a successful history page."""
        reply = self.history(query)
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.header("content-type"), "application/json")
        return [m["id"] for m in reply.json()]

    def test_messages_have_the_message_shape(self) -> None:
        """Each entry is API.md's Message object, with this service's additions."""
        self.reactor.advance(5)
        self.run_coroutine(self.service.messages.post(self.identity, 1, "Hello, world!"))
        (message,) = self.history("roomId=1").json()
        self.assertEqual(
            message,
            {
                "type": "message",
                "id": message["id"],
                "room_id": 1,
                "sender_id": self.user_id,
                "username": "alice",
                "content": "Hello, world!",
                "ts": 5000,
                "reply_to": None,
                "reply_preview": None,
                "edited_at": None,
                "deleted": False,
                "reactions": [],
                "mentions": [],
            },
        )
        self.assertEqual(set(message), MESSAGE_KEYS)

    def test_client_msg_id_is_carried(self) -> None:
        """A message posted with a ``client_msg_id`` carries it in history."""
        self.run_coroutine(self.service.messages.post(self.identity, 1, "hi", "abc-1"))
        (message,) = self.history("roomId=1").json()
        self.assertEqual(message["client_msg_id"], "abc-1")

    def test_empty_room_is_an_empty_list(self) -> None:
        """A room without messages answers ``[]``."""
        self.assertEqual(self.ids("roomId=1"), [])

    def test_default_limit_is_the_newest_50_oldest_first(self) -> None:
        """Without ``limit``, the newest 50 messages come back, oldest first."""
        ids = self.post(60)
        self.assertEqual(self.ids("roomId=1"), ids[-50:])

    def test_limit_picks_the_newest(self) -> None:
        """``limit=n`` returns the newest n messages, oldest first."""
        ids = self.post(10)
        self.assertEqual(self.ids("roomId=1&limit=3"), ids[-3:])
        self.assertEqual(self.ids("roomId=1&limit=1"), ids[-1:])

    def test_limit_of_500_is_allowed(self) -> None:
        """500 is the largest limit."""
        ids = self.post(501)
        self.assertEqual(self.ids("roomId=1&limit=500"), ids[-500:])

    def test_bad_limits_are_400(self) -> None:
        """A limit out of 1..500 or not an integer is 400 ``invalid_request``."""
        for limit in ("0", "501", "-1", "abc", "1.5", "", "1e2", "99999999999999999999999"):
            self.assert_error(self.history(f"roomId=1&limit={limit}"), 400, "invalid_request")

    def test_room_id_alias(self) -> None:
        """``room_id`` is accepted in place of ``roomId``."""
        ids = self.post(2)
        self.assertEqual(self.ids("room_id=1"), ids)

    def test_only_the_rooms_messages_are_returned(self) -> None:
        """History of one room holds none of another's messages."""
        general = self.post(2)
        other = self.post(3, room_id=self.other_room)
        self.assertEqual(self.ids("roomId=1"), general)
        self.assertEqual(self.ids(f"roomId={self.other_room}"), other)

    def test_before_pages_back(self) -> None:
        """``before`` keeps only smaller ids: the newest ``limit`` of them, oldest first."""
        ids = self.post(10)
        self.assertEqual(self.ids(f"roomId=1&before={ids[5]}&limit=3"), ids[2:5])
        self.assertEqual(self.ids(f"roomId=1&before={ids[5]}"), ids[:5])
        self.assertEqual(self.ids(f"roomId=1&before={ids[0]}"), [])

    def test_after_pages_forward_from_the_oldest(self) -> None:
        """``after`` gives the ``limit`` oldest messages with a larger id, oldest first."""
        ids = self.post(10)
        self.assertEqual(self.ids(f"roomId=1&after={ids[2]}&limit=3"), ids[3:6])
        self.assertEqual(self.ids(f"roomId=1&after={ids[2]}"), ids[3:])
        self.assertEqual(self.ids(f"roomId=1&after={ids[-1]}"), [])

    def test_after_zero_is_from_the_start(self) -> None:
        """``after=0`` pages from the room's first message."""
        ids = self.post(5)
        self.assertEqual(self.ids("roomId=1&after=0&limit=2"), ids[:2])

    def test_before_and_after_together_are_400(self) -> None:
        """``before`` and ``after`` in one query is 400 ``invalid_request``."""
        ids = self.post(5)
        reply = self.history(f"roomId=1&before={ids[4]}&after={ids[0]}")
        self.assert_error(reply, 400, "invalid_request")

    def test_bad_before_and_after_are_400(self) -> None:
        """A non-integer ``before`` or ``after`` is 400 ``invalid_request``."""
        for query in ("before=x", "after=x", "before=-3", "after=1.0"):
            self.assert_error(self.history("roomId=1&" + query), 400, "invalid_request")

    def test_missing_room_id_is_400(self) -> None:
        """Without ``roomId`` the answer is 400 ``invalid_request``."""
        self.assert_error(self.history(""), 400, "invalid_request")
        self.assert_error(self.history("limit=5"), 400, "invalid_request")

    def test_non_integer_room_id_is_400(self) -> None:
        """A ``roomId`` that is not a positive integer is 400 ``invalid_request``."""
        for room in ("abc", "", "1.0", "-1", "0", "one", "%EF%BC%91"):
            self.assert_error(self.history(f"roomId={room}"), 400, "invalid_request")

    def test_unknown_room_is_404(self) -> None:
        """A room id that names no room is 404 ``not_found``."""
        self.assert_error(self.history("roomId=999"), 404, "not_found")
        self.assert_error(self.history("room_id=999&after=0"), 404, "not_found")

    def test_room_id_first_spelling_wins(self) -> None:
        """With both spellings present, ``roomId`` is the one used."""
        ids = self.post(1)
        self.post(1, room_id=self.other_room)
        self.assertEqual(self.ids(f"roomId=1&room_id={self.other_room}"), ids)
