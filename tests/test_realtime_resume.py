"""Resuming a WebSocket with ``since=``: replay, one ``recovery`` frame, then live traffic."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail

from chatservice.errors import StoreUnavailable
from chatservice.fanout import SUBSCRIBE_WAIT
from chatservice.hub import RoomEvent
from chatservice.outbox import STALL_SECONDS
from chatservice.timeline import MAX_REPLAY, Replay
from chatservice.tokens import Identity
from tests.realtime_support import (
    TRANSPORT_BUFFER,
    RealtimeCase,
    SlowSubscribeHub,
    TransportRecorder,
    ids,
    kinds,
)
from tests.wsclient import RecordingClient, no_pumping, result_now

# Nothing here is about rate limits: lift them.
UNLIMITED: dict[str, Any] = {"message_burst": 100_000}


class ResumeTests(RealtimeCase):
    """since=<id> replays what was missed, oldest first, then one recovery frame."""

    changes = UNLIMITED

    def replay_part(self, client: RecordingClient) -> list[dict[str, Any]]:
        """The frames before and including the (first) recovery frame."""
        end = kinds(client).index("recovery")
        return client.frames[: end + 1]

    def resume_to_nothing(self, since: int, recovered: bool) -> RecordingClient:
        """Connect alice with ``since``; check that she gets only a recovery frame saying it."""
        alice = self.connect(self.alice, since=since)
        self.assertEqual(
            self.replay_part(alice),
            [{"type": "recovery", "room_id": 1, "recovered": recovered, "last_id": since}],
        )
        return alice

    def test_missed_messages_come_oldest_first_then_recovery_then_live(self) -> None:
        """The replay is every missed message in id order, then one recovery, then live ones."""
        bob, last_seen = self.missed(4)
        missed = [m.id for m in self.stored() if m.id > last_seen]
        alice = self.connect(self.alice, since=last_seen)
        self.say(bob, 1, "live")
        self.assertEqual(kinds(alice)[:5], ["message"] * 4 + ["recovery"])
        self.assertEqual(ids(alice)[:4], missed)
        self.assertEqual(
            alice.frames[4],
            {"type": "recovery", "room_id": 1, "recovered": True, "last_id": missed[-1]},
        )
        self.assertEqual(kinds(alice).count("recovery"), 1)
        self.assertEqual(ids(alice), [*missed, self.stored_ids()[-1]])
        self.assertEqual(alice.of_type("message")[-1]["content"], "live-0")

    def test_replayed_message_is_the_stored_object(self) -> None:
        """A replayed message is the same JSON object as history and live delivery."""
        bob, last_seen = self.missed(1)
        alice = self.connect(self.alice, since=last_seen)
        (history_last,) = [
            m for m in self.world.rest.history(self.alice, 1) if m["id"] > last_seen
        ]
        self.assertEqual(alice.frames[0], history_last)
        self.assertEqual(alice.frames[0], bob.of_type("message")[-1])

    def test_without_since_there_is_no_replay_and_no_recovery_frame(self) -> None:
        """A socket opened without since gets only live traffic."""
        bob, _ = self.missed(2)
        alice = self.connect(self.alice)
        self.say(bob, 1, "live")
        self.assertNotIn("recovery", kinds(alice))
        self.assertEqual([f["content"] for f in alice.of_type("message")], ["live-0"])

    def test_exactly_500_missed_are_all_replayed(self) -> None:
        """With MAX_REPLAY (500) missed, all are replayed and recovered is true."""
        self.assertEqual(MAX_REPLAY, 500)
        _, last_seen = self.missed(500)
        alice = self.connect(self.alice, since=last_seen)
        replay = self.replay_part(alice)
        self.assertEqual([f["id"] for f in replay[:-1]], self.stored_ids()[3:])
        self.assertEqual(replay[-1]["recovered"], True)
        self.assertEqual(replay[-1]["last_id"], self.stored_ids()[-1])

    def test_more_than_500_missed_replays_nothing_and_says_not_recovered(self) -> None:
        """With 501 missed, nothing is replayed; recovered is false and last_id is since."""
        bob, last_seen = self.missed(501)
        alice = self.resume_to_nothing(last_seen, recovered=False)
        self.say(bob, 1, "live")
        self.assertEqual(ids(alice), [self.stored_ids()[-1]])

    def test_since_beyond_the_newest_replays_nothing_and_keeps_since(self) -> None:
        """A since past the newest id gives an empty replay and last_id = since."""
        self.missed(2)
        since = self.stored_ids()[-1] + 1000
        self.resume_to_nothing(since, recovered=True)

    def test_since_at_the_newest_replays_nothing(self) -> None:
        """A client that missed nothing gets just the recovery frame with its own since."""
        _, last_seen = self.missed(0)
        self.resume_to_nothing(last_seen, recovered=True)

    def test_since_zero_replays_the_whole_short_history(self) -> None:
        """since=0 replays a room's whole timeline when it is short enough (joins included)."""
        self.missed(2)
        alice = self.connect(self.alice, since=0)
        replayed = self.replay_part(alice)[:-1]
        self.assertEqual([f["id"] for f in replayed], self.timeline_ids())
        self.assertEqual([f["type"] for f in replayed[:2]], ["member_event"] * 2)

    def test_replay_holds_only_this_rooms_messages(self) -> None:
        """Messages of another room are not replayed."""
        other = self.world.rest.create_room(self.bob, "Other")
        bob_elsewhere = self.connect(self.bob, other)
        bob, last_seen = self.missed(2)
        self.say(bob_elsewhere, 3, "elsewhere")
        alice = self.connect(self.alice, since=last_seen)
        replay = self.replay_part(alice)
        self.assertEqual([f["content"] for f in replay[:-1]], ["missed-0", "missed-1"])
        self.assertEqual(replay[-1]["last_id"], replay[-2]["id"])

    def test_bad_since_is_a_400(self) -> None:
        """A since that is not a non-negative integer refuses the handshake with a JSON 400."""
        for bad in ("abc", "-1", "1.5", ""):
            with self.subTest(since=bad):
                answer = self.world.chat.refusal(
                    f"/ws?roomId=1&since={bad}", {"Authorization": f"Bearer {self.alice}"}
                )
                self.assertEqual((answer.status, answer.json()["code"]), (400, "invalid_request"))

    def test_own_presence_comes_after_the_recovery_frame(self) -> None:
        """A resuming socket's first frames are its replay: its own presence is live traffic."""
        _, last_seen = self.missed(2)
        alice = self.connect(self.alice, since=last_seen)
        self.assertEqual(kinds(alice), ["message", "message", "recovery", "presence"])


