"""``MemoryStore``'s read markers and counts (``IReadStore``), by the SQL stores' rules.

Counts walk the room's messages from the marker (a bisect, then at most
``COUNT_LIMIT`` counted messages), and mentions come from the timeline's
per-(user, room) index, as the SQL stores walk their indexes.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Mapping, Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.access_models import JOINED, Member, MemberEvent
from chatservice.errors import NotFound
from chatservice.models import Room, User
from chatservice.store.memory_rows import MessageRows
from chatservice.store.memory_timeline import MemoryTimeline
from chatservice.store.read_interface import COUNT_LIMIT, ReadMarker, RoomCounts


class MemoryRead:
    """Read markers, on the dicts of ``MemoryStore`` and ``MemoryAccess``."""

    _users: dict[int, User]
    _rooms: dict[int, Room]
    _deleted_rooms: set[int]
    _members: dict[tuple[int, int], Member]
    _member_events: dict[int, list[MemberEvent]]
    _timeline: MemoryTimeline
    _messages: dict[int, MessageRows]
    _message_ids: dict[int, array[int]]

    def _init_read(self) -> None:
        self._read_markers: dict[tuple[int, int], int] = {}  # (user, room): last read id

    def set_read_marker(
        self, user_id: int, room_id: int, last_read_id: int
    ) -> Deferred[ReadMarker]:
        """Raise the user's marker in the room (see ``IReadStore.set_read_marker``)."""
        if room_id not in self._rooms:
            return fail(NotFound("No such room."))
        if user_id not in self._users:
            return fail(NotFound("No such user."))
        ids = self._message_ids.get(room_id)
        wanted = max(0, min(last_read_id, ids[-1] if ids else 0))
        key = (user_id, room_id)
        before = self._read_markers.get(key)
        if before is not None and before >= wanted:
            return succeed(ReadMarker(room_id, before, moved=False))
        self._read_markers[key] = wanted
        return succeed(ReadMarker(room_id, wanted, moved=True))

    def room_counts(
        self, user_id: int, room_ids: Sequence[int]
    ) -> Deferred[Mapping[int, RoomCounts]]:
        """Fire with the counts of the rooms (see ``IReadStore.room_counts``)."""
        counts: dict[int, RoomCounts] = {}
        for room_id in dict.fromkeys(room_ids):
            if room_id not in self._rooms or room_id in self._deleted_rooms:
                continue
            counts[room_id] = self._counts(user_id, room_id)
        return succeed(counts)

    def _counts(self, user_id: int, room_id: int) -> RoomCounts:
        marker = self._read_markers.get((user_id, room_id))
        member = self._members.get((room_id, user_id))
        joined = member is not None and member.state == JOINED
        counted = marker is not None or joined
        if marker is None:
            marker = self._join_event(user_id, room_id) if joined else 0
        unread = 0
        if counted:
            start = bisect.bisect_right(self._message_ids.get(room_id, []), marker)
            countable = (
                m
                for m in self._messages[room_id].iter_from(start)
                if m.sender_id != user_id and not m.deleted
            )
            unread = sum(1 for _ in itertools.islice(countable, COUNT_LIMIT))
        mentioned = self._timeline.mentioned.get((user_id, room_id), set())
        mention_count = min(COUNT_LIMIT, sum(1 for i in mentioned if i > marker))
        return RoomCounts(room_id, marker, unread, mention_count)

    def _join_event(self, user_id: int, room_id: int) -> int:
        """The id of the user's latest ``joined`` event in the room, 0 if none."""
        for event in reversed(self._member_events.get(room_id, [])):
            if event.user_id == user_id and event.kind == JOINED:
                return event.id
        return 0
