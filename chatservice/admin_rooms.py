"""What a server admin does to any room: list them, read their members, archive, delete.

The right is the admin's (``UserAdmin.require_admin``), not a role in the
room: an admin need not be a member. Archiving is the moderators' archive
(``Moderation.archive``), so its member event, audit entry and control
event are the same; deleting makes the room ``NotFound`` everywhere and
closes its sockets on every process. ``General`` cannot be deleted.
Listing and members are the admin panel's view of every room, private and
direct ones included, which no member route gives a non-member.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.logger import Logger

from chatservice.access_models import BANNED, INVITED, JOINED, Member
from chatservice.account_forms import UsersQuery
from chatservice.admin_users import UserAdmin
from chatservice.control import Control
from chatservice.errors import Conflict
from chatservice.membership import CLOSE_REMOVED
from chatservice.models import Room
from chatservice.moderation import Moderation
from chatservice.rooms import GENERAL_ROOM
from chatservice.store import IChatStore
from chatservice.tokens import Identity

ROOM_DELETED = "room_deleted"
# Who a room's member list shows an admin: as its moderators see it.
_LISTED = (JOINED, INVITED, BANNED)


class RoomAdmin:
    """Server-admin use cases on rooms, independent of HTTP."""

    log = Logger()

    def __init__(
        self, store: IChatStore, users: UserAdmin, moderation: Moderation, control: Control
    ) -> None:
        self._store = store
        self._users = users
        self._moderation = moderation
        self._control = control

    async def list_rooms(self, identity: Identity, query: UsersQuery) -> Sequence[Room]:
        """A page of every room by id (those whose name contains ``query.query`` if given).

        Raises:
            Forbidden: the caller is not a server admin.
        """
        await self._users.require_admin(identity)
        return await self._store.find_rooms(query.query, query.after, query.limit)

    async def members(self, identity: Identity, room_id: int) -> Sequence[Member]:
        """Any room's members, invitees and bans, with their roles.

        Raises:
            Forbidden: the caller is not a server admin.
            NotFound: no such room (or it was deleted).
        """
        await self._users.require_admin(identity)
        await self._store.get_room(room_id)
        rows = await self._store.list_members(room_id)
        return [member for member in rows if member.state in _LISTED]

    async def archive(self, identity: Identity, room_id: int, archived: bool, reason: str) -> Room:
        """Make any room read-only, or writable again."""
        await self._users.require_admin(identity)
        return await self._moderation.archive(identity, room_id, archived, reason, admin=True)

    async def delete(self, identity: Identity, room_id: int, reason: str) -> None:
        """Delete any room but General; its sockets close (4003) on every process."""
        await self._users.require_admin(identity)
        room = await self._store.get_room(room_id)
        if room.name == GENERAL_ROOM and room.created_by is None:
            raise Conflict("The General room cannot be deleted.")
        await self._store.delete_room(room_id)
        self._control.close_sockets(CLOSE_REMOVED, "the room was deleted", room_id=room_id)
        await self._moderation.record(identity, ROOM_DELETED, room_id, None, reason)
