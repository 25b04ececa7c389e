"""``MemoryStore``'s access-control methods: memberships, room settings, the audit log.

A mixin, so ``memory.py`` keeps to its size. It works on the store's own
dicts of users and rooms and takes event ids from its timeline, so member
events and messages share one sequence as in the SQL stores.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed

from chatservice import access_models
from chatservice.errors import Conflict, NotFound
from chatservice.models import Room, User
from chatservice.store.memory_timeline import MemoryTimeline


def direct_key(user_a: int, user_b: int) -> str:
    """The key of two users' direct room: the same whichever asks."""
    low, high = sorted((user_a, user_b))
    return f"{low}:{high}"


def direct_name_key(key: str) -> str:
    """A direct room's ``name_key``: starts with a control character no room name may hold."""
    return f"\x01dm:{key}"


class MemoryAccess:
    """Access control on the memory store's dicts."""

    _users: dict[int, User]
    _rooms: dict[int, Room]
    _room_ids_by_name: dict[str, int]
    _timeline: MemoryTimeline

    def _init_access(self) -> None:
        self._members: dict[tuple[int, int], access_models.Member] = {}
        self._member_events: dict[int, list[access_models.MemberEvent]] = {}
        self._deleted_rooms: set[int] = set()
        self._direct: dict[str, int] = {}
        self._audit: list[access_models.AuditEntry] = []

    _insert_room: Callable[..., Room]  # memory.py's

    def _live_room(self, room_id: int) -> Room:
        room = self._rooms.get(room_id)
        if room is None or room_id in self._deleted_rooms:
            raise NotFound("No such room.")
        return room

    def _set_member(
        self,
        room_id: int,
        user_id: int,
        ts: int,
        state: str | None,
        role: str | None,
        muted: bool | None,
    ) -> tuple[access_models.Member, bool]:
        old = self._members.get((room_id, user_id))
        settled = access_models.settled(old, state, role, muted)
        new = access_models.Member(room_id, user_id, self._users[user_id].username, *settled, ts)
        if old is not None and dataclasses.replace(old, updated_at=ts) == new:
            return old, False
        self._members[(room_id, user_id)] = new
        return new, True

    def _record(
        self,
        room_id: int,
        kind: str,
        user_id: int | None,
        actor_id: int | None,
        ts: int,
        detail: dict[str, Any],
    ) -> access_models.MemberEvent:
        event = access_models.MemberEvent(
            self._timeline._take_id(), room_id, kind, user_id, actor_id, ts, detail
        )
        self._member_events.setdefault(room_id, []).append(event)
        return event

    def open_direct(self, user_a: int, user_b: int, created_at: int) -> Deferred[Room]:
        """The two users' private room, created with both joined if missing."""
        if user_a not in self._users or user_b not in self._users:
            return fail(NotFound("No such user."))
        key = direct_key(user_a, user_b)
        room_id = self._direct.get(key)
        if room_id is not None:
            return succeed(self._rooms[room_id])
        names = sorted({self._users[user_a].username, self._users[user_b].username})
        room = self._insert_room(
            " & ".join(names), "", None, created_at, access_models.PRIVATE, direct_name_key(key)
        )
        room = dataclasses.replace(room, direct=True)
        self._rooms[room.id] = room
        self._direct[key] = room.id
        for user_id in sorted({user_a, user_b}):
            self._set_member(
                room.id, user_id, created_at, access_models.JOINED, access_models.MEMBER, False
            )
        return succeed(room)

    def get_member(self, room_id: int, user_id: int) -> Deferred[access_models.Member | None]:
        """The user's row in the room, if any."""
        return succeed(self._members.get((room_id, user_id)))

    def get_room_and_member(
        self, room_id: int, user_id: int
    ) -> Deferred[tuple[Room, access_models.Member | None]]:
        """The room and the user's row in it, if any; ``NotFound``."""
        try:
            room = self._live_room(room_id)
        except NotFound as error:
            return fail(error)
        return succeed((room, self._members.get((room_id, user_id))))

    def list_members(self, room_id: int) -> Deferred[Sequence[access_models.Member]]:
        """Every row of the room, by user id."""
        rows = [m for (r, _), m in self._members.items() if r == room_id]
        return succeed(sorted(rows, key=lambda m: m.user_id))

    def memberships_of(self, user_id: int) -> Deferred[Sequence[access_models.Member]]:
        """Every row of the user, by room id."""
        rows = [m for (_, u), m in self._members.items() if u == user_id]
        return succeed(sorted(rows, key=lambda m: m.room_id))

    def change_member(
        self, room_id: int, user_id: int, update: access_models.MemberUpdate
    ) -> Deferred[access_models.MemberChange]:
        """Set the fields given and record the event, unless nothing changed."""
        try:
            self._live_room(room_id)
        except NotFound as error:
            return fail(error)
        actor_id = update.actor_id
        if user_id not in self._users or (actor_id is not None and actor_id not in self._users):
            return fail(NotFound("No such user."))
        member, changed = self._set_member(
            room_id, user_id, update.ts, update.state, update.role, update.muted
        )
        if not changed:
            return succeed(access_models.MemberChange(member, None))
        event = self._record(
            room_id, update.kind, user_id, actor_id, update.ts, dict(update.detail)
        )
        return succeed(access_models.MemberChange(member, event))

    def rooms_of(self, user_id: int) -> Deferred[Sequence[Room]]:
        """Public rooms, and private ones the user joined or was invited to."""
        visible = [
            room
            for room_id, room in sorted(self._rooms.items())
            if room_id not in self._deleted_rooms
            and (
                room.public
                or (
                    (m := self._members.get((room_id, user_id))) is not None
                    and m.state in (access_models.JOINED, access_models.INVITED)
                )
            )
        ]
        return succeed(visible)

    def find_rooms(self, query: str | None, after: int, limit: int) -> Deferred[Sequence[Room]]:
        """A page of every live room by id, those whose name contains ``query`` if given."""
        wanted = query.casefold() if query else None
        found: list[Room] = []
        for room_id in sorted(self._rooms):
            if len(found) >= limit:
                break
            room = self._rooms[room_id]
            if (
                room_id > after
                and room_id not in self._deleted_rooms
                and (wanted is None or wanted in room.name.casefold())
            ):
                found.append(room)
        return succeed(found)

    def update_room(
        self, room_id: int, update: access_models.RoomUpdate
    ) -> Deferred[tuple[Room, access_models.MemberEvent | None]]:
        """Change the settings given; one event says what changed."""
        name, description, archived = update.name, update.description, update.archived
        try:
            room = self._live_room(room_id)
        except NotFound as error:
            return fail(error)
        changes: dict[str, Any] = {}
        if name is not None and name != room.name:
            holder = self._room_ids_by_name.get(name.casefold())
            if holder is not None and holder != room_id:
                return fail(Conflict("That room name is already taken."))
            del self._room_ids_by_name[room.name.casefold()]
            self._room_ids_by_name[name.casefold()] = room_id
            changes["name"] = name
        if description is not None and description != room.description:
            changes["description"] = description
        if archived is not None and archived != room.archived:
            changes["archived"] = archived
        if not changes:
            return succeed((room, None))
        room = dataclasses.replace(room, **changes)
        self._rooms[room_id] = room
        kind = "room_archived" if "archived" in changes else "room_updated"
        event = self._record(room_id, kind, None, update.actor_id, update.ts, changes)
        return succeed((room, event))

    def delete_room(self, room_id: int) -> Deferred[None]:
        """Hide the room for good."""
        try:
            room = self._live_room(room_id)
        except NotFound as error:
            return fail(error)
        self._deleted_rooms.add(room_id)
        self._room_ids_by_name.pop(room.name.casefold(), None)
        return succeed(None)

    def get_member_events(
        self, room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[access_models.MemberEvent]]:
        """The room's member events after ``after``, oldest first."""
        events = self._member_events.get(room_id, [])
        start = bisect.bisect_right([e.id for e in events], after)
        return succeed(events[start : start + max(limit, 0)])

    def add_audit(self, entry: access_models.NewAuditEntry) -> Deferred[access_models.AuditEntry]:
        """Append to the log."""
        recorded = access_models.AuditEntry(
            len(self._audit) + 1,
            entry.actor_id,
            entry.action,
            entry.at,
            entry.target_user_id,
            entry.room_id,
            entry.reason,
        )
        self._audit.append(recorded)
        return succeed(recorded)

    def list_audit(
        self, room_id: int | None, before: int | None, limit: int
    ) -> Deferred[Sequence[access_models.AuditEntry]]:
        """Newest first, a room's or all, below ``before``."""
        found = [
            e
            for e in reversed(self._audit)
            if (room_id is None or e.room_id == room_id) and (before is None or e.id < before)
        ]
        return succeed(found[: max(limit, 0)])
