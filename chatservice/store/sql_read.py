"""``SQLStore``'s read-marker methods (``IReadStore``); the SQL is in ``read_queries``.

Ids that cannot be bound as 64-bit integers are answered here without a
round trip, as ``sql_timeline`` does: an unknown room or user is
``NotFound``, and rooms past the range have no counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice.errors import NotFound
from chatservice.store import read_queries
from chatservice.store.database import Database
from chatservice.store.ranges import INT64_MAX, fits
from chatservice.store.read_interface import ReadMarker, RoomCounts


class SQLRead:
    """Read markers and counts, on ``self.database``."""

    database: Database

    def set_read_marker(
        self, user_id: int, room_id: int, last_read_id: int
    ) -> Deferred[ReadMarker]:
        """Raise the user's marker in the room (see ``IReadStore.set_read_marker``)."""
        if not fits(room_id):
            return fail(NotFound("No such room."))
        if not fits(user_id):
            return fail(NotFound("No such user."))
        return self.database.run_interaction(
            "set_read_marker",
            read_queries.set_read_marker,
            user_id,
            room_id,
            max(0, min(last_read_id, INT64_MAX)),
        )

    def room_counts(
        self, user_id: int, room_ids: Sequence[int]
    ) -> Deferred[Mapping[int, RoomCounts]]:
        """Fire with the counts of the rooms (see ``IReadStore.room_counts``)."""
        wanted = [room_id for room_id in room_ids if fits(room_id)]
        if not wanted or not fits(user_id):
            return succeed({})
        return self.database.run_read("room_counts", read_queries.room_counts, user_id, wanted)
