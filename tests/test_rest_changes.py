"""REST: send, edit, delete, react, events and search (the rich-messaging routes)."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from chatservice.models import MAX_REACTIONS_PER_MESSAGE, MAX_REACTIONS_PER_USER
from tests.rest_support import MESSAGE_KEYS, Reply, RestTestCase

THUMBS = "\U0001f44d"


class RichMessagingCase(RestTestCase):
    """Alice and bob, with helpers for the message routes."""

    config_changes: ClassVar[dict[str, Any]] = {"message_burst": 100_000}

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_id = self.register("alice")
        self.bob, self.bob_id = self.register("bob")

    def send(self, content: str, token: str | None = None, **fields: Any) -> Reply:
        """``POST /api/messages`` in room 1 (unless ``room_id`` is given)."""
        body = {"room_id": 1, "content": content, **fields}
        return self.request("POST", "/api/messages", json=body, token=token or self.alice)

    def sent(self, content: str, token: str | None = None, **fields: Any) -> dict[str, Any]:
        """Send and return the stored message."""
        reply = self.send(content, token, **fields)
        self.assertEqual(reply.code, 201, reply.body)
        message: dict[str, Any] = reply.json()
        return message

    def edit(self, message_id: int, content: str, token: str | None = None) -> Reply:
        return self.request(
            "PATCH",
            f"/api/messages/{message_id}",
            json={"content": content},
            token=token or self.alice,
        )

    def delete(self, message_id: int, token: str | None = None) -> Reply:
        return self.request("DELETE", f"/api/messages/{message_id}", token=token or self.alice)

    def react(
        self, message_id: int, emoji: str = THUMBS, token: str | None = None, method: str = "PUT"
    ) -> Reply:
        path = f"/api/messages/{message_id}/reactions/{quote(emoji, safe='')}"
        return self.request(method, path, token=token or self.alice)

    def events(self, after: int = 0, limit: int = 100, room_id: int = 1) -> list[dict[str, Any]]:
        reply = self.request(
            "GET", f"/api/events?roomId={room_id}&after={after}&limit={limit}", token=self.bob
        )
        self.assertEqual(reply.code, 200, reply.body)
        events: list[dict[str, Any]] = reply.json()
        return events

    def history(self) -> list[dict[str, Any]]:
        reply = self.request("GET", "/api/messages?roomId=1&limit=500", token=self.bob)
        self.assertEqual(reply.code, 200, reply.body)
        messages: list[dict[str, Any]] = reply.json()
        return messages


class SendTests(RichMessagingCase):
    """``POST /api/messages``."""

    def test_send_answers_201_with_the_message_and_history_has_it(self) -> None:
        message = self.sent("hello")
        self.assertEqual(set(message), MESSAGE_KEYS)
        self.assertEqual((message["content"], message["sender_id"]), ("hello", self.alice_id))
        self.assertEqual(self.history(), [message])

    def test_a_repeated_client_msg_id_answers_the_original(self) -> None:
        first = self.sent("once", client_msg_id="c-1")
        again = self.sent("twice?", client_msg_id="c-1")
        self.assertEqual(again, first)
        self.assertEqual(len(self.history()), 1)

    def test_a_reply_carries_a_preview_of_the_original(self) -> None:
        original = self.sent("x" * 150, self.bob)
        reply = self.sent("answer", reply_to=original["id"])
        self.assertEqual(reply["reply_to"], original["id"])
        self.assertEqual(
            reply["reply_preview"],
            {
                "id": original["id"],
                "sender_id": self.bob_id,
                "username": "bob",
                "excerpt": "x" * 100,
                "deleted": False,
            },
        )

    def test_a_reply_to_another_room_or_to_nothing_is_400(self) -> None:
        other = self.request("POST", "/api/rooms", json={"name": "other"}, token=self.bob)
        elsewhere = self.sent("there", self.bob, room_id=other.json()["id"])
        self.assert_error(self.send("x", reply_to=elsewhere["id"]), 400, "invalid_request")
        self.assert_error(self.send("x", reply_to=999), 400, "invalid_request")

    def test_refusals(self) -> None:
        self.assert_error(self.send("x", room_id=999), 404, "not_found")
        self.assert_error(self.send("x", room_id=999, reply_to=1), 404, "not_found")
        self.assert_error(self.send("   "), 400, "invalid_request")
        self.assert_error(self.send("x" * 1001), 400, "content_too_long")
        self.assert_error(self.send("x", room_id="1"), 400, "invalid_request")
        self.assert_error(
            self.request("POST", "/api/messages", json={"room_id": 1, "content": "x"}),
            401,
            "unauthorized",
        )


class EditDeleteTests(RichMessagingCase):
    """``PATCH`` and ``DELETE /api/messages/{id}``."""

    def test_an_edit_changes_content_and_sets_edited_at(self) -> None:
        message = self.sent("typo")
        self.reactor.advance(3)
        reply = self.edit(message["id"], "fixed")
        self.assertEqual(reply.code, 200, reply.body)
        edited = reply.json()
        self.assertEqual((edited["id"], edited["content"]), (message["id"], "fixed"))
        self.assertIsNotNone(edited["edited_at"])
        self.assertEqual(self.history(), [edited])

    def test_the_same_edit_twice_changes_nothing_the_second_time(self) -> None:
        message = self.sent("typo")
        first = self.edit(message["id"], "fixed")
        before = self.events()
        second = self.edit(message["id"], "fixed")
        self.assertEqual((second.code, second.json()), (200, first.json()))
        self.assertEqual(self.events(), before)

    def test_only_the_author_edits_or_deletes(self) -> None:
        message = self.sent("mine")
        self.assert_error(self.edit(message["id"], "theirs", self.bob), 403, "forbidden")
        self.assert_error(self.delete(message["id"], self.bob), 403, "forbidden")
        self.assertEqual(self.history(), [message])

    def test_unknown_and_malformed_ids(self) -> None:
        self.assert_error(self.edit(424242, "x"), 404, "not_found")
        self.assert_error(self.delete(424242), 404, "not_found")
        for bad in ("0", "abc", str(2**63), "-1"):
            reply = self.request(
                "PATCH", f"/api/messages/{bad}", json={"content": "x"}, token=self.alice
            )
            self.assert_error(reply, 400, "invalid_request")
        message = self.sent("x")
        self.assert_error(self.edit(message["id"], "y" * 1001), 400, "content_too_long")

    def test_delete_leaves_a_tombstone_and_is_idempotent(self) -> None:
        message = self.sent("secret")
        self.react(message["id"], token=self.bob)
        reply = self.delete(message["id"])
        self.assertEqual(reply.code, 200, reply.body)
        tombstone = reply.json()
        self.assertEqual(
            (tombstone["id"], tombstone["deleted"], tombstone["content"], tombstone["reactions"]),
            (message["id"], True, "", []),
        )
        before = self.events()
        again = self.delete(message["id"])
        self.assertEqual((again.code, again.json()), (200, tombstone))
        self.assertEqual(self.events(), before)
        self.assertEqual(self.history(), [tombstone])
        self.assert_error(self.edit(message["id"], "back"), 404, "not_found")
        self.assert_error(self.react(message["id"]), 404, "not_found")

    def test_a_reply_shows_its_original_deleted(self) -> None:
        original = self.sent("to be deleted", self.bob)
        reply = self.sent("answer", reply_to=original["id"])
        self.delete(original["id"], self.bob)
        (_, shown) = self.history()
        self.assertEqual(shown["id"], reply["id"])
        self.assertEqual(
            (shown["reply_preview"]["deleted"], shown["reply_preview"]["excerpt"]), (True, "")
        )


class ReactionTests(RichMessagingCase):
    """``PUT`` and ``DELETE /api/messages/{id}/reactions/{emoji}``."""

    def test_add_twice_then_remove(self) -> None:
        message = self.sent("react to me")
        first = self.react(message["id"])
        self.assertEqual(first.code, 200, first.body)
        self.assertEqual(
            first.json()["reactions"], [{"emoji": THUMBS, "count": 1, "user_ids": [self.alice_id]}]
        )
        before = self.events()
        self.assertEqual(self.react(message["id"]).json(), first.json())
        self.assertEqual(self.events(), before)
        both = self.react(message["id"], token=self.bob).json()
        self.assertEqual(
            both["reactions"],
            [{"emoji": THUMBS, "count": 2, "user_ids": [self.alice_id, self.bob_id]}],
        )
        removed = self.react(message["id"], method="DELETE").json()
        self.assertEqual(
            removed["reactions"], [{"emoji": THUMBS, "count": 1, "user_ids": [self.bob_id]}]
        )
        self.assertEqual(self.react(message["id"], method="DELETE").json(), removed)

    def test_names_and_sequences_are_reactions(self) -> None:
        message = self.sent("x")
        family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
        for emoji in (":thumbsup:", family):
            self.assertEqual(self.react(message["id"], emoji).code, 200)
        emojis = [r["emoji"] for r in self.history()[0]["reactions"]]
        self.assertEqual(emojis, [":thumbsup:", family])

    def test_bad_reactions_are_400(self) -> None:
        message = self.sent("x")
        for bad in ("a b", "\t", "x" * 33, "\x01"):
            self.assert_error(self.react(message["id"], bad), 400, "invalid_request")
        self.assert_error(self.react(424242), 404, "not_found")

    def test_bounds_per_message_and_per_user(self) -> None:
        message = self.sent("x")
        for n in range(MAX_REACTIONS_PER_USER):
            self.assertEqual(self.react(message["id"], f":a{n}:").code, 200)
        self.assert_error(self.react(message["id"], ":one-too-many:"), 400, "too_many_reactions")
        for n in range(MAX_REACTIONS_PER_MESSAGE - MAX_REACTIONS_PER_USER):
            self.assertEqual(self.react(message["id"], f":b{n}:", self.bob).code, 200)
        carol, _ = self.register("carol")
        self.assert_error(self.react(message["id"], ":c:", carol), 400, "too_many_reactions")
        self.assertEqual(self.react(message["id"], ":a0:", carol).code, 200)  # not a new emoji


class RateTests(RichMessagingCase):
    """Edits and reactions spend the message rate."""

    config_changes: ClassVar[dict[str, Any]] = {"message_burst": 3, "message_rate": 0.01}

    def test_edits_and_reactions_count(self) -> None:
        message = self.sent("one")
        self.assertEqual(self.edit(message["id"], "two").code, 200)
        self.assertEqual(self.react(message["id"]).code, 200)
        self.assert_error(self.edit(message["id"], "three"), 429, "rate_limited")
        self.assert_error(self.react(message["id"], ":x:"), 429, "rate_limited")
        self.assert_error(self.send("four"), 429, "rate_limited")


class EventsTests(RichMessagingCase):
    """``GET /api/events``: every change once, in id order, in the WebSocket's frames."""

    def test_every_change_is_an_event_in_order(self) -> None:
        first = self.sent("first")
        second = self.sent("second")
        self.edit(first["id"], "first, edited")
        self.react(second["id"], token=self.bob)
        self.delete(second["id"])
        everything = self.events()
        # Alice's and bob's first acts in the room joined it: member events.
        joins = [e for e in everything if e["type"] == "member_event"]
        self.assertEqual([e["kind"] for e in joins], ["joined", "joined"])
        events = [e for e in everything if e["type"] != "member_event"]
        ids = [e["id"] if e["type"] == "message" else e["event_id"] for e in events]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 5)
        self.assertEqual(
            [e["type"] for e in events], ["message", "message", *["message_updated"] * 3]
        )
        self.assertEqual([ids[0], ids[1]], [first["id"], second["id"]])
        # Each carries the message as it is now.
        state = {m["id"]: m for m in self.history()}
        for event in events:
            message = event if event["type"] == "message" else event["message"]
            self.assertEqual(message, state[message["id"]])

    def test_paging_with_after(self) -> None:
        for n in range(7):
            self.sent(f"m{n}")
        all_events = self.events()
        pages: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.events(after=after, limit=3)
            pages.extend(page)
            if len(page) < 3:
                break
            after = page[-1]["id"]
        self.assertEqual(pages, all_events)

    def test_refusals(self) -> None:
        self.assert_error(
            self.request("GET", "/api/events?roomId=999", token=self.bob), 404, "not_found"
        )
        for query in ("", "roomId=1&limit=501", "roomId=1&after=-1", "roomId=x"):
            reply = self.request("GET", f"/api/events?{query}", token=self.bob)
            self.assert_error(reply, 400, "invalid_request")


