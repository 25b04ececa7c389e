"""IHub and LocalHub: live room events from the process that made them to every socket.

The hub carries already-encoded JSON payloads, so each event is serialized
once however many sockets receive it. ``LocalHub`` delivers inside one
process; ``RedisHub`` carries the same events between processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import Interface, implementer


class IHubStatus(Interface):
    """A hub that can tell whether it reaches the other processes (``RedisHub``).

    Optional: ``LocalHub`` has no one to reach. Use ``IHubStatus(hub, None)``.
    """

    def reachable() -> bool:
        """True while events to and from other processes flow."""


def instance_id() -> str:
    """A new random id for one service instance.

    It names the instance's events on Redis (so it can skip its own coming
    back) and prefixes its connection ids (typing notices name the connection
    that must not get them back, across processes); one id per instance
    keeps the two in agreement in logs and ``CLIENT LIST``.
    """
    return os.urandom(8).hex()


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """An encoded event for one room's sockets.

    ``exclude`` names a connection that must not receive it (a typing frame's
    sender); ids are unique across processes. ``event_id`` is the timeline
    event id of a stored change (a new message's id, a change's event id),
    None for presence and typing: it travels beside the payload so that
    fan-out can keep each room's cursor without parsing JSON per event.
    """

    room_id: int
    payload: bytes
    exclude: str | None = None
    event_id: int | None = None


class IRoomListener(Interface):
    """Receives every event of the rooms the hub is subscribed to."""

    def room_event(event: RoomEvent) -> None:
        """Deliver ``event`` to this process's sockets in its room."""

    def rooms_interrupted(room_ids: Sequence[int]) -> None:
        """The hub lost the connection that brought these rooms' events from other processes.

        Events published elsewhere from now on until ``rooms_restored`` are
        not delivered; the listener notes where its sockets were. A hub that
        cannot lose events (``LocalHub``) never calls it.
        """

    def rooms_restored(room_ids: Sequence[int]) -> None:
        """The hub receives these rooms' events again after ``rooms_interrupted``.

        Called once the subscriptions are confirmed (not on the first
        subscribe), so a store read started now misses nothing.
        """


class IBatchListener(IRoomListener):
    """A listener that takes a committed batch of events at once (the WebSocket factory).

    Optional: ``LocalHub`` hands a batch to ``room_events`` when its
    listener provides this, else to ``room_event`` one by one.
    """

    def room_events(events: Sequence[RoomEvent]) -> None:
        """Deliver ``events`` (several rooms' perhaps), each room's in the order given."""


class IBatchHub(Interface):
    """A hub that publishes a batch of events in one call (``LocalHub``).

    Optional: ``publish_all_quietly`` publishes one by one through any
    other hub.
    """

    def publish_all(events: Sequence[RoomEvent]) -> Deferred[None]:
        """``IHub.publish`` for each of ``events``, in order, in one call."""


class IHub(Interface):
    """Publishes room events to every process's listener."""

    def set_listener(listener: IRoomListener) -> None:
        """Set the one listener of this process (the WebSocket factory)."""

    def subscribe(room_id: int) -> Deferred[None]:
        """Start receiving the room's events; fires once subscribed."""

    def unsubscribe(room_id: int) -> None:
        """Stop receiving the room's events."""

    def publish(event: RoomEvent) -> Deferred[None]:
        """Send ``event`` to every subscribed listener, this process's included."""


@implementer(IHub, IBatchHub)
class LocalHub:
    """A hub for one process: publishing is a direct call to the listener."""

    def __init__(self) -> None:
        self._listener: IRoomListener | None = None

    def set_listener(self, listener: IRoomListener) -> None:
        """Set the listener events are delivered to."""
        self._listener = listener

    def subscribe(self, room_id: int) -> Deferred[None]:
        """Nothing to do in one process."""
        return succeed(None)

    def unsubscribe(self, room_id: int) -> None:
        """Nothing to do in one process."""

    def publish(self, event: RoomEvent) -> Deferred[None]:
        """Deliver ``event`` synchronously to the listener."""
        if self._listener is not None:
            self._listener.room_event(event)
        return succeed(None)

    def publish_all(self, events: Sequence[RoomEvent]) -> Deferred[None]:
        """Deliver ``events`` synchronously, in one call if the listener takes batches."""
        listener = self._listener
        if listener is not None:
            batch = IBatchListener(listener, None)
            if batch is not None:
                batch.room_events(events)
            else:
                for event in events:
                    listener.room_event(event)
        return succeed(None)


_log = Logger()


def publish_quietly(hub: IHub, event: RoomEvent, log: Logger | None = None) -> None:
    """Publish an event after its commit; a delivery fault is logged, never raised.

    The change is already stored: a hub that fails (Redis down) must not
    turn it into an error for the client, who could then retry it.
    """
    _quietly(lambda: hub.publish(event), "publishing a room event failed", log)


def publish_all_quietly(hub: IHub, events: Sequence[RoomEvent], log: Logger | None = None) -> None:
    """``publish_quietly`` for a committed batch: in one call where the hub takes batches."""
    batch_hub = IBatchHub(hub, None)
    if batch_hub is None:
        for event in events:
            publish_quietly(hub, event, log)
        return
    _quietly(lambda: batch_hub.publish_all(events), "publishing room events failed", log)


def _quietly(publish: Callable[[], Deferred[None]], what: str, log: Logger | None) -> None:
    """Start ``publish``; log ``what`` for a failure, whether it raises or fails later."""
    logger = log or _log
    try:
        publishing = publish()
    except Exception:
        logger.failure(what)
        return
    publishing.addErrback(lambda failure: logger.failure(what, failure))
