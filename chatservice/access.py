"""Who may read and post in a room: the rules every room-scoped route and the WebSocket share.

A public room is open to everyone but those it banned. A private room does
not exist for anyone who is not a member: every answer about it is the
same ``404`` as for a room id nobody ever used (the message included), so
its existence leaks through no route. An invited user knows the room and
is told to join it first.

Posting needs more: the room must not be archived and the poster not
muted. A public room is joined implicitly by posting in it or opening its
WebSocket, so clients of the original contract keep working unchanged.

The decisions read the store (the room and the user's membership row,
together) once per request or handshake, never per WebSocket frame: an open socket's
rights change only by a control event (``control.py``), which closes it
or updates ``roompolicy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.access_models import BANNED, INVITED, JOINED, Member, MemberUpdate
from chatservice.errors import Forbidden, NotFound
from chatservice.hub import IHub, RoomEvent, publish_quietly
from chatservice.models import Room
from chatservice.store import IChatStore
from chatservice.tokens import Identity
from chatservice.wire import dumps

NO_SUCH_ROOM = "No such room."
ARCHIVED_REFUSAL = "The room is archived: it is read-only."
MUTED_REFUSAL = "You are muted in this room: you may read but not post."


@dataclass(frozen=True, slots=True)
class Admission:
    """A room a user may use, and their membership row (None in a public room never joined)."""

    room: Room
    member: Member | None

    @property
    def muted(self) -> bool:
        """True if the user may read but not post."""
        return self.member is not None and self.member.muted


class RoomAccess:
    """The read and post rules of rooms, and the implicit join of public rooms."""

    log = Logger()

    def __init__(self, store: IChatStore, hub: IHub, clock: IReactorTime) -> None:
        self._store = store
        self._hub = hub
        self._clock = clock

    async def readable(
        self, identity: Identity, room_id: int, *, invited: bool = False
    ) -> Admission:
        """The room if the user may read it (or, with ``invited``, is invited to it).

        Raises:
            NotFound: no such room, or a private room the user is not in.
            Forbidden: banned from a public room, or invited and not joined yet.
        """
        # One read (one trip through a SQL store's thread pool), not two.
        room, member = await self._store.get_room_and_member(room_id, identity.user_id)
        state = member.state if member is not None else None
        if room.public:
            if state == BANNED:
                raise Forbidden("You are banned from this room.")
            return Admission(room, member)
        if state == JOINED:
            return Admission(room, member)
        if state == INVITED:
            if invited:
                return Admission(room, member)
            raise Forbidden("You are invited to this room: join it before reading it.")
        raise NotFound(NO_SUCH_ROOM)

    async def enter(self, identity: Identity, room_id: int) -> Admission:
        """``readable``, and a public room not joined yet is joined (a ``joined`` event)."""
        admission = await self.readable(identity, room_id)
        state = admission.member.state if admission.member is not None else None
        if state == JOINED:
            return admission
        joined = MemberUpdate("joined", identity.user_id, self.now_ms(), state=JOINED)
        change = await self._store.change_member(room_id, identity.user_id, joined)
        if change.event is not None:
            self.publish_event(change.event.room_id, change.event.id, change.event.to_json())
        return Admission(admission.room, change.member)

    async def postable(self, identity: Identity, room_id: int) -> Admission:
        """``enter``, if the room takes posts from the user.

        Raises:
            Forbidden: the room is archived, or the user is muted in it.
        """
        admission = await self.enter(identity, room_id)
        refuse_post(admission.room, admission.muted)
        return admission

    async def readable_room_ids(self, identity: Identity) -> Sequence[int]:
        """Every room the user may read (what a search over all rooms looks in)."""
        rooms = await self._store.rooms_of(identity.user_id)
        states = {m.room_id: m.state for m in await self._store.memberships_of(identity.user_id)}
        return [
            room.id
            for room in rooms
            if (room.public and states.get(room.id) != BANNED) or states.get(room.id) == JOINED
        ]

    def publish_event(self, room_id: int, event_id: int, payload: dict[str, object]) -> None:
        """Send a stored member event to the room's sockets on every process."""
        publish_quietly(self._hub, RoomEvent(room_id, dumps(payload), event_id=event_id), self.log)

    def now_ms(self) -> int:
        """The clock's time in milliseconds, as every stored time is."""
        return int(self._clock.seconds() * 1000)


def refuse_post(room: Room, muted: bool) -> None:
    """Raise the ``Forbidden`` that stops a post, if one does (as ``roompolicy`` does)."""
    if room.archived:
        raise Forbidden(ARCHIVED_REFUSAL)
    if muted:
        raise Forbidden(MUTED_REFUSAL)