class SearchTests(RichMessagingCase):
    """``GET /api/search``."""

    def search(self, query: str) -> list[str]:
        reply = self.request("GET", f"/api/search?{query}", token=self.bob)
        self.assertEqual(reply.code, 200, reply.body)
        return [m["content"] for m in reply.json()]

    def test_every_word_newest_first_and_edits_and_deletes_followed(self) -> None:
        self.sent("The quick brown fox")
        self.sent("a lazy brown dog")
        gone = self.sent("brown and quick, but deleted")
        edited = self.sent("nothing here")
        self.assertEqual(
            self.search("q=Brown"),
            ["brown and quick, but deleted", "a lazy brown dog", "The quick brown fox"],
        )
        self.assertEqual(
            self.search("q=quick+BROWN"), ["brown and quick, but deleted", "The quick brown fox"]
        )
        self.delete(gone["id"])
        self.edit(edited["id"], "quick brown edit")
        self.assertEqual(self.search("q=quick+brown"), ["quick brown edit", "The quick brown fox"])
        self.assertEqual(self.search("q=nothing"), [])
        self.assertEqual(self.search("q=quick&limit=1"), ["quick brown edit"])

    def test_words_typed_as_stored_are_found(self) -> None:
        """A dotted capital I and a decomposed accent match as typed (the store lower-cases)."""
        self.sent("\u0130stanbul and cafe\u0301 noir")
        for query in ("%C4%B0stanbul", "cafe%CC%81", "CAFE%CC%81+noir"):
            self.assertEqual(len(self.search(f"q={query}")), 1, query)

    def test_room_filter_and_paging(self) -> None:
        other = self.request("POST", "/api/rooms", json={"name": "other"}, token=self.bob)
        other_id = other.json()["id"]
        self.sent("word one")
        there = self.sent("word two", room_id=other_id)
        self.assertEqual(self.search(f"q=word&roomId={other_id}"), ["word two"])
        self.assertEqual(self.search(f"q=word&before={there['id']}"), ["word one"])

    def test_refusals(self) -> None:
        for query in ("", "q=", "q=%21%21", "q=___", "q=x&limit=101", "q=" + "x" * 201):
            reply = self.request("GET", f"/api/search?{query}", token=self.bob)
            self.assert_error(reply, 400, "invalid_request")
        reply = self.request("GET", "/api/search?q=x&roomId=999", token=self.bob)
        self.assert_error(reply, 404, "not_found")
