"""WebSocket: edit, delete and react frames, and the ``message_updated`` frames they cause."""

from __future__ import annotations

from typing import Any

from tests.realtime_support import RealtimeCase
from tests.wsclient import RecordingClient

THUMBS = "\U0001f44d"


class ChangeFrameTests(RealtimeCase):
    """Alice, bob and a second socket of alice's in room 1."""

    changes: dict[str, Any] = {"message_burst": 100_000}

    def setUp(self) -> None:
        super().setUp()
        self.alice_ws = self.connect(self.alice)
        self.alice_too = self.connect(self.alice)
        self.bob_ws = self.connect(self.bob)
        self.send(self.alice_ws, {"content": "original"})
        self.message = self.bob_ws.of_type("message")[-1]

    def everyone(self) -> tuple[RecordingClient, ...]:
        return (self.alice_ws, self.alice_too, self.bob_ws)

    def updates(self, client: RecordingClient) -> list[dict[str, Any]]:
        return client.of_type("message_updated")

    def errors(self, client: RecordingClient) -> list[dict[str, Any]]:
        return client.of_type("error")

    def test_an_edit_reaches_every_socket_once_as_the_whole_message(self) -> None:
        self.send(
            self.alice_ws,
            {
                "type": "edit",
                "message_id": self.message["id"],
                "content": "edited",
                "client_msg_id": "e1",
            },
        )
        (update,) = self.updates(self.bob_ws)
        self.assertGreater(update["event_id"], self.message["id"])
        self.assertEqual(update["message"]["content"], "edited")
        self.assertEqual(update["message"]["id"], self.message["id"])
        self.assertIsNotNone(update["message"]["edited_at"])
        for client in self.everyone():
            self.assertEqual(self.updates(client), [update])
        (stored,) = self.world.rest.history(self.bob, 1)
        self.assertEqual(stored, update["message"])

    def test_a_repeat_goes_to_the_sender_alone(self) -> None:
        frame = {"type": "edit", "message_id": self.message["id"], "content": "edited"}
        self.send(self.alice_ws, frame)
        self.send(self.alice_ws, frame)
        (first,) = self.updates(self.bob_ws)
        self.assertEqual(self.updates(self.alice_ws), [first, first])
        self.assertEqual(self.updates(self.alice_too), [first])

    def test_a_repeat_of_a_never_changed_message_is_a_message_updated_frame(self) -> None:
        """Its current content again: the sender gets ``message_updated`` (event id = its id)."""
        self.send(
            self.alice_ws,
            {"type": "edit", "message_id": self.message["id"], "content": "original"},
        )
        self.send(
            self.bob_ws,
            {"type": "react", "message_id": self.message["id"], "emoji": "x", "remove": True},
        )
        for client in (self.alice_ws, self.bob_ws):
            (update,) = self.updates(client)
            self.assertEqual(
                (update["event_id"], update["message"]), (self.message["id"], self.message)
            )
            self.assertEqual(client.of_type("message"), [self.message])
        self.assertEqual(self.updates(self.alice_too), [])

    def test_reactions_and_delete(self) -> None:
        target = self.message["id"]
        self.send(self.bob_ws, {"type": "react", "message_id": target, "emoji": THUMBS})
        self.send(self.alice_ws, {"type": "react", "message_id": target, "emoji": THUMBS})
        self.send(
            self.bob_ws, {"type": "react", "message_id": target, "emoji": THUMBS, "remove": True}
        )
        reactions = [u["message"]["reactions"] for u in self.updates(self.alice_too)]
        self.assertEqual(
            reactions,
            [
                [{"emoji": THUMBS, "count": 1, "user_ids": [self.bob_id]}],
                [{"emoji": THUMBS, "count": 2, "user_ids": [self.bob_id, self.alice_id]}],
                [{"emoji": THUMBS, "count": 1, "user_ids": [self.alice_id]}],
            ],
        )
        self.send(self.alice_ws, {"type": "delete", "message_id": target})
        last = self.updates(self.bob_ws)[-1]["message"]
        self.assertEqual((last["deleted"], last["content"], last["reactions"]), (True, "", []))
        event_ids = [u["event_id"] for u in self.updates(self.bob_ws)]
        self.assertEqual(event_ids, sorted(set(event_ids)))

    def test_refusals_are_error_frames_and_the_socket_stays_open(self) -> None:
        target = self.message["id"]
        cases = [
            (self.bob_ws, {"type": "edit", "message_id": target, "content": "x"}, "forbidden"),
            (self.bob_ws, {"type": "delete", "message_id": target}, "forbidden"),
            (self.bob_ws, {"type": "edit", "message_id": 424242, "content": "x"}, "not_found"),
            (self.bob_ws, {"type": "react", "message_id": 424242, "emoji": "x"}, "not_found"),
            (
                self.bob_ws,
                {"type": "react", "message_id": target, "emoji": "a b"},
                "invalid_request",
            ),
            (
                self.bob_ws,
                {"type": "edit", "message_id": target, "content": " "},
                "invalid_request",
            ),
        ]
        for n, (client, frame, code) in enumerate(cases):
            self.send(client, {**frame, "client_msg_id": f"c{n}"})
            error = self.errors(client)[-1]
            self.assertEqual((error["code"], error["client_msg_id"]), (code, f"c{n}"), frame)
            self.assertTrue(client.ws_open)
        self.assertEqual(self.updates(self.alice_ws), [])
        self.send(self.bob_ws, {"content": "still here"})
        self.assertEqual(self.alice_ws.of_type("message")[-1]["content"], "still here")

    def test_a_message_of_another_room_is_not_found_here(self) -> None:
        other = self.world.rest.create_room(self.alice, "other")
        there = self.connect(self.alice, other)
        self.send(there, {"content": "elsewhere"})
        elsewhere = there.of_type("message")[-1]["id"]
        self.send(
            self.alice_ws,
            {"type": "edit", "message_id": elsewhere, "content": "x", "client_msg_id": "x"},
        )
        self.assertEqual(self.errors(self.alice_ws)[-1]["code"], "not_found")
        self.assertEqual(self.updates(there), [])

    def test_a_reply_over_the_socket(self) -> None:
        self.send(self.bob_ws, {"content": "answer", "reply_to": self.message["id"]})
        reply = self.alice_ws.of_type("message")[-1]
        self.assertEqual(reply["reply_to"], self.message["id"])
        self.assertEqual(reply["reply_preview"]["excerpt"], "original")
        self.send(self.bob_ws, {"content": "bad", "reply_to": 424242, "client_msg_id": "r"})
        self.assertEqual(self.errors(self.bob_ws)[-1]["code"], "invalid_request")
