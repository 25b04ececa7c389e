"""``IAccessStore``: the store's part of access control (issue 11).

Memberships with roles and states, the direct-message room of two users,
room settings, the room timeline's member events, and the audit log. Every
backend implements it beside ``IChatStore`` (which extends it): the memory
store in ``memory_access``, the SQL stores in ``sql_access`` with the
queries of ``access_queries``. Rights are decided by the use cases
(``membership.py``, ``moderation.py``); the store records.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from zope.interface import Interface

from chatservice import access_models
from chatservice.models import Room


class IAccessStore(Interface):
    """Memberships, room settings, member events and the audit log."""

    def open_direct(user_a: int, user_b: int, created_at: int) -> Deferred[Room]:
        """Fire with the direct room of two users, creating it if missing.

        Created private, with both users joined as members. ``NotFound`` if
        either user does not exist.
        """

    def get_member(room_id: int, user_id: int) -> Deferred[access_models.Member | None]:
        """Fire with the user's membership row in the room, or None if they never had one."""

    def get_room_and_member(
        room_id: int, user_id: int
    ) -> Deferred[tuple[Room, access_models.Member | None]]:
        """Fire with the room and the user's row in it (or None), read together; ``NotFound``.

        What a handshake or a room-scoped request decides access with
        (``access.RoomAccess.readable``): one read instead of ``get_room``
        then ``get_member``, so one trip through a SQL store's thread pool.
        """

    def list_members(room_id: int) -> Deferred[Sequence[access_models.Member]]:
        """Fire with every membership row of the room (any state), by user id."""

    def memberships_of(user_id: int) -> Deferred[Sequence[access_models.Member]]:
        """Fire with every membership row of the user (any state), by room id."""

    def change_member(
        room_id: int, user_id: int, update: access_models.MemberUpdate
    ) -> Deferred[access_models.MemberChange]:
        """Set the given fields of a membership (creating the row) and record a member event.

        Fields left None keep their value (a new row is a ``joined``
        ``member``, not muted, unless given). A change that changes nothing
        records nothing (``MemberChange.event`` is None). The event's id is
        the next of the timeline's sequence; the update's ``kind`` and
        ``detail`` say what happened. ``NotFound`` if the room or the user does not exist.
        """

    def rooms_of(user_id: int) -> Deferred[Sequence[Room]]:
        """Fire with the rooms the user may see, by id.

        Public rooms, and private ones they joined or were invited to.
        """

    def find_rooms(query: str | None, after: int, limit: int) -> Deferred[Sequence[Room]]:
        """Fire with a page of every room not deleted (private and direct too), by id.

        For server admins: the rooms with an id above ``after``, whose name
        contains ``query`` case-insensitively when it is given (``%`` and
        ``_`` are plain characters), at most ``limit`` of them.
        """

    def update_room(
        room_id: int, update: access_models.RoomUpdate
    ) -> Deferred[tuple[Room, access_models.MemberEvent | None]]:
        """Change a room's settings; fire with the room after and the event recorded.

        ``room_updated`` for a name or description, ``room_archived`` for
        ``archived`` (its detail says which way); None if nothing changed.
        ``Conflict`` if the name is taken, ``NotFound`` if there is no room.
        """

    def delete_room(room_id: int) -> Deferred[None]:
        """Delete a room: from now on it is ``NotFound`` everywhere. Its rows stay."""

    def get_member_events(
        room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[access_models.MemberEvent]]:
        """Fire with the room's member events after ``after``, oldest first, at most ``limit``."""

    def add_audit(entry: access_models.NewAuditEntry) -> Deferred[access_models.AuditEntry]:
        """Record an action; fire with it and its id."""

    def list_audit(
        room_id: int | None, before: int | None, limit: int
    ) -> Deferred[Sequence[access_models.AuditEntry]]:
        """Fire with recorded actions, newest first, with ids below ``before``.

        A room's actions, or every one for ``room_id`` None.
        """
