"""Read a room's timeline by event: the resume's replay and ``GET /api/events``.

Every change of a room (a new message, an edit, a delete, a reaction) is an
event with an id from one increasing sequence, so one cursor (``since`` on
the WebSocket, ``after`` over REST) catches a client up with everything:
replaying the events after it in id order, each with its message's current
state, ends in exactly the server's state.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from chatservice.access_models import MemberEvent
from chatservice.message_forms import EventsQuery
from chatservice.models import TimelineEvent
from chatservice.store import IChatStore
from chatservice.wire import dumps

MAX_REPLAY = 500

# A room's timeline holds its messages' events and its member events
# (joins, leaves, kicks, bans, room settings), all on one id sequence.
RoomTimelineEvent = TimelineEvent | MemberEvent


def event_payload(event: RoomTimelineEvent) -> bytes:
    """Encode an event once for every socket that receives it (live, replayed, caught up)."""
    return dumps(event.to_json())


@dataclass(frozen=True, slots=True)
class Replay:
    """What a resuming socket missed: the events, or ``recovered=False`` if too many."""

    events: Sequence[RoomTimelineEvent]
    recovered: bool


def _event_id(event: RoomTimelineEvent) -> int:
    return event.id


class Timeline:
    """Event reads, independent of HTTP and WebSocket."""

    def __init__(self, store: IChatStore) -> None:
        self._store = store

    async def events(self, query: EventsQuery) -> Sequence[RoomTimelineEvent]:
        """The oldest ``limit`` events after ``after``, in id order; ``NotFound`` for no room."""
        await self._store.get_room(query.room_id)
        return await self._page(query.room_id, query.after, query.limit)

    async def page(self, room_id: int, after: int, limit: int) -> list[RoomTimelineEvent]:
        """The oldest ``limit`` events of a room after ``after``; no room check (webhooks)."""
        return await self._page(room_id, after, limit)

    async def _page(self, room_id: int, after: int, limit: int) -> list[RoomTimelineEvent]:
        """The first ``limit`` of both kinds of event after ``after``, merged by id."""
        changes = await self._store.get_events(room_id, after, limit)
        members = await self._store.get_member_events(room_id, after, limit)
        if not members:
            return list(changes)
        both: list[Sequence[RoomTimelineEvent]] = [changes, members]
        merged = heapq.merge(*both, key=_event_id)
        return list(itertools.islice(merged, limit))

    async def replay(self, room_id: int, since: int) -> Replay:
        """The events after ``since``, in id order, if there are at most 500.

        With more, nothing is returned and ``recovered`` is False: the client
        pages through ``GET /api/events`` instead of getting a flood.
        """
        page = await self._page(room_id, since, MAX_REPLAY + 1)
        if len(page) > MAX_REPLAY:
            return Replay((), recovered=False)
        return Replay(page, recovered=True)
