"""After the hub lost other processes' events, each socket of the room catches up from the store.

No Redis: ``GappyHub`` is a hub whose link to "the other processes" the test
cuts and restores. While it is cut, the events it drops are those another
process would have published (lost, as over Redis pub/sub); the events it
keeps are this process's own (always delivered). ``HeldReadStore`` holds the
catch-up's store read, so live events arriving during the read, and commits
on either side of its snapshot, are checked deterministically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from chatservice import catchup as catchup_module
from chatservice.access_models import MemberUpdate, RoomUpdate
from chatservice.errors import StoreUnavailable
from chatservice.hub import IHub, IRoomListener, RoomEvent
from chatservice.models import TimelineEvent
from chatservice.timeline import MAX_REPLAY
from chatservice.tokens import Identity
from tests.realtime_support import RealtimeCase, ids, kinds
from tests.wsclient import RecordingClient, result_now


@implementer(IHub)
class GappyHub:
    """A hub whose events from "other processes" are lost while it is cut, then restored."""

    def __init__(self) -> None:
        self._listener: IRoomListener | None = None
        self.rooms: set[int] = set()
        self.cut_off = False
        self.lose: Callable[[RoomEvent], bool] = lambda event: True
        self.lost: list[RoomEvent] = []

    def set_listener(self, listener: IRoomListener) -> None:
        """Set the listener events are delivered to."""
        self._listener = listener

    def subscribe(self, room_id: int) -> Deferred[None]:
        """Subscribed at once."""
        self.rooms.add(room_id)
        return succeed(None)

    def unsubscribe(self, room_id: int) -> None:
        """Forget the room."""
        self.rooms.discard(room_id)

    def publish(self, event: RoomEvent) -> Deferred[None]:
        """Deliver, unless cut and ``lose`` says the event came from elsewhere."""
        if self.cut_off and self.lose(event):
            self.lost.append(event)
        elif self._listener is not None:
            self._listener.room_event(event)
        return succeed(None)

    def cut(self, lose: Callable[[RoomEvent], bool] = lambda event: True) -> None:
        """The link goes down: tell the listener, as RedisHub does on a lost connection."""
        self.cut_off = True
        self.lose = lose
        assert self._listener is not None
        self._listener.rooms_interrupted(sorted(self.rooms))

    def restore(self) -> None:
        """The link is back and the rooms subscribed again."""
        self.cut_off = False
        assert self._listener is not None
        self._listener.rooms_restored(sorted(self.rooms))


def timeline_ids(client: RecordingClient) -> list[int]:
    """Every timeline event id a client received (messages and changes), in arrival order."""
    found = []
    for frame in client.frames:
        if frame["type"] == "message":
            found.append(frame["id"])
        elif frame["type"] == "message_updated":
            found.append(frame["event_id"])
    return found


class CatchUpTests(RealtimeCase):
    """The server-side ``since``: in id order, once, then live; or ``recovered: false``."""

    changes: dict[str, Any] = {"message_burst": 100_000}

    def make_hub(self) -> GappyHub:
        self.hub = GappyHub()
        return self.hub

    def setUp(self) -> None:
        super().setUp()
        self.bob_identity = Identity(self.bob_id, "bob", expires_at=1e12)
        self.clients = [self.connect(self.alice), self.connect(self.bob)]

    def post(self, count: int, prefix: str) -> list[int]:
        """Store ``count`` messages from bob (published through the hub); return their ids."""
        messages, clock = self.world.service.messages, self.world.reactor
        posted = [
            result_now(messages.post(self.bob_identity, 1, f"{prefix}-{n}"), clock).message.id
            for n in range(count)
        ]
        self.world.chat.flush()
        return posted

    def restore_with_held_read(self, missed: int = 2) -> None:
        """One message seen, ``missed`` lost in a gap, then the restore: its read is held."""
        self.post(1, "before")
        self.hub.cut()
        self.post(missed, "missed")
        self.store.holding = True
        self.hub.restore()
        self.assertEqual(self.store.waiting, 1)

    def release_read(self) -> None:
        """Run the held read, deliver its result, and let everything settle."""
        self.store.read()
        self.store.deliver()
        self.store.holding = False
        self.world.chat.flush()

    def assert_told_to_page(self, last_seen: int) -> None:
        """Each socket got ``recovered: false`` at ``last_seen``, nothing missed, then live."""
        after = self.post(1, "live")
        expected = {"type": "recovery", "room_id": 1, "recovered": False, "last_id": last_seen}
        for client in self.clients:
            self.assertEqual(client.of_type("recovery"), [expected])
            self.assertEqual(ids(client), [last_seen, *after])

    def assert_caught_up(self) -> None:
        """Every socket holds every stored message exactly once, in id order."""
        for client in self.clients:
            self.assertEqual(ids(client), self.stored_ids())
            self.assertEqual(client.of_type("recovery"), [])

    def test_missed_events_arrive_in_order_once_after_the_restore(self) -> None:
        """Lost messages, an edit, and live events around the held read: all once, in order."""
        self.post(3, "before")
        self.hub.cut()
        missed = self.post(4, "missed")
        changes = self.world.service.changes
        editing = changes.edit(self.bob_identity, missed[0], "missed-0, edited", 1)
        result_now(Deferred.fromCoroutine(editing))
        self.world.chat.flush()
        self.assertEqual(len(self.hub.lost), 5)
        self.store.holding = True
        self.hub.restore()
        self.assertEqual(self.store.waiting, 1)
        self.post(2, "before-read")  # in the snapshot and held: sent once
        self.store.read()
        self.post(2, "after-read")  # only held
        for client in self.clients:
            self.assertEqual(len(ids(client)), 3, "a live event overtook the catch-up")
        self.release_read()
        self.post(1, "live")
        self.assert_caught_up()
        for client in self.clients:
            received = timeline_ids(client)
            self.assertEqual(received, sorted(set(received)))
            self.assertEqual(
                client.of_type("message_updated")[0]["message"]["content"], "missed-0, edited"
            )

    def test_events_delivered_during_the_gap_are_not_sent_again(self) -> None:
        """This process's own events still arrive during the gap; the catch-up skips them."""
        self.post(2, "before")
        kept: list[int] = []

        def every_other(event: RoomEvent) -> bool:
            kept.append(0)
            return len(kept) % 2 == 1

        self.hub.cut(every_other)
        self.post(6, "gap")
        self.assertEqual(len(self.hub.lost), 3)
        self.hub.restore()
        self.world.chat.flush()
        for client in self.clients:
            received = ids(client)
            self.assertEqual(len(received), len(set(received)), "a message arrived twice")
            self.assertEqual(sorted(received), self.stored_ids())

    def test_a_resumed_socket_gives_the_room_a_cursor(self) -> None:
        """No live traffic before the loss, but a resume replayed up to an id: caught up."""
        self.post(1, "before")
        for client in self.clients:
            self.close(client)
        catchup = self.world.service.sockets._catchup
        catchup.forget(1)  # as when the room's last socket left
        self.clients = [self.connect(self.alice, since=0)]
        self.hub.cut()
        self.post(2, "missed")
        self.hub.restore()
        self.world.chat.flush()
        (client,) = self.clients
        self.assertEqual(ids(client), self.stored_ids())
        # Only the resume's own recovery frame: the catch-up had a cursor.
        self.assertEqual([f["recovered"] for f in client.of_type("recovery")], [True])

    def test_a_long_gap_of_a_busy_room_is_bounded(self) -> None:
        """Past MAX_SEEN of this process's own ids during one gap: page instead (bounded)."""
        self.post(1, "before")
        last_seen = self.stored_ids()[-1]
        self.hub.cut(lambda event: False)  # this process's own events still arrive
        self.patch(catchup_module, "MAX_SEEN", 5)
        self.post(8, "own")
        gap = self.world.service.sockets._catchup._gaps[1]
        self.assertLessEqual(len(gap.seen), 5)
        self.hub.restore()
        self.world.chat.flush()
        expected = {"type": "recovery", "room_id": 1, "recovered": False, "last_id": last_seen}
        for client in self.clients:
            self.assertEqual(client.of_type("recovery"), [expected])

    def test_presence_and_typing_are_held_during_the_read_too(self) -> None:
        """Events without an id that arrive during the read come after the catch-up."""
        carol, _ = self.world.rest.register("carol")
        self.world.rest.call("POST", "/api/rooms/1/join", token=carol)  # no join event below
        self.restore_with_held_read()
        self.clients.append(self.connect(carol))
        self.release_read()
        alice = self.clients[0]
        frames = kinds(alice)
        self.assertEqual(frames[-3:], ["message", "message", "presence"])
        self.assertEqual(ids(alice), self.stored_ids())

    def test_more_than_the_replay_cap_missed_sends_recovered_false(self) -> None:
        """Past 500 missed events, each socket is told to page from where the gap began."""
        last_seen = self.post(1, "before")[-1]
        self.hub.cut()
        self.post(MAX_REPLAY + 1, "missed")
        self.hub.restore()
        self.world.chat.flush()
        self.assert_told_to_page(last_seen)

    def test_too_many_live_events_during_the_read_send_recovered_false(self) -> None:
        """Past the held-bytes bound (``WS_MAX_BUFFER``), the sockets page from the gap's start."""
        self.restore_with_held_read()
        last_seen = self.stored_ids()[0]
        limit = self.world.service.config.ws_max_buffer
        messages, clock = self.world.service.messages, self.world.reactor
        for n in range(limit // 1000 + 1):
            result_now(messages.post(self.bob_identity, 1, f"{n}-" + "x" * 1000), clock)
        self.release_read()
        self.assert_told_to_page(last_seen)

    def test_a_failed_read_sends_recovered_false(self) -> None:
        """A store that cannot be read: the sockets page instead, and live events go on."""
        last_seen = self.post(1, "before")[-1]
        self.hub.cut()
        self.post(2, "missed")

        def broken(room_id: int, after: int, limit: int) -> Deferred[Sequence[TimelineEvent]]:
            return fail(StoreUnavailable("down"))

        self.patch(self.store, "get_events", broken)
        self.hub.restore()
        self.world.chat.flush()
        self.assertEqual(len(self.flushLoggedErrors(StoreUnavailable)), 1)
        self.assert_told_to_page(last_seen)

    def test_the_room_left_during_the_read_is_dropped(self) -> None:
        """Every socket left while the store was read: the result goes nowhere, without error."""
        self.restore_with_held_read()
        for client in self.clients:
            self.close(client)
        self.release_read()
        self.assertEqual([len(ids(client)) for client in self.clients], [1, 1])

    def test_a_second_loss_during_the_read_waits_for_the_next_restore(self) -> None:
        """Lost again while reading: what was read is sent, the rest after the next restore."""
        self.restore_with_held_read()
        self.hub.cut()
        self.post(2, "second-gap")
        self.release_read()
        self.hub.restore()
        self.world.chat.flush()
        self.post(1, "live")
        self.assert_caught_up()


class AccessRecheckTests(RealtimeCase):
    """Kicks, mutes and archives decided elsewhere during a gap apply once it is over."""

    def make_hub(self) -> GappyHub:
        self.hub = GappyHub()
        return self.hub

    def setUp(self) -> None:
        super().setUp()
        self.clients = [self.connect(self.alice), self.connect(self.bob)]

    def elsewhere(self, room_id: int, user_id: int, **fields: Any) -> None:
        """A change another process made: stored, its control event lost in the gap."""
        update = MemberUpdate("decided elsewhere", None, 1, **fields)
        result_now(self.store.change_member(room_id, user_id, update))

    def test_a_kick_lost_in_a_gap_closes_the_socket_when_it_ends(self) -> None:
        """Alice kicked while cut off: her socket closes with 4003 on restore; bob's stays."""
        alice, bob = self.clients
        self.hub.cut()
        self.elsewhere(1, self.alice_id, state="left")
        self.world.chat.flush()
        self.assertTrue(alice.ws_open)
        self.hub.restore()
        self.world.chat.flush()
        self.assertEqual(
            (alice.close_code, alice.remoteCloseReason), (4003, "removed from the room")
        )
        self.assertTrue(bob.ws_open)

    def test_a_mute_and_an_archive_lost_in_a_gap_apply_when_it_ends(self) -> None:
        """Muted bob, then an archived room: each refused with forbidden after the restore."""
        alice, bob = self.clients
        self.hub.cut()
        self.elsewhere(1, self.bob_id, muted=True)
        self.hub.restore()
        self.world.chat.flush()
        self.send(bob, {"content": "muted?", "client_msg_id": "b1"})
        self.assertEqual([f["code"] for f in bob.of_type("error")], ["forbidden"])
        self.hub.cut()
        result_now(self.store.update_room(1, RoomUpdate(actor_id=None, ts=1, archived=True)))
        self.hub.restore()
        self.world.chat.flush()
        self.send(alice, {"content": "archived?"})
        self.assertEqual([f["code"] for f in alice.of_type("error")], ["forbidden"])
