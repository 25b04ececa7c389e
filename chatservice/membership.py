"""Membership use cases: create and list rooms, join, leave, invite, list members, open a DM.

Every change is a member event on the room's timeline, published to the
room's sockets like a message. Leaving closes the user's sockets in the
room on every process (``control.py``), so a user who left reads nothing
more through them.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.logger import Logger

from chatservice.access import RoomAccess
from chatservice.access_models import (
    BANNED,
    INVITED,
    JOINED,
    LEFT,
    MEMBER,
    OWNER,
    Member,
    MemberChange,
    MemberUpdate,
)
from chatservice.control import Control
from chatservice.errors import Conflict, Forbidden, InvalidRequest, NotFound
from chatservice.models import NewRoom, Room
from chatservice.store import IChatStore
from chatservice.tokens import Identity
from chatservice.wire import RoomForm

# Close code and reason of a socket whose user is no longer in its room.
CLOSE_REMOVED = 4003


def _membership(member: Member | None) -> dict[str, object] | None:
    """What ``GET /api/rooms`` says of the caller's own place in a room."""
    if member is None:
        return None
    return {"state": member.state, "role": member.role, "muted": member.muted}


class Membership:
    """Rooms as a user sees them, and their own place in them."""

    log = Logger()

    def __init__(self, store: IChatStore, access: RoomAccess, control: Control) -> None:
        self._store = store
        self._access = access
        self._control = control

    async def create(self, form: RoomForm, creator: Identity, visibility: str) -> Room:
        """Create a room owned by its creator; ``Conflict`` if the name is taken."""
        room = await self._store.create_room(
            NewRoom(
                form.name, form.description, creator.user_id, self._access.now_ms(), visibility
            )
        )
        self.log.info(
            "{visibility} room {room_id} created by user {user_id}",
            visibility=visibility,
            room_id=room.id,
            user_id=creator.user_id,
        )
        return room

    async def rooms(self, identity: Identity) -> list[dict[str, object]]:
        """The rooms the user sees, each with the user's ``membership`` in it (None: no row).

        Public rooms, and private ones they are in or invited to. Two reads,
        whatever the number of rooms.
        """
        rooms = await self._store.rooms_of(identity.user_id)
        mine = {m.room_id: m for m in await self._store.memberships_of(identity.user_id)}
        return [{**room.to_json(), "membership": _membership(mine.get(room.id))} for room in rooms]

    async def join(self, identity: Identity, room_id: int) -> Member:
        """Join a public room, or accept an invitation to a private one."""
        room = await self._store.get_room(room_id)
        member = await self._store.get_member(room.id, identity.user_id)
        state = member.state if member is not None else None
        if state == BANNED:
            if not room.public:
                raise NotFound("No such room.")
            raise Forbidden("You are banned from this room.")
        if not room.public and state not in (INVITED, JOINED):
            raise NotFound("No such room.")
        change = await self._change(room_id, identity.user_id, identity.user_id, "joined", JOINED)
        return change.member

    async def leave(self, identity: Identity, room_id: int) -> None:
        """Leave a room (or decline an invitation); the user's sockets in it close."""
        admission = await self._access.readable(identity, room_id, invited=True)
        member = admission.member
        if member is None or member.state not in (JOINED, INVITED):
            return
        if member.role == OWNER:
            raise Conflict("The owner cannot leave the room: name another owner first.")
        await self._change(room_id, identity.user_id, identity.user_id, "left", LEFT)
        self._control.close_sockets(
            CLOSE_REMOVED, "left the room", user_id=identity.user_id, room_id=room_id
        )

    async def invite(self, identity: Identity, room_id: int, user_id: int) -> Member:
        """Invite a user into a room the inviter is in (owner or moderator, in a private one)."""
        admission = await self._access.readable(identity, room_id)
        inviter = admission.member
        if inviter is None or inviter.state != JOINED:
            raise Forbidden("Only members of the room may invite to it.")
        if not admission.room.public and inviter.role == MEMBER:
            raise Forbidden("Only the room's owner and moderators may invite to a private room.")
        await self._store.get_user(user_id)
        invited = await self._store.get_member(room_id, user_id)
        if invited is not None and invited.state == BANNED:
            raise Conflict("That user is banned from this room: unban them first.")
        if invited is not None and invited.state in (JOINED, INVITED):
            return invited
        return (await self._change(room_id, user_id, identity.user_id, "invited", INVITED)).member

    async def members(self, identity: Identity, room_id: int) -> Sequence[Member]:
        """The room's members and invitees with their roles (bans too, for moderators)."""
        admission = await self._access.readable(identity, room_id)
        rows = await self._store.list_members(room_id)
        viewer = admission.member
        moderator = viewer is not None and viewer.state == JOINED and viewer.role != MEMBER
        shown = (JOINED, INVITED, BANNED) if moderator else (JOINED, INVITED)
        return [m for m in rows if m.state in shown]

    async def open_direct(self, identity: Identity, user_id: int) -> Room:
        """The private room of the caller and ``user_id``: the same room every time."""
        if user_id == identity.user_id:
            raise InvalidRequest("A direct conversation needs another user.")
        return await self._store.open_direct(identity.user_id, user_id, self._access.now_ms())

    async def _change(
        self, room_id: int, user_id: int, actor_id: int, kind: str, state: str
    ) -> MemberChange:
        update = MemberUpdate(kind, actor_id, self._access.now_ms(), state=state)
        change = await self._store.change_member(room_id, user_id, update)
        if change.event is not None:
            self._access.publish_event(room_id, change.event.id, change.event.to_json())
        return change