class ResumeUnderLoadTests(RealtimeCase):
    """Messages that arrive while a replay is being read are neither lost nor doubled."""

    changes = UNLIMITED

    def test_resume_during_traffic_ends_with_exactly_the_stored_sequence(self) -> None:
        """300 missed, then traffic before the read, between read and delivery, and after.

        The replay read is held and split in two: ``read()`` takes the
        snapshot (the query runs), ``deliver()`` hands it to the reactor.
        Messages posted after the subscription but before the read are both
        in the snapshot and held as live events; those posted after the read
        are only held; those after the release are plain live traffic.
        """
        alice = self.connect(self.alice)
        bob = self.connect(self.bob)
        self.say(bob, 20, "before")
        first_connection = ids(alice)
        self.close(alice)
        self.say(bob, 300, "missed")

        self.store.holding = True
        alice = self.connect(self.alice, since=first_connection[-1])
        self.assertEqual(self.store.waiting, 1)  # subscribed; the replay read is pending
        self.say(bob, 50, "before-read")
        snapshot = self.store.read()
        self.say(bob, 30, "after-read")
        self.assertEqual(alice.of_type("message"), [])  # all held until the replay is sent
        self.store.deliver()
        self.world.chat.flush()
        self.store.holding = False
        self.say(bob, 20, "after-release")

        recovery = kinds(alice).index("recovery")
        replayed = [f["id"] for f in alice.frames[:recovery]]
        self.assertEqual(replayed, [m.id for m in snapshot])
        self.assertEqual(len(replayed), 350)
        self.assertEqual(alice.frames[recovery]["last_id"], snapshot[-1].id)
        self.assertTrue(alice.frames[recovery]["recovered"])
        received = first_connection + ids(alice)
        self.assertEqual(received, self.stored_ids())
        self.assertEqual(len(received), 20 + 300 + 50 + 30 + 20)
        self.assertTrue(all(a < b for a, b in zip(received, received[1:], strict=False)))

    def test_events_held_during_a_slow_replay_are_bounded_and_then_paged(self) -> None:
        """10,000 live events while the store is slow: held bytes stay under WS_MAX_BUFFER.

        Past the bound the held events are dropped, so the recovery frame says
        ``recovered: false`` at the last replayed id, and paging with
        ``after=`` from there returns every message the socket did not get.
        """
        bob, last_seen = self.missed(5, seen=5)
        transports = TransportRecorder()
        self.store.holding = True
        alice = self.connect(self.alice, since=last_seen, server_transport=transports)
        resuming = transports.last.chat_protocol.resuming
        assert resuming is not None
        bound = self.world.service.config.ws_max_buffer
        peak = 0
        room = self.world.service.sockets
        for n in range(10_000):
            room.room_event(RoomEvent(1, b'{"type":"typing","room_id":1,"n":%d}' % n + b" " * 900))
            peak = max(peak, resuming.held_bytes)
        self.assertLessEqual(peak, bound + 1000)
        snapshot = self.store.read()
        self.store.deliver()
        self.world.chat.flush()
        self.store.holding = False
        recovery = alice.frames[kinds(alice).index("recovery")]
        self.assertEqual(recovery["recovered"], False)
        self.assertEqual(recovery["last_id"], snapshot[-1].id)
        self.assertEqual(ids(alice), [m.id for m in snapshot])

    def test_presence_and_typing_during_a_replay_are_delivered_after_it(self) -> None:
        """Events that are not messages, held while replaying, are released, not dropped."""
        bob = self.connect(self.bob)
        self.say(bob, 2, "missed")
        carol, _ = self.world.rest.register("carol")
        self.world.rest.call("POST", "/api/rooms/1/join", token=carol)  # no join event below
        self.store.holding = True
        alice = self.connect(self.alice, since=self.base)
        self.connect(carol)
        self.send(bob, {"type": "typing"})
        self.store.read()
        self.store.deliver()
        self.world.chat.flush()
        others = [(f["type"], f.get("username")) for f in alice.frames]
        self.assertEqual(
            [event for event in others if event != ("presence", "alice")],
            [
                ("message", "bob"),
                ("message", "bob"),
                ("member_event", None),  # carol's join, after base: replayed
                ("recovery", None),
                ("presence", "carol"),
                ("typing", "bob"),
            ],
        )

    def test_too_many_missed_under_traffic_pages_back_without_gaps(self) -> None:
        """With 600 missed, live messages keep arriving and REST after=since fills the gap."""
        bob, since = self.missed(600, seen=5)

        self.store.holding = True
        alice = self.connect(self.alice, since=since)
        self.say(bob, 10, "before-read")
        self.store.read()
        self.say(bob, 10, "after-read")
        self.store.deliver()
        self.world.chat.flush()
        self.store.holding = False
        self.say(bob, 10, "after-release")

        recovery = alice.frames[kinds(alice).index("recovery")]
        self.assertEqual((recovery["recovered"], recovery["last_id"]), (False, since))
        live = ids(alice)
        paged: list[int] = []
        after = since
        while True:
            status, page = self.world.rest.call(
                "GET", f"/api/messages?roomId=1&after={after}&limit=500", self.alice
            )
            self.assertEqual(status, 200)
            if not page:
                break
            paged += [m["id"] for m in page]
            after = page[-1]["id"]
        self.assertEqual(live, self.stored_ids()[-30:])
        self.assertEqual(sorted(set(paged) | set(live)), self.stored_ids()[5:])


