"""A client that missed new messages, edits, deletes and reactions ends in the server's state.

The client applies what it receives the way docs/protocol.md tells it to: a
``message`` frame is a message, a ``message_updated`` frame replaces the
message it carries. Some changes happen while the resume's store read is
held (before and after the read itself), as in the realtime resume tests,
and some after the resume. ``GET /api/events`` paged from the same cursor
must give the same result.
"""

from __future__ import annotations

from typing import Any

from tests.realtime_support import RealtimeCase, kinds
from tests.wsclient import RecordingClient

THUMBS = "\U0001f44d"


def event_id(frame: dict[str, Any]) -> int | None:
    """The timeline event id of a frame (None for presence, typing, recovery)."""
    if frame["type"] == "message":
        return int(frame["id"])
    if frame["type"] == "message_updated":
        return int(frame["event_id"])
    return None


def apply(state: dict[int, dict[str, Any]], frames: list[dict[str, Any]]) -> int:
    """Apply timeline frames as a client does; return the largest event id seen (the cursor)."""
    cursor = 0
    for frame in frames:
        if frame["type"] == "message":
            state[frame["id"]] = frame
        elif frame["type"] == "message_updated":
            state[frame["message"]["id"]] = frame["message"]
        else:
            continue
        cursor = max(cursor, event_id(frame) or 0)
    return cursor


class TimelineResumeTests(RealtimeCase):
    """since= replays every kind of change, once, in order."""

    changes: dict[str, Any] = {"message_burst": 100_000}

    def ids_of(self, client: RecordingClient) -> list[int]:
        return [m["id"] for m in client.of_type("message")]

    def act(self, client: RecordingClient, kind: str, target: int, **fields: Any) -> None:
        self.send(client, {"type": kind, "message_id": target, **fields})

    def server_state(self) -> dict[int, dict[str, Any]]:
        return {m["id"]: m for m in self.world.rest.history(self.bob, 1)}

    def test_missed_mix_during_and_around_the_replay_read(self) -> None:
        alice = self.connect(self.alice)
        bob = self.connect(self.bob)
        self.say(bob, 6, "old")
        old = self.ids_of(bob)
        state: dict[int, dict[str, Any]] = {}
        cursor = apply(state, alice.frames)
        had_before_leaving = dict(state)
        self.close(alice)

        # Missed while away: edits of old messages, a delete, reactions, new messages.
        self.act(bob, "edit", old[0], content="old-0, edited")
        self.act(bob, "react", old[1], emoji=THUMBS)
        self.act(bob, "delete", old[2])
        self.say(bob, 3, "new")

        self.store.holding = True
        alice = self.connect(self.alice, since=cursor)
        self.assertEqual(self.store.waiting, 1)
        # Committed before the read: in the snapshot and held as live events.
        self.act(bob, "edit", old[3], content="old-3, edited")
        self.act(bob, "react", old[0], emoji=":ok:")
        self.say(bob, 2, "before-read")
        self.store.read()
        # Committed after the read: only held.
        self.act(bob, "delete", old[4])
        self.act(bob, "react", old[1], emoji=THUMBS, remove=True)
        self.act(bob, "edit", old[3], content="old-3, edited twice")
        self.say(bob, 2, "after-read")
        self.assertEqual(alice.of_type("message"), [])
        self.assertEqual(alice.of_type("message_updated"), [])
        self.store.deliver()
        self.world.chat.flush()
        self.store.holding = False
        # Live, after the resume.
        self.act(bob, "edit", old[5], content="old-5, edited live")
        self.say(bob, 1, "live")

        self.assertEqual(kinds(alice).count("recovery"), 1)
        recovery = alice.of_type("recovery")[0]
        self.assertTrue(recovery["recovered"])
        received = [event_id(f) for f in alice.frames if event_id(f) is not None]
        self.assertEqual(len(received), len(set(received)), "an event arrived twice")
        self.assertEqual(received, sorted(received))
        apply(state, alice.frames)
        self.assertEqual(state, self.server_state())

        # The same catch-up over REST, page by page from the same cursor.
        rest_state = dict(had_before_leaving)
        after = cursor
        paged: list[int] = []
        while True:
            status, page = self.world.rest.call(
                "GET", f"/api/events?roomId=1&after={after}&limit=4", self.alice
            )
            self.assertEqual(status, 200, page)
            apply(rest_state, page)
            paged.extend(event_id(frame) or 0 for frame in page)
            if len(page) < 4:
                break
            after = event_id(page[-1]) or 0
        self.assertEqual(paged, received)
        self.assertEqual(rest_state, self.server_state())
