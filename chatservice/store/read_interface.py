"""``IReadStore``: read markers, and the unread and mention counts measured from them.

Kept apart from ``IChatStore``'s own methods (which it joins) so that the
read-marker capability has one interface, one memory implementation
(``memory_read.py``) and one SQL one (``sql_read.py``, ``read_queries.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from zope.interface import Interface

# What a count stops at: a room with more unread messages (or mentions)
# answers exactly this, which clients show as "100+". Counting walks the
# room's (room_id, id) index from the marker and stops here, so a listing
# of 500 rooms reads at most 500 short index ranges, however long each
# room's history is.
COUNT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class ReadMarker:
    """A user's read marker in a room after setting it, and whether the call moved it."""

    room_id: int
    last_read_id: int
    moved: bool


@dataclass(frozen=True, slots=True)
class RoomCounts:
    """What the user has not read in a room, counted from their marker.

    ``last_read_id`` is the marker counted from: the stored one, or for a
    joined member who never set one, their latest join event (0 if they
    were a member from the room's creation). ``unread`` counts the messages
    after it that are not the user's own and not deleted (0 in a room the
    user never joined nor marked); ``mention_count`` those of them that
    mention the user. Both stop at ``COUNT_LIMIT``.
    """

    room_id: int
    last_read_id: int
    unread: int
    mention_count: int

    def to_json(self) -> dict[str, int]:
        """The three fields ``GET /api/rooms`` adds to each room."""
        return {
            "last_read_id": self.last_read_id,
            "unread": self.unread,
            "mention_count": self.mention_count,
        }


class IReadStore(Interface):
    """Read markers and the counts they give; mentions are stored with messages."""

    def set_read_marker(user_id: int, room_id: int, last_read_id: int) -> Deferred[ReadMarker]:
        """Move the user's marker in the room forward to ``last_read_id``; never back.

        An id past the room's newest message is clamped to that message (0
        in a room without messages); an id at or below the current marker
        changes nothing (``moved=False``). Concurrent calls keep the largest.
        Fires with the marker as stored; fails with ``NotFound`` for an
        unknown room or user.
        """

    def room_counts(user_id: int, room_ids: Sequence[int]) -> Deferred[Mapping[int, RoomCounts]]:
        """Fire with the counts of each existing room of ``room_ids`` (see ``RoomCounts``).

        Does not check that the user may read the rooms: the caller asks
        only for those. Each count is exact (up to ``COUNT_LIMIT``) for the
        committed history: edits, deletes and mentions included.
        """


class DelegatedRead:
    """``IReadStore`` passed straight to ``self._read_store``: for wrappers of a store."""

    _read_store: IReadStore

    def set_read_marker(
        self, user_id: int, room_id: int, last_read_id: int
    ) -> Deferred[ReadMarker]:
        """Delegate to the wrapped store."""
        return self._read_store.set_read_marker(user_id, room_id, last_read_id)

    def room_counts(
        self, user_id: int, room_ids: Sequence[int]
    ) -> Deferred[Mapping[int, RoomCounts]]:
        """Delegate to the wrapped store."""
        return self._read_store.room_counts(user_id, room_ids)