class SlowSubscriptionResumeTests(RealtimeCase):
    """With a hub whose subscriptions take time (Redis), the replay is read after subscribing."""

    def make_hub(self) -> SlowSubscribeHub:
        self.hub = SlowSubscribeHub()
        return self.hub

    def test_replay_is_read_only_once_the_room_is_subscribed(self) -> None:
        """A message committed while the subscription is pending arrives, through the replay.

        The hub drops events of rooms it is not subscribed to yet, so only
        the replay can carry that message: the read must not start before
        the subscription completes.
        """
        bob = Identity(self.bob_id, "bob", expires_at=1e12)
        messages = self.world.service.messages
        result_now(messages.post(bob, 1, "one"), self.world.reactor)
        result_now(messages.post(bob, 1, "two"), self.world.reactor)
        self.store.holding = True
        alice = self.connect(self.alice, since=0)
        self.assertIn(1, self.hub.pending)
        result_now(messages.post(bob, 1, "while subscribing"), self.world.reactor)
        self.assertIn(b"while subscribing", b"".join(e.payload for e in self.hub.lost))
        self.assertEqual(self.store.waiting, 0)  # not read yet

        self.hub.complete(1)
        self.assertEqual(self.store.waiting, 1)
        self.store.read()
        self.store.deliver()
        self.store.holding = False
        self.world.chat.flush()
        result_now(messages.post(bob, 1, "live"), self.world.reactor)
        self.world.chat.flush()
        self.assertEqual(
            [f["content"] for f in alice.of_type("message")],
            ["one", "two", "while subscribing", "live"],
        )
        self.assertEqual(ids(alice), self.stored_ids())
        self.assertEqual(kinds(alice).count("recovery"), 1)


