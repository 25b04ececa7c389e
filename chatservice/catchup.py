"""Catching a room's sockets up from the store after the hub lost other processes' events.

Redis pub/sub is at-most-once: while the hub's subscriber connection is down,
events published by other processes never reach this one. The hub says when
that starts (``rooms_interrupted``) and when the subscriptions are confirmed
again (``rooms_restored``); in between, this keeps per room the cursor where
the gap began and the ids delivered since (this process's own events still
arrive). On restore it reads the timeline after the cursor, the server-side
form of a resume's ``since``, and sends each socket of the room what it
missed: in id order, once, before the live events that arrived during the
read (held meanwhile, like a resume holds them; a socket that is itself
resuming holds the catch-up's events too). More than ``MAX_REPLAY``
missed, held events past the bound, or a failed read end with a
``recovery`` frame saying ``recovered: false`` so clients page with
``after=`` instead.

Cheap on the hot path: ``passes`` runs for every delivered event and does
dict lookups only, using ``RoomEvent.event_id`` (no JSON parsing). Store
reads go through the timeline; the fan-out's room membership and framing
are passed in, so each event is framed once per room as ``room_event`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.hub import RoomEvent
from chatservice.resume import recovery_payload
from chatservice.timeline import Replay, Timeline, event_payload
from chatservice.websocket import ChatServerProtocol

# Ids of this process's own events delivered during one gap, kept to skip
# them in the catch-up: bounded, as a gap may last as long as an outage.
MAX_SEEN = 10_000


@dataclass(slots=True)
class _Gap:
    """One room's missed stretch: from ``since`` on, minus the ``seen`` ids delivered meanwhile."""

    since: int | None  # the largest id delivered before the gap; None if none was
    seen: set[int] = field(default_factory=set)
    held: list[RoomEvent] | None = None  # live events held while the store is read
    held_bytes: int = 0
    overflowed: bool = False
    losses: int = 1  # a new loss during the read leaves the gap open


class RoomCatchUp:
    """Per room: the largest event id delivered, and the gaps the hub reported."""

    log = Logger()

    def __init__(
        self,
        timeline: Timeline,
        sockets: Mapping[int, set[ChatServerProtocol]],
        frame: Callable[[bytes], bytes],
        max_held_bytes: int,
    ) -> None:
        """Catch up the sockets of ``sockets`` (the fan-out's rooms), framed by ``frame``."""
        self._timeline = timeline
        self._sockets = sockets
        self._frame = frame
        self._max_held_bytes = max_held_bytes
        self._last: dict[int, int] = {}
        self._gaps: dict[int, _Gap] = {}

    def passes(self, event: RoomEvent) -> bool:
        """Note a live event; False if it is held for a catch-up read (sent after it).

        Live events are never dropped by id here: across processes two
        events may arrive out of id order, and both must be delivered.
        """
        if self._gaps:
            gap = self._gaps.get(event.room_id)
            if gap is not None:
                if gap.held is not None:
                    self._hold(gap, event)
                    return False
                if event.event_id is not None:
                    if len(gap.seen) < MAX_SEEN:
                        gap.seen.add(event.event_id)
                    else:
                        # A long outage of a busy room: past the bound the
                        # clients page (recovered: false) instead.
                        gap.overflowed = True
        event_id = event.event_id
        if event_id is not None and event_id > self._last.get(event.room_id, 0):
            self._last[event.room_id] = event_id
        return True

    def _hold(self, gap: _Gap, event: RoomEvent) -> None:
        held = gap.held
        if held is None or gap.overflowed:
            return
        gap.held_bytes += len(event.payload)
        if gap.held_bytes <= self._max_held_bytes:
            held.append(event)
            return
        # A busy room and a slow store: past the bound the clients page instead.
        held.clear()
        gap.overflowed = True

    def delivered(self, room_id: int, event_id: int) -> None:
        """A resume's replay sent the room's events up to ``event_id``: a cursor too."""
        if event_id > self._last.get(room_id, 0):
            self._last[room_id] = event_id

    def forget(self, room_id: int) -> None:
        """The room's last socket left: its cursor means nothing to the next one."""
        self._last.pop(room_id, None)
        self._gaps.pop(room_id, None)

    def interrupted(self, room_ids: Iterable[int]) -> None:
        """Other processes' events of these rooms are lost from now on: remember where."""
        for room_id in room_ids:
            if room_id not in self._sockets:
                continue  # no socket here: nothing to catch up
            gap = self._gaps.get(room_id)
            if gap is None:
                self._gaps[room_id] = _Gap(self._last.get(room_id))
            else:
                gap.losses += 1

    def restored(self, room_ids: Iterable[int]) -> None:
        """Events flow again: read what each room missed and send it, holding live events."""
        for room_id in room_ids:
            gap = self._gaps.get(room_id)
            if gap is None or gap.held is not None:
                continue  # no gap, or a read already runs (it sees the new loss)
            gap.held = []
            losses = gap.losses
            if gap.since is None:
                # Nothing was delivered before the gap: there is no cursor to read from.
                self._finish(None, room_id, gap, losses)
                continue
            reading = Deferred.fromCoroutine(self._timeline.replay(room_id, gap.since))
            reading.addCallbacks(
                self._finish,
                self._failed,
                callbackArgs=(room_id, gap, losses),
                errbackArgs=(room_id, gap, losses),
            )

    def _failed(self, failure: Failure, room_id: int, gap: _Gap, losses: int) -> None:
        self.log.failure("catching room {room_id} up failed", failure, room_id=room_id)
        self._finish(None, room_id, gap, losses)

    def _finish(self, replay: Replay | None, room_id: int, gap: _Gap, losses: int) -> None:
        """Send the missed events (or ``recovered: false``), then the held ones."""
        if self._gaps.get(room_id) is not gap:
            return  # every socket left meanwhile
        burst: list[RoomEvent] = []
        replayed: set[int] = set()
        last = gap.since or 0
        if replay is not None and replay.recovered and not gap.overflowed:
            for event in replay.events:
                replayed.add(event.id)
                last = max(last, event.id)
                if event.id not in gap.seen:
                    burst.append(RoomEvent(room_id, event_payload(event), event_id=event.id))
        else:
            # The cursor where the gap began: the client pages from there (or
            # from its own cursor, if larger) and de-duplicates by event id.
            burst.append(RoomEvent(room_id, recovery_payload(room_id, False, last)))
        held, gap.held, gap.held_bytes, gap.overflowed = gap.held or [], None, 0, False
        if gap.losses == losses:
            del self._gaps[room_id]
        else:
            # Lost again during the read: what it found is sent, the rest waits
            # for the next restore.
            gap.since = last
            gap.seen |= replayed
        if last > self._last.get(room_id, 0):
            self._last[room_id] = last
        for live in held:
            if live.event_id is None or live.event_id not in replayed:
                self.passes(live)
                burst.append(live)
        if burst:
            self._write(room_id, burst)

    def _write(self, room_id: int, events: Sequence[RoomEvent]) -> None:
        """Write a burst to the room's sockets, each event framed once; resumes hold it.

        A burst (up to ``MAX_REPLAY`` events at once, faster than any peer
        reads) is not a sign of a slow consumer, as for a resume's replay.
        """
        frames = [self._frame(event.payload) for event in events]
        for protocol in list(self._sockets.get(room_id, ())):
            connection = protocol.session.connection_id
            if protocol.resuming is not None:
                for event in events:
                    if event.exclude != connection:
                        protocol.resuming.hold(event)
            else:
                protocol.write_frames(
                    [f for f, e in zip(frames, events, strict=True) if e.exclude != connection]
                )
