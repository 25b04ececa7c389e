"""ResumeState, the sans-I/O core of a resume: what is held, dropped and sent, in order."""

from __future__ import annotations

import json
from typing import Any

from twisted.trial import unittest

from chatservice.errors import StoreUnavailable
from chatservice.hub import RoomEvent
from chatservice.messages import message_payload
from chatservice.models import CREATED, Message, TimelineEvent
from chatservice.resume import ResumeState
from chatservice.timeline import Replay, event_payload

ROOM = 7


def message(message_id: int, content: str = "hi") -> Message:
    """A stored message of room ROOM."""
    return Message(message_id, ROOM, 1, "alice", content, 1000 + message_id)


def created(message_id: int) -> TimelineEvent:
    """The event that created a message, as the store replays it."""
    return TimelineEvent(message_id, CREATED, message(message_id))


def live(message_id: int, content: str = "hi") -> RoomEvent:
    """The live event of that message, as the hub delivers it."""
    return RoomEvent(ROOM, message_payload(message(message_id, content)))


def presence() -> RoomEvent:
    """A presence event: never a duplicate of anything replayed."""
    body = {"type": "presence", "room_id": ROOM, "user_id": 2, "status": "online"}
    return RoomEvent(ROOM, json.dumps(body, separators=(",", ":")).encode())


def decoded(payloads: list[bytes]) -> list[dict[str, Any]]:
    """The payloads as JSON values."""
    return [json.loads(p) for p in payloads]


def summary(payloads: list[bytes]) -> list[Any]:
    """Each payload as its message id, or its type (with ``recovered`` for recovery frames)."""
    out: list[Any] = []
    for body in decoded(payloads):
        if body["type"] == "message":
            out.append(body["id"])
        elif body["type"] == "recovery":
            out.append(("recovery", body["recovered"], body["last_id"]))
        else:
            out.append(body["type"])
    return out


class ReplayedTests(unittest.TestCase):
    """What a finished replay sends, and in which order."""

    def test_replay_then_recovery_then_held_events_after_it(self) -> None:
        """Held messages the replay already sent are dropped; others keep their order."""
        state = ResumeState(ROOM, since=3, max_held_bytes=1 << 20)
        for event in (presence(), live(5), live(6), presence(), live(7)):
            state.hold(event)
        payloads = state.replayed(Replay([created(4), created(5), created(6)], recovered=True))
        self.assertEqual(
            summary(payloads), [4, 5, 6, ("recovery", True, 6), "presence", "presence", 7]
        )
        self.assertEqual(state.held_bytes, 0)

    def test_held_updates_the_replay_already_sent_are_dropped(self) -> None:
        """A held ``message_updated`` is a duplicate when its event id was replayed."""
        state = ResumeState(ROOM, since=3, max_held_bytes=1 << 20)
        edited = TimelineEvent(5, "edit", message(4, "fixed"))
        later = TimelineEvent(7, "edit", message(4, "again"))
        for event in (edited, later):
            state.hold(RoomEvent(ROOM, event_payload(event)))
        payloads = state.replayed(Replay([created(4), edited], recovered=True))
        bodies = decoded(payloads)
        self.assertEqual(
            [b["type"] for b in bodies],
            ["message", "message_updated", "recovery", "message_updated"],
        )
        self.assertEqual((bodies[2]["last_id"], bodies[3]["event_id"]), (5, 7))

    def test_nothing_missed_recovers_at_since(self) -> None:
        state = ResumeState(ROOM, since=9, max_held_bytes=1 << 20)
        self.assertEqual(summary(state.replayed(Replay([], True))), [("recovery", True, 9)])

    def test_too_many_to_replay_keeps_every_held_event(self) -> None:
        """Nothing was replayed, so nothing held is a duplicate: all of it follows."""
        state = ResumeState(ROOM, since=0, max_held_bytes=1 << 20)
        state.hold(live(600))
        payloads = state.replayed(Replay([], recovered=False))
        self.assertEqual(summary(payloads), [("recovery", False, 0), 600])

    def test_store_failure_is_an_error_then_recovered_false_then_held(self) -> None:
        state = ResumeState(ROOM, since=4, max_held_bytes=1 << 20)
        state.hold(live(5))
        payloads = state.failed(StoreUnavailable())
        first = decoded(payloads)[0]
        self.assertEqual((first["type"], first["code"]), ("error", "store_unavailable"))
        self.assertEqual(summary(payloads)[1:], [("recovery", False, 4), 5])


class HeldBoundTests(unittest.TestCase):
    """Held events are bounded in bytes; past the bound the client is told to page."""

    def test_ten_thousand_live_events_hold_at_most_the_bound(self) -> None:
        """A resume into a busy room while the store is slow: 10,000 events of ~1 KB."""
        bound = 256 * 1024
        state = ResumeState(ROOM, since=0, max_held_bytes=bound)
        peak = 0
        for n in range(1, 10_001):
            state.hold(live(n, "x" * 1000))
            peak = max(peak, state.held_bytes)
        self.assertLessEqual(peak, bound + 1200)
        self.assertTrue(state.overflowed)
        self.assertEqual(state.held_bytes, 0)

    def test_overflow_ends_with_recovered_false_at_the_last_replayed_id(self) -> None:
        """Events were dropped, so the replay cannot claim a full recovery: page after 2."""
        state = ResumeState(ROOM, since=0, max_held_bytes=300)
        for n in range(3, 10):
            state.hold(live(n, "x" * 100))
        payloads = state.replayed(Replay([created(1), created(2)], recovered=True))
        self.assertEqual(summary(payloads), [1, 2, ("recovery", False, 2)])

    def test_under_the_bound_nothing_is_dropped(self) -> None:
        state = ResumeState(ROOM, since=0, max_held_bytes=10_000)
        for n in range(1, 6):
            state.hold(live(n))
        self.assertFalse(state.overflowed)
        self.assertEqual(summary(state.replayed(Replay([], True)))[1:], [1, 2, 3, 4, 5])
