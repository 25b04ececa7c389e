"""A resuming socket's catch-up, without I/O: hold live events, replay, dedupe, release.

A socket that reconnects with ``since=N`` must see every timeline event
after N (new messages, edits, deletes, reactions) exactly once, in id
order, then the ``recovery`` frame, then live traffic.
The socket joins its room's fan-out *before* the store is read, so nothing
committed in between can fall into a gap; live events that arrive while the
store is read are held here, and on release those the replay already
contained are dropped.

Held events are bounded in bytes: a socket that resumes into a busy room
while the store is slow could otherwise hold without end. Past the bound the
held events are dropped and the recovery frame says ``recovered: false`` with
the last id the replay did send, so the client pages with ``after=`` and
still misses nothing.

Everything here is plain data in, payloads out; ``fanout.py`` does the I/O.
"""

from __future__ import annotations

import json

from chatservice.errors import ChatError
from chatservice.hub import RoomEvent
from chatservice.timeline import Replay, event_payload
from chatservice.wire import FrameError, dumps


def recovery_payload(room_id: int, recovered: bool, last_id: int) -> bytes:
    """The ``recovery`` frame: after a resume's replay, or a catch-up that could not be made."""
    return dumps(
        {"type": "recovery", "room_id": room_id, "recovered": recovered, "last_id": last_id}
    )


class ResumeState:
    """The live events one resuming socket holds until its replay is sent."""

    def __init__(self, room_id: int, since: int, max_held_bytes: int) -> None:
        self.room_id = room_id
        self.since = since
        self._max_held_bytes = max_held_bytes
        self._held: list[RoomEvent] = []
        self.held_bytes = 0
        self.overflowed = False
        # False when this process could not confirm it receives the room's
        # live events from the others (see ``unconfirmed``).
        self.live_confirmed = True

    def hold(self, event: RoomEvent) -> None:
        """Keep a live event for after the replay, unless the bound was passed."""
        if self.overflowed:
            return
        self._held.append(event)
        self.held_bytes += len(event.payload)
        if self.held_bytes > self._max_held_bytes:
            # The client is told to page instead (see finish).
            self._held.clear()
            self.held_bytes = 0
            self.overflowed = True

    def unconfirmed(self) -> None:
        """The hub did not confirm the room's subscription before the store was read.

        What other processes published in between may never arrive, so the
        recovery frame will say ``recovered: false`` (at the last replayed
        id: the client pages on from there and misses nothing).
        """
        self.live_confirmed = False

    def replayed(self, replay: Replay) -> list[bytes]:
        """The payloads to send, in order, once the store answered.

        The replayed events, the ``recovery`` frame, then the held live
        events that came after the replay's last event.
        """
        last_id = self.since
        payloads = []
        for event in replay.events:
            payloads.append(event_payload(event))
            last_id = event.id
        recovered = replay.recovered and not self.overflowed and self.live_confirmed
        payloads.append(self._recovery(recovered, last_id))
        payloads.extend(self._release(last_id if replay.recovered else None))
        return payloads

    def failed(self, error: ChatError) -> list[bytes]:
        """The payloads to send when the store could not be read.

        The error frame, then ``recovered: false``: still the one signal the
        contract gives for "page through history".
        """
        payloads = [dumps(FrameError(error).to_json()), self._recovery(False, self.since)]
        payloads.extend(self._release(None))
        return payloads

    def _recovery(self, recovered: bool, last_id: int) -> bytes:
        return recovery_payload(self.room_id, recovered, last_id)

    def _release(self, replayed_up_to: int | None) -> list[bytes]:
        held, self._held, self.held_bytes = self._held, [], 0
        payloads = []
        for event in held:
            if replayed_up_to is not None:
                event_id = _event_id(event.payload)
                if event_id is not None and event_id <= replayed_up_to:
                    continue
            payloads.append(event.payload)
        return payloads


def _event_id(payload: bytes) -> int | None:
    """The timeline event id of a live payload; None for others (presence, typing: never dropped).

    A ``message`` frame's id is the id of the event that created it; a
    ``message_updated`` frame names its event.
    """
    if not payload.startswith(b'{"type":"message'):
        return None
    body = json.loads(payload)
    value = body.get("event_id") if body.get("type") == "message_updated" else body.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
