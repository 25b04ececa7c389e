"""``DelegatedAccess``: ``IAccessStore`` passed straight to a wrapped store.

For wrappers that change one thing about a store (``GroupCommitStore``
batches messages) and must still be a whole ``IChatStore``.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred

from chatservice import access_models
from chatservice.models import Room
from chatservice.store.access_interface import IAccessStore


class DelegatedAccess:
    """Every ``IAccessStore`` method of ``self._access`` (the wrapped store)."""

    _access: IAccessStore

    def open_direct(self, user_a: int, user_b: int, created_at: int) -> Deferred[Room]:
        """See ``IAccessStore``."""
        return self._access.open_direct(user_a, user_b, created_at)

    def get_member(self, room_id: int, user_id: int) -> Deferred[access_models.Member | None]:
        """See ``IAccessStore``."""
        return self._access.get_member(room_id, user_id)

    def get_room_and_member(
        self, room_id: int, user_id: int
    ) -> Deferred[tuple[Room, access_models.Member | None]]:
        """See ``IAccessStore``."""
        return self._access.get_room_and_member(room_id, user_id)

    def list_members(self, room_id: int) -> Deferred[Sequence[access_models.Member]]:
        """See ``IAccessStore``."""
        return self._access.list_members(room_id)

    def memberships_of(self, user_id: int) -> Deferred[Sequence[access_models.Member]]:
        """See ``IAccessStore``."""
        return self._access.memberships_of(user_id)

    def change_member(
        self, room_id: int, user_id: int, update: access_models.MemberUpdate
    ) -> Deferred[access_models.MemberChange]:
        """See ``IAccessStore``."""
        return self._access.change_member(room_id, user_id, update)

    def rooms_of(self, user_id: int) -> Deferred[Sequence[Room]]:
        """See ``IAccessStore``."""
        return self._access.rooms_of(user_id)

    def find_rooms(self, query: str | None, after: int, limit: int) -> Deferred[Sequence[Room]]:
        """See ``IAccessStore``."""
        return self._access.find_rooms(query, after, limit)

    def update_room(
        self, room_id: int, update: access_models.RoomUpdate
    ) -> Deferred[tuple[Room, access_models.MemberEvent | None]]:
        """See ``IAccessStore``."""
        return self._access.update_room(room_id, update)

    def delete_room(self, room_id: int) -> Deferred[None]:
        """See ``IAccessStore``."""
        return self._access.delete_room(room_id)

    def get_member_events(
        self, room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[access_models.MemberEvent]]:
        """See ``IAccessStore``."""
        return self._access.get_member_events(room_id, after, limit)

    def add_audit(self, entry: access_models.NewAuditEntry) -> Deferred[access_models.AuditEntry]:
        """See ``IAccessStore``."""
        return self._access.add_audit(entry)

    def list_audit(
        self, room_id: int | None, before: int | None, limit: int
    ) -> Deferred[Sequence[access_models.AuditEntry]]:
        """See ``IAccessStore``."""
        return self._access.list_audit(room_id, before, limit)
