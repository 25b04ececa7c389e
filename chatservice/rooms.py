"""List, create and look up rooms; keep the General room in existence."""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.models import NewRoom, Room
from chatservice.store import IChatStore
from chatservice.wire import RoomForm

GENERAL_ROOM = "General"
GENERAL_DESCRIPTION = "Everyone's room."


class Rooms:
    """Room use cases, independent of HTTP."""

    log = Logger()

    def __init__(self, store: IChatStore, clock: IReactorTime) -> None:
        self._store = store
        self._clock = clock

    async def ensure_general(self) -> Room:
        """Create the General room if the store does not have it yet."""
        return await self._store.ensure_room(GENERAL_ROOM, GENERAL_DESCRIPTION, self._now_ms())

    async def list(self) -> Sequence[Room]:
        """Return every room ordered by id."""
        return await self._store.list_rooms()

    async def create(self, form: RoomForm, creator_id: int) -> Room:
        """Create a room; ``Conflict`` if the name is taken (case-insensitively)."""
        room = await self._store.create_room(
            NewRoom(form.name, form.description, creator_id, self._now_ms())
        )
        self.log.info(
            "room {room_id} created by user {user_id}", room_id=room.id, user_id=creator_id
        )
        return room

    async def get(self, room_id: int) -> Room:
        """Return the room; ``NotFound`` if there is none."""
        return await self._store.get_room(room_id)

    def _now_ms(self) -> int:
        return int(self._clock.seconds() * 1000)
