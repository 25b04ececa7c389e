"""``SQLStore``'s access-control methods, on ``self.database``; the SQL is ``access_queries``.

A mixin, like ``sql_timeline``. Ids that cannot be bound as 64-bit integers
are answered here without a round trip: such a room or user does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed

from chatservice import access_models
from chatservice.errors import NotFound
from chatservice.models import Room
from chatservice.store import access_queries
from chatservice.store.database import Database
from chatservice.store.member_reads import MemberReads
from chatservice.store.memory_access import direct_key, direct_name_key
from chatservice.store.ranges import INT64_MAX, fits


class SQLAccess:
    """Memberships, room settings, member events and the audit log in SQL."""

    database: Database
    member_reads: MemberReads

    def open_direct(self, user_a: int, user_b: int, created_at: int) -> Deferred[Room]:
        """The two users' private room, created if missing."""
        if not (fits(user_a) and fits(user_b)):
            return fail(NotFound("No such user."))
        key = direct_key(user_a, user_b)
        return self.database.run_interaction(
            "open_direct",
            access_queries.open_direct,
            user_a,
            user_b,
            key,
            direct_name_key(key),
            created_at,
        )

    def get_member(self, room_id: int, user_id: int) -> Deferred[access_models.Member | None]:
        """The user's row in the room, if any."""
        if not (fits(room_id) and fits(user_id)):
            return succeed(None)
        return self.database.run_read("get_member", access_queries.get_member, room_id, user_id)

    def get_room_and_member(
        self, room_id: int, user_id: int
    ) -> Deferred[tuple[Room, access_models.Member | None]]:
        """The room and the user's row in it, if any, in one read; ``NotFound``."""
        if not fits(room_id):
            return fail(NotFound("No such room."))
        if not fits(user_id):
            return self.database.run_read(
                "get_room_and_member", access_queries.room_without_member, room_id
            )
        # Handshakes in a burst share trips to the pool (``member_reads``).
        return self.member_reads.get(room_id, user_id)

    def list_members(self, room_id: int) -> Deferred[Sequence[access_models.Member]]:
        """Every row of the room, by user id."""
        if not fits(room_id):
            return succeed([])
        return self.database.run_read("list_members", access_queries.list_members, room_id)

    def memberships_of(self, user_id: int) -> Deferred[Sequence[access_models.Member]]:
        """Every row of the user, by room id."""
        if not fits(user_id):
            return succeed([])
        return self.database.run_read("memberships_of", access_queries.memberships_of, user_id)

    def change_member(
        self, room_id: int, user_id: int, update: access_models.MemberUpdate
    ) -> Deferred[access_models.MemberChange]:
        """Set the fields given and record the event, unless nothing changed."""
        if not fits(room_id):
            return fail(NotFound("No such room."))
        if not (fits(user_id) and fits(update.actor_id)):
            return fail(NotFound("No such user."))
        return self.database.run_interaction(
            "change_member", access_queries.change_member, room_id, user_id, update
        )

    def rooms_of(self, user_id: int) -> Deferred[Sequence[Room]]:
        """Public rooms, and private ones the user joined or was invited to."""
        return self.database.run_read(
            "rooms_of", access_queries.rooms_of, user_id if fits(user_id) else 0
        )

    def find_rooms(self, query: str | None, after: int, limit: int) -> Deferred[Sequence[Room]]:
        """A page of every live room by id, those whose name contains ``query`` if given."""
        if limit <= 0 or after >= INT64_MAX:
            return succeed([])
        return self.database.run_read(
            "find_rooms",
            access_queries.find_rooms,
            query,
            max(after, 0),
            min(limit, INT64_MAX),
        )

    def update_room(
        self, room_id: int, update: access_models.RoomUpdate
    ) -> Deferred[tuple[Room, access_models.MemberEvent | None]]:
        """Change the settings given; one event says what changed."""
        if not fits(room_id):
            return fail(NotFound("No such room."))
        return self.database.run_interaction(
            "update_room",
            access_queries.update_room,
            room_id,
            update.actor_id if fits(update.actor_id) else None,
            update.ts,
            update.name,
            update.description,
            update.archived,
        )

    def delete_room(self, room_id: int) -> Deferred[None]:
        """Hide the room for good."""
        if not fits(room_id):
            return fail(NotFound("No such room."))
        return self.database.run_interaction("delete_room", access_queries.delete_room, room_id)

    def get_member_events(
        self, room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[access_models.MemberEvent]]:
        """The room's member events after ``after``, oldest first."""
        if limit <= 0 or not fits(room_id) or after >= INT64_MAX:
            return succeed([])
        return self.database.run_read(
            "get_member_events",
            access_queries.get_member_events,
            room_id,
            max(after, -1),
            min(limit, INT64_MAX),
        )

    def add_audit(self, entry: access_models.NewAuditEntry) -> Deferred[access_models.AuditEntry]:
        """Append to the log."""
        return self.database.run_interaction("add_audit", access_queries.add_audit, entry)

    def list_audit(
        self, room_id: int | None, before: int | None, limit: int
    ) -> Deferred[Sequence[access_models.AuditEntry]]:
        """Newest first, a room's or all, below ``before``."""
        if limit <= 0 or (room_id is not None and not fits(room_id)):
            return succeed([])
        bound = before if before is None or fits(before) else None
        return self.database.run_read(
            "list_audit", access_queries.list_audit, room_id, bound, min(limit, INT64_MAX)
        )