class LargeReplayTests(RealtimeCase):
    """A replay larger than WS_MAX_BUFFER is not mistaken for a slow consumer."""

    changes = UNLIMITED

    def test_replay_of_500_long_messages_reaches_a_reading_client(self) -> None:
        """500 missed messages of 1000 three-byte characters (~1.6 MB) all arrive, then recovery.

        The replay is written in one reactor turn, faster than any peer can
        read, so most of it waits in the outbox; a client that reads must
        still get it all (the server's transport pauses the outbox here as
        a TCP transport would).
        """
        bob = self.connect(self.bob)
        for n in range(MAX_REPLAY):
            bob.send_json({"content": f"{n:04d}" + "\u4e2d" * 996})
        self.world.chat.flush()
        transports = TransportRecorder()
        alice = self.connect(self.alice, since=self.base, server_transport=transports)
        self.assertTrue(alice.ws_open)
        self.assertEqual(alice.close_code, None)
        self.assertEqual(kinds(alice)[: MAX_REPLAY + 1], ["message"] * MAX_REPLAY + ["recovery"])
        self.assertEqual(ids(alice), self.stored_ids())
        self.assertGreaterEqual(transports.last.pauses, 1)
        self.assertGreater(
            sum(len(data) for data in transports.last.written),
            self.world.service.config.ws_max_buffer + TRANSPORT_BUFFER,
        )

    def test_resuming_socket_that_does_not_read_is_still_cut_off(self) -> None:
        """A replay adds bounded room: a non-reader past WS_MAX_BUFFER + the replay is closed.

        Closed once it has made no progress for STALL_SECONDS (outbox.py's rule).
        """
        bob = self.connect(self.bob)
        for n in range(MAX_REPLAY):
            bob.send_json({"content": f"{n:04d}" + "\u4e2d" * 996})
        self.world.chat.flush()
        transports = TransportRecorder()
        self.store.holding = True
        alice = self.connect(self.alice, since=self.base, server_transport=transports)
        outbox = transports.last.chat_protocol.outbox
        assert outbox is not None and alice.pump is not None
        limit = self.world.service.config.ws_max_buffer
        peak = 0
        transport = transports.last
        with no_pumping(self.world.chat, alice.pump):
            written = sum(len(data) for data in transport.written)
            self.store.read()
            self.store.deliver()
            replay_queued = outbox.queued_bytes
            burst = replay_queued + sum(len(data) for data in transport.written) - written
            self.assertGreater(replay_queued, limit)  # most of the replay waits: no overflow
            self.assertFalse(outbox.overflowed)
            while not outbox.stalling:  # past the soft bound and the replay's room
                self.send(bob, {"content": "y" * 1000})
                peak = max(peak, outbox.queued_bytes)
            self.assertFalse(outbox.overflowed)
            self.world.chat.advance(STALL_SECONDS)  # and no progress since
            self.assertTrue(outbox.overflowed)
            self.world.chat.advance(2.5)  # closeHandshakeTimeout
        self.world.chat.flush()
        self.assertLessEqual(peak, limit + burst + 1100)
        self.assertGreater(peak, limit)
        self.assertEqual(alice.close_code, 1008)
        self.assertEqual(alice.remoteCloseReason, "slow consumer")


