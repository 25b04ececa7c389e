"""Read markers and unread counts: the use cases behind ``POST /api/rooms/{id}/read``.

A marker is the id of the last message the user has read in a room. It
only moves forward (a stale tab cannot undo a newer one), and an id past
the room's newest message is clamped to that message rather than refused,
so a client may send whatever id it last saw (an edit's event id
included). Each move reaches every socket of the user, on every process,
as a ``read_marker`` frame (``userframes.py``), so their other tabs clear
their badges.

The counts (``unread``, ``mention_count``) are measured from the marker
by the store when asked (``IReadStore``), never kept as counters: see
``store/read_queries.py`` for why that keeps them exact and cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.access import RoomAccess
from chatservice.access_models import BANNED, JOINED
from chatservice.errors import ChatError, InternalError
from chatservice.frames import ClientFrame
from chatservice.store import IChatStore
from chatservice.store.read_interface import RoomCounts
from chatservice.tokens import Identity
from chatservice.userframes import UserFrames
from chatservice.websocket import SocketSession
from chatservice.wire import FrameError

NO_COUNTS = {"last_read_id": 0, "unread": 0, "mention_count": 0}


class ReadMarkers:
    """Set read markers and add the counts to a room listing, independent of HTTP."""

    def __init__(self, store: IChatStore, access: RoomAccess, frames: UserFrames) -> None:
        self._store = store
        self._access = access
        self._frames = frames

    async def mark(self, identity: Identity, room_id: int, last_read_id: int) -> RoomCounts:
        """Move the user's marker in a room they may read; fire with the room's counts after.

        Raises:
            NotFound: no such room, or a private room the user is not in.
            Forbidden: banned from the room, or only invited to it.
        """
        await self._access.readable(identity, room_id)
        marker = await self._store.set_read_marker(identity.user_id, room_id, last_read_id)
        counts = (await self._store.room_counts(identity.user_id, [room_id])).get(room_id)
        if counts is None:  # the room was deleted in between
            counts = RoomCounts(room_id, marker.last_read_id, 0, 0)
        if marker.moved:
            self._frames.send([identity.user_id], read_marker_frame(counts))
        return counts

    async def with_counts(
        self, identity: Identity, rooms: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Add ``last_read_id``, ``unread`` and ``mention_count`` to each room of a listing.

        ``rooms`` are ``Membership.rooms`` objects (each with the user's
        ``membership``). Rooms the user may not read (only invited, or
        banned) get zeros.
        """
        readable = [int(room["id"]) for room in rooms if _readable(room)]
        counts = await self._store.room_counts(identity.user_id, readable) if readable else {}
        listed: list[dict[str, Any]] = []
        for room in rooms:
            found = counts.get(int(room["id"]))
            listed.append({**room, **(found.to_json() if found is not None else NO_COUNTS)})
        return listed


def _readable(room: Mapping[str, Any]) -> bool:
    """``RoomAccess.readable``'s rule on a listed room and the user's membership in it."""
    membership = room.get("membership")
    state = membership.get("state") if isinstance(membership, Mapping) else None
    if room.get("visibility") == "public":
        return state != BANNED
    return state == JOINED


def read_marker_frame(counts: RoomCounts) -> dict[str, object]:
    """The ``read_marker`` frame every socket of the user gets when their marker moves."""
    return {"type": "read_marker", "room_id": counts.room_id, **counts.to_json()}


class ReadingSocket(Protocol):
    """What a ``read`` frame's answer needs of a socket (``ChatServerProtocol`` is one)."""

    session: SocketSession

    def send_json(self, value: Any) -> None:
        """Send one JSON text frame to this connection, if it is open."""


def socket_read(
    markers: ReadMarkers | None, socket: ReadingSocket, frame: ClientFrame, log: Logger
) -> Deferred[None]:
    """Handle a socket's ``read`` frame: its room's marker moves, refusals are ``error`` frames.

    The move itself is answered by the ``read_marker`` frame every socket of
    the user gets (this one included); a marker that did not move gets none.
    """
    session = socket.session
    assert frame.message_id is not None

    def refused(failure: Failure) -> None:
        error = failure.value
        if not isinstance(error, ChatError):
            log.failure("setting a read marker failed", failure)
            error = InternalError("The read marker could not be set.")
        socket.send_json(FrameError(error, frame.client_msg_id).to_json())

    if markers is None:  # a factory built without them (some tests): nothing to move
        return succeed(None)
    marking = Deferred.fromCoroutine(
        markers.mark(session.identity, session.room_id, frame.message_id)
    )
    return marking.addCallbacks(lambda _: None, refused)
