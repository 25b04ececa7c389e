"""Test doubles for the realtime tests: flow-controlled transports, held reads, a slow hub.

``iosim.FakeTransport`` accepts every write and never pauses a streaming
producer, so on its own it cannot show what happens when a peer stops
reading. ``FlowControlledTransport`` adds the flow control of a real TCP
transport (``twisted.internet.abstract.FileDescriptor``): past 64 KiB not yet
taken by the peer it pauses its producer once, and resumes it when the peer
has taken everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.test.iosim import FakeTransport
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from chatservice.hub import IHub, IRoomListener, RoomEvent
from chatservice.models import Message, TimelineEvent
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.websocket import ChatServerProtocol
from tests.fakes import FakeReactor, ImmediateThreadPool, config_for_tests
from tests.wsclient import (
    MemoryChat,
    MemoryWorld,
    RecordingClient,
    Rest,
    memory_world,
    result_now,
    use_txaio_clock,
)

# abstract.FileDescriptor.bufferSize: what a TCP transport buffers before it
# pauses its producer.
TRANSPORT_BUFFER = 64 * 1024


class FlowControlledTransport(FakeTransport):
    """A server-side in-memory transport that pauses its producer like a TCP transport does."""

    buffer_size = TRANSPORT_BUFFER

    def __init__(self, protocol: Any, isServer: bool) -> None:
        super().__init__(protocol, isServer)
        self.producer_paused = False
        self.buffered = 0  # bytes written and not yet taken by the pump
        self.peak_buffered = 0
        self.pauses = 0
        self.written: list[bytes] = []  # everything, in order, for checks on the byte stream

    def write(self, data: bytes) -> None:
        """Buffer ``data``; pause the streaming producer once past ``buffer_size``."""
        if self.disconnecting:
            return
        super().write(data)
        self.written.append(data)
        self.buffered += len(data)
        self.peak_buffered = max(self.peak_buffered, self.buffered)
        if (
            self.producer is not None
            and self.streamingProducer
            and not self.producer_paused
            and self.buffered > self.buffer_size
        ):
            self.producer_paused = True
            self.pauses += 1
            self.producer.pauseProducing()

    def getOutBuffer(self) -> Any:
        """Hand everything to the peer; a paused producer may then go on."""
        data = super().getOutBuffer()
        self.buffered = 0
        if data and self.producer is not None and self.producer_paused:
            self.producer_paused = False
            self.producer.resumeProducing()
        return data

    @property
    def chat_protocol(self) -> ChatServerProtocol:
        """The WebSocket protocol that took this transport over from the HTTP channel."""
        protocol = self.protocol
        assert isinstance(protocol, ChatServerProtocol), protocol
        return protocol


class TransportRecorder:
    """A ``server_transport`` factory for ``MemoryChat.connect`` that keeps what it built."""

    def __init__(self) -> None:
        self.built: list[FlowControlledTransport] = []

    def __call__(self, protocol: Any) -> FlowControlledTransport:
        transport = FlowControlledTransport(protocol, isServer=True)
        self.built.append(transport)
        return transport

    @property
    def last(self) -> FlowControlledTransport:
        """The transport of the most recent connection."""
        return self.built[-1]


class HeldReadStore(MemoryStore):
    """A MemoryStore whose event reads (the resume's replay) can be held and split in two steps.

    While ``holding``, ``get_events`` returns a Deferred and waits. ``read()``
    takes the snapshot, as the database would when the query runs;
    ``deliver()`` fires the Deferred with it, as when the result reaches the
    reactor. Events committed between the two are not in the result.
    """

    def __init__(self, clock: FakeReactor) -> None:
        super().__init__(clock)
        self.clock = clock
        self.holding = False
        self._waiting: list[tuple[Deferred[Sequence[TimelineEvent]], tuple[int, int, int]]] = []
        self._read: list[tuple[Deferred[Sequence[TimelineEvent]], Sequence[TimelineEvent]]] = []

    def get_events(
        self, room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[TimelineEvent]]:
        """Hold event reads while ``holding``; answer at once otherwise."""
        if not self.holding:
            return super().get_events(room_id, after, limit)
        waiting: Deferred[Sequence[TimelineEvent]] = Deferred()
        self._waiting.append((waiting, (room_id, after, limit)))
        return waiting

    @property
    def waiting(self) -> int:
        """How many held reads have not run yet."""
        return len(self._waiting)

    def read(self) -> Sequence[TimelineEvent]:
        """Run every held read now; their results wait for ``deliver``."""
        snapshot: Sequence[TimelineEvent] = ()
        for waiting, (room_id, after, limit) in self._waiting:
            snapshot = result_now(super().get_events(room_id, after, limit))
            self._read.append((waiting, snapshot))
        self._waiting.clear()
        return snapshot

    def deliver(self) -> None:
        """Fire the held reads with the snapshots ``read`` took."""
        read, self._read = self._read, []
        for waiting, snapshot in read:
            waiting.callback(snapshot)

    def history(self, room_id: int) -> list[Message]:
        """The room's whole history, oldest first, in its current state."""
        messages: Sequence[Message] = result_now(super().get_messages(room_id, 10**9))
        return list(messages)


@implementer(IHub)
class SlowSubscribeHub:
    """A hub like Redis pub/sub: a subscription takes time, and events before it are lost."""

    def __init__(self) -> None:
        self._listener: IRoomListener | None = None
        self.pending: dict[int, Deferred[None]] = {}
        self.subscribed: set[int] = set()
        self.lost: list[RoomEvent] = []

    def set_listener(self, listener: IRoomListener) -> None:
        """Set the listener events are delivered to."""
        self._listener = listener

    def subscribe(self, room_id: int) -> Deferred[None]:
        """Fire only when the test calls ``complete(room_id)``."""
        subscribing: Deferred[None] = Deferred()
        self.pending[room_id] = subscribing
        return subscribing

    def complete(self, room_id: int) -> None:
        """Finish the room's pending subscription."""
        self.subscribed.add(room_id)
        self.pending.pop(room_id).callback(None)

    def unsubscribe(self, room_id: int) -> None:
        """Stop delivering the room's events."""
        self.subscribed.discard(room_id)

    def publish(self, event: RoomEvent) -> Deferred[None]:
        """Deliver to the listener if subscribed to the room; otherwise the event is lost."""
        if event.room_id in self.subscribed and self._listener is not None:
            self._listener.room_event(event)
        else:
            self.lost.append(event)
        return succeed(None)


class RealtimeCase(TestCase):
    """A started in-memory service on a ``HeldReadStore``, users alice and bob, and helpers."""

    changes: dict[str, Any] = {}

    def setUp(self) -> None:
        self.store = HeldReadStore(FakeReactor())
        self.world = self.make_world(self.make_hub())
        # connect(token, room_id=1, since=None): a bearer socket; fails unless it opens.
        self.connect = self.world.chat.open
        self.alice, self.alice_id = self.world.rest.register("alice")
        self.bob, self.bob_id = self.world.rest.register("bob")
        # Both join General now, so that their first sockets add no member
        # event to its timeline; ``base`` is the last of those events.
        for token in (self.alice, self.bob):
            status, _ = self.world.rest.call("POST", "/api/rooms/1/join", token=token)
            assert status == 200, status
        self.base = max(self.timeline_ids())

    def make_hub(self) -> IHub | None:
        """The hub to run on; None for the service's own ``LocalHub``."""
        return None

    def make_world(self, hub: IHub | None = None) -> MemoryWorld:
        """Start the service on ``self.store`` (and ``hub``, if given); stopped in cleanup."""
        if hub is None:
            return memory_world(self, store=self.store, **self.changes)
        service = ChatService(
            config_for_tests(**self.changes),
            self.store.clock,
            store=self.store,
            hub=hub,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        service.startService()
        use_txaio_clock(self, self.store.clock)
        chat = MemoryChat(service.site(), self.store.clock)
        world = MemoryWorld(
            service, self.store.clock, chat, Rest(service.resource(), clock=self.store.clock)
        )
        self.addCleanup(world.stop)
        return world

    def send(self, client: RecordingClient, value: Any) -> None:
        """Send one JSON frame and let everything settle."""
        client.send_json(value)
        self.world.chat.flush()

    def say(self, client: RecordingClient, count: int, prefix: str = "m") -> None:
        """Send ``count`` messages (``prefix-0`` ...) and let everything settle."""
        for n in range(count):
            client.send_json({"content": f"{prefix}-{n}"})
        self.world.chat.flush()

    def missed(self, count: int, seen: int = 3) -> tuple[RecordingClient, int]:
        """Alice sees ``seen`` messages, leaves, misses ``count``; return bob and her last id."""
        alice = self.connect(self.alice)
        bob = self.connect(self.bob)
        self.say(bob, seen, "seen")
        last_seen = ids(alice)[-1]
        self.close(alice)
        self.say(bob, count, "missed")
        return bob, last_seen

    def close(self, client: RecordingClient) -> None:
        """Close a socket cleanly and let the server see it."""
        client.sendClose()
        self.world.chat.flush()
        self.assertFalse(client.ws_open)

    def stored(self, room_id: int = 1) -> list[Message]:
        """The room's whole history, oldest first."""
        return self.store.history(room_id)

    def stored_ids(self, room_id: int = 1) -> list[int]:
        """The ids of the room's whole history, oldest first."""
        return [message.id for message in self.stored(room_id)]

    def timeline_ids(self, room_id: int = 1) -> list[int]:
        """The ids of every event of the room's timeline: messages and member events."""
        members = result_now(self.store.get_member_events(room_id, 0, 10**6))
        return sorted([*self.stored_ids(room_id), *(event.id for event in members)])


def ids(client: RecordingClient) -> list[int]:
    """The ids of every message frame a client received, in arrival order."""
    return [frame["id"] for frame in client.of_type("message")]


def kinds(client: RecordingClient) -> list[str]:
    """The ``type`` of every frame a client received, in arrival order."""
    return [frame["type"] for frame in client.frames]
