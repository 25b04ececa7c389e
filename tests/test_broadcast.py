"""A committed batch is published in one call and written to each socket in one piece."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from chatservice import broadcast
from chatservice.broadcast import PIECE_BYTES, _pieces
from chatservice.hub import IBatchHub, IHub, IRoomListener, RoomEvent
from chatservice.messages import Messages
from chatservice.store.batching import GroupCommitStore
from chatservice.tokens import Identity
from tests.test_store_batching import HandFiredStore
from tests.wsclient import memory_world


class PiecesTests(SynchronousTestCase):
    """``_pieces`` keeps every byte in order and bounds each piece."""

    def test_one_frame_is_left_alone(self) -> None:
        """A single frame is its own piece (no copy)."""
        frame = b"x" * 10
        self.assertIs(_pieces([frame])[0], frame)

    def test_pieces_keep_order_and_stay_under_the_bound(self) -> None:
        """Frames are joined in order; no piece passes the bound unless one frame does."""
        frames = [bytes([n % 251]) * 3000 for n in range(60)] + [b"big" * PIECE_BYTES, b"end"]
        pieces = _pieces(frames)
        self.assertEqual(b"".join(pieces), b"".join(frames))
        self.assertGreater(len(pieces), 2)
        for piece in pieces:
            self.assertTrue(len(piece) <= PIECE_BYTES or piece == b"big" * PIECE_BYTES)


@implementer(IHub, IBatchHub)
class RecordingHub:
    """A hub that records what was published, and how."""

    def __init__(self) -> None:
        self.calls: list[list[RoomEvent]] = []

    def set_listener(self, listener: IRoomListener) -> None:
        """Not needed."""

    def subscribe(self, room_id: int) -> Deferred[None]:
        return succeed(None)

    def unsubscribe(self, room_id: int) -> None:
        """Not needed."""

    def publish(self, event: RoomEvent) -> Deferred[None]:
        self.calls.append([event])
        return succeed(None)

    def publish_all(self, events: Sequence[RoomEvent]) -> Deferred[None]:
        self.calls.append(list(events))
        return succeed(None)


class BatchPublishTests(SynchronousTestCase):
    """Messages publishes each committed batch in one hub call, before the posters hear back."""

    def test_a_batch_is_published_once_after_its_commit(self) -> None:
        """Posts that shared a commit reach the hub together, after it, in order."""
        store = HandFiredStore()
        hub = RecordingHub()
        messages = Messages(store, hub, Clock(), committer=GroupCommitStore(store))
        alice = Identity(1, "alice", 10.0**12)
        first = messages.post(alice, 1, "one")
        rest = [messages.post(alice, 1, text) for text in ("two", "three")]
        self.assertEqual(hub.calls, [])  # nothing before the commit
        heard: list[list[int]] = []

        def note(result: object) -> object:
            heard.append([len(call) for call in hub.calls])
            return result

        rest[0].addCallback(note)
        store.commit(0)
        self.successResultOf(first)
        self.assertEqual([[e.event_id for e in call] for call in hub.calls], [[100]])
        store.commit(1)
        self.assertEqual([[e.event_id for e in call] for call in hub.calls], [[100], [200, 201]])
        # The batch was published before its first poster heard back.
        self.assertEqual(heard, [[1, 2]])
        self.assertEqual([self.successResultOf(d).message.id for d in rest], [200, 201])


class RoomEventsTests(TestCase):
    """``room_events``: every socket gets what one event at a time gives, in fewer writes."""

    def test_each_socket_gets_its_rooms_frames_in_order_in_one_write(self) -> None:
        """Two rooms' events in one batch: each socket gets its room's, in order, in one write."""
        world = memory_world(self)
        alice, _ = world.rest.register("alice")
        bob, _ = world.rest.register("bob")
        other = world.rest.create_room(alice, "other")
        in_general = [world.chat.open(alice), world.chat.open(bob)]
        in_other = world.chat.open(bob, other)
        world.chat.flush()
        writes: list[tuple[int, bytes]] = []
        for protocol in world.service.sockets.open_sockets():
            outbox = protocol.outbox
            assert outbox is not None

            def spy(
                frame: bytes, write: Any = outbox.write, room: int = protocol.session.room_id
            ) -> None:
                writes.append((room, frame))
                write(frame)

            self.patch(outbox, "write", spy)
        events = [
            RoomEvent(1, b'{"type":"probe","n":1}', event_id=10**9),
            RoomEvent(other, b'{"type":"probe","n":2}', event_id=10**9 + 1),
            RoomEvent(1, b'{"type":"probe","n":3}', event_id=10**9 + 2),
        ]
        world.service.sockets.room_events(events)
        world.chat.flush()
        for client in in_general:
            self.assertEqual([f["n"] for f in client.of_type("probe")], [1, 3])
        self.assertEqual([f["n"] for f in in_other.of_type("probe")], [2])
        # One write per socket: three sockets, three writes.
        self.assertEqual(sorted(room for room, _ in writes), sorted([1, 1, other]))

    def test_a_resuming_socket_holds_each_event(self) -> None:
        """A socket still replaying holds the batch's events one by one, like single events."""
        held: list[RoomEvent] = []

        class Resuming:
            def hold(self, event: RoomEvent) -> None:
                held.append(event)

        class Socket:
            resuming = Resuming()

        events = [RoomEvent(1, b"{}", event_id=1), RoomEvent(1, b"{}", event_id=2)]
        broadcast.write_batch([Socket()], events, [b"a", b"b"])  # type: ignore[list-item]
        self.assertEqual(held, events)
