"""The SQL of read markers and of the unread and mention counts measured from them.

Counts are never stored: each is one walk of an index from the user's
marker that stops at ``COUNT_LIMIT`` rows (the messages' (room_id, id)
index for unread, the mentions' (user_id, room_id, message_id) for
mentions). So they are exact for whatever is committed, under any mix of
concurrent posts, edits and deletes, with nothing to keep in step, and a
room costs the same with ten messages or a million. Each function runs in
a pool thread inside one ``Database`` transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from chatservice.errors import NotFound
from chatservice.store.database import Txn
from chatservice.store.dialects import POSTGRESQL
from chatservice.store.in_lists import chunks, in_list
from chatservice.store.read_interface import COUNT_LIMIT, ReadMarker, RoomCounts

_NEWEST = "SELECT MAX(id) FROM messages WHERE room_id = :room_id"
_MARKER = "SELECT last_read_id FROM read_markers WHERE user_id = :user_id AND room_id = :room_id"
# An upsert that only ever raises the marker: concurrent calls keep the
# largest without a lock (SQLite 3.24+ and PostgreSQL share the syntax).
_RAISE_MARKER = (
    "INSERT INTO read_markers (user_id, room_id, last_read_id)"
    " VALUES (:user_id, :room_id, :last_read_id)"
    " ON CONFLICT (user_id, room_id) DO UPDATE SET last_read_id = excluded.last_read_id"
    " WHERE read_markers.last_read_id < excluded.last_read_id"
)
_MARKERS = (
    "SELECT room_id, last_read_id FROM read_markers"
    " WHERE user_id = :user_id AND room_id IN ({ids})"
)
_JOINED = (
    "SELECT room_id FROM members"
    " WHERE user_id = :user_id AND state = 'joined' AND room_id IN ({ids})"
)
_JOIN_EVENTS = (
    "SELECT room_id, MAX(id) FROM member_events"
    " WHERE user_id = :user_id AND kind = 'joined' AND room_id IN ({ids}) GROUP BY room_id"
)
_EXISTING = "SELECT id FROM rooms WHERE deleted = :deleted AND id IN ({ids})"
# Both counts of one room; each inner walk stops at the limit. A page of
# rooms is one statement (their parts joined by UNION ALL), padded to a
# power of two by repeating the last room, so the texts stay few. Eight:
# PostgreSQL's planning time grows faster than the parts (measured after
# ANALYZE: 0.35 ms for one room, 2 ms for 8, 56 ms for 64), so pages of 8
# cost the least per room and still save 7 round trips in 8.
#
# The walks must follow the (room, id) indexes from (room, marker). With
# ``room_id = :room ... ORDER BY id`` PostgreSQL may take the primary key
# instead (the order it wants, and a room holding most rows looks dense
# everywhere) and walk from the marker through every later message of
# every room: 154 ms for a read room of a million messages. A room id
# range of one value (not an equality, so the order by room_id, id is no
# longer implied) is an order only the (room, id) indexes give, and
# PostgreSQL starts them at (room, marker): 0.05 ms. SQLite cannot start
# an index at a range and a second column's bound (it would walk the whole
# room), and keeps to the (room, id) index with the equality anyway: each
# dialect gets its own form of the room condition.
_ROOM_EQUAL = "room_id = :room{i}"
_ROOM_RANGE = "room_id >= :room{i} AND room_id <= :room{i}"
_COUNTS_PART = (
    "SELECT CAST(:room{i} AS BIGINT) AS room_id,"
    " (SELECT COUNT(*) FROM (SELECT 1 AS one FROM messages"
    "   WHERE {room} AND id > :unread{i}"
    "   AND sender_id <> :user_id AND deleted = :deleted"
    "   ORDER BY room_id, id LIMIT :limit) AS unread{i}),"
    " (SELECT COUNT(*) FROM (SELECT 1 AS one FROM mentions"
    "   WHERE user_id = :user_id AND {room}"
    "   AND message_id > :after{i} ORDER BY room_id, message_id LIMIT :limit) AS mentioned{i})"
)
_COUNTS_PAGE = 8
# Past every id: a walk from here finds nothing (a room with nothing unread).
_NOWHERE = 2**63 - 1


@functools.lru_cache(maxsize=16)
def _counts_statement(size: int, dialect: str) -> str:
    """The counts of ``size`` rooms in one statement (sizes are powers of two up to 8)."""
    room = _ROOM_RANGE if dialect == POSTGRESQL.name else _ROOM_EQUAL
    part = _COUNTS_PART.replace("{room}", room)
    return " UNION ALL ".join(part.format(i=i) for i in range(size))


def set_read_marker(txn: Txn, user_id: int, room_id: int, last_read_id: int) -> ReadMarker:
    """Raise the marker to ``last_read_id`` clamped to the room's newest message."""
    if txn.query_one("SELECT id FROM rooms WHERE id = :id", {"id": room_id}) is None:
        raise NotFound("No such room.")
    params = {"user_id": user_id, "room_id": room_id}
    newest = txn.query_one(_NEWEST, {"room_id": room_id})
    wanted = max(0, min(last_read_id, int(newest[0]) if newest and newest[0] is not None else 0))
    before = txn.query_one(_MARKER, params)
    try:
        txn.execute(_RAISE_MARKER, {**params, "last_read_id": wanted})
    except NotFound:
        raise NotFound("No such user.") from None
    after = txn.query_one(_MARKER, params)
    assert after is not None
    stored = int(after[0])
    moved = stored == wanted and (before is None or int(before[0]) < wanted)
    return ReadMarker(room_id, stored, moved)