class StalledSubscriptionResumeTests(RealtimeCase):
    """A hub that cannot subscribe (Redis down) delays a resume by a bound, not forever."""

    def make_hub(self) -> SlowSubscribeHub:
        self.hub = SlowSubscribeHub()
        return self.hub

    def test_replay_goes_ahead_after_the_subscribe_wait(self) -> None:
        """With the subscription never confirmed, the replay and recovery frame still come.

        But the recovery is not claimed: what other processes published
        before the subscription took effect was never seen, so the frame says
        ``recovered: false`` at the last replayed id, and the client pages on.
        """
        bob = Identity(self.bob_id, "bob", expires_at=1e12)
        messages = self.world.service.messages
        missed = result_now(messages.post(bob, 1, "missed"), self.world.reactor).message
        alice = self.connect(self.alice, since=0)
        self.world.chat.flush()
        self.assertNotIn("recovery", kinds(alice))
        self.world.chat.advance(SUBSCRIBE_WAIT)
        self.world.chat.flush()
        self.assertEqual([f["content"] for f in alice.of_type("message")], ["missed"])
        recovery = alice.of_type("recovery")
        self.assertEqual(len(recovery), 1)
        self.assertFalse(recovery[0]["recovered"])
        self.assertEqual(recovery[0]["last_id"], missed.id)

    def test_a_failed_subscription_is_not_a_full_recovery(self) -> None:
        """A subscription the hub reports as failed: replayed, but ``recovered: false``."""
        bob = Identity(self.bob_id, "bob", expires_at=1e12)
        missed = result_now(
            self.world.service.messages.post(bob, 1, "missed"), self.world.reactor
        ).message
        alice = self.connect(self.alice, since=0)
        self.hub.pending[1].errback(ConnectionError("redis went away"))
        self.world.chat.flush()
        self.assertEqual(len(self.flushLoggedErrors(ConnectionError)), 1)
        self.assertEqual([f["content"] for f in alice.of_type("message")], ["missed"])
        (recovery,) = alice.of_type("recovery")
        self.assertEqual((recovery["recovered"], recovery["last_id"]), (False, missed.id))


class FailedReplayTests(RealtimeCase):
    """A replay the store cannot serve still ends with a recovery frame."""

    def test_store_error_gives_error_then_unrecovered_recovery(self) -> None:
        """An ``error`` frame, then ``recovered: false`` with ``last_id`` = since."""

        def broken(room_id: int, since: int) -> Deferred[Replay]:
            return fail(StoreUnavailable())

        self.world.service.timeline.replay = broken  # type: ignore[assignment,method-assign]
        alice = self.connect(self.alice, since=7)
        self.world.chat.flush()
        self.assertEqual(alice.of_type("error")[0]["code"], "store_unavailable")
        recovery = alice.of_type("recovery")
        self.assertEqual(
            recovery, [{"type": "recovery", "room_id": 1, "recovered": False, "last_id": 7}]
        )