def room_counts(txn: Txn, user_id: int, room_ids: Sequence[int]) -> dict[int, RoomCounts]:
    """The counts of each existing room of ``room_ids`` (see ``IReadStore.room_counts``).

    Four queries per 512 rooms (markers, joined rooms, join events, which
    exist), and one per 8 rooms for their bounded counts.
    """
    markers: dict[int, int] = {}
    joined: set[int] = set()
    joins: dict[int, int] = {}
    existing: list[int] = []
    for chunk in chunks(room_ids):
        placeholders, params = in_list("id", chunk)
        params["user_id"] = user_id
        for room_id, marker in txn.query(_MARKERS.format(ids=placeholders), params):
            markers[int(room_id)] = int(marker)
        joined.update(int(r) for (r,) in txn.query(_JOINED.format(ids=placeholders), params))
        for room_id, event_id in txn.query(_JOIN_EVENTS.format(ids=placeholders), params):
            joins[int(room_id)] = int(event_id)
        params["deleted"] = False
        existing.extend(int(r) for (r,) in txn.query(_EXISTING.format(ids=placeholders), params))
    starts: dict[int, tuple[int, int]] = {}  # room: (counted from, unread walk from)
    for room_id in existing:
        marker = markers.get(room_id)
        counted = marker is not None or room_id in joined
        if marker is None:
            marker = joins.get(room_id, 0) if room_id in joined else 0
        # A room never joined nor marked has nothing unread, but its
        # mentions of the user count (from the start).
        starts[room_id] = (marker, marker if counted else _NOWHERE)
    counts: dict[int, RoomCounts] = {}
    for page in chunks(existing, _COUNTS_PAGE):
        size = 1
        while size < len(page):
            size *= 2
        padded = list(page) + [page[-1]] * (size - len(page))
        bound: dict[str, object] = {"user_id": user_id, "deleted": False, "limit": COUNT_LIMIT}
        for i, room_id in enumerate(padded):
            bound[f"room{i}"] = room_id
            bound[f"after{i}"], bound[f"unread{i}"] = starts[room_id]
        statement = _counts_statement(size, txn.dialect.name)
        for room_id, unread, mentioned in txn.query(statement, bound):
            room = int(room_id)
            counts[room] = RoomCounts(room, starts[room][0], int(unread), int(mentioned))
    return counts
