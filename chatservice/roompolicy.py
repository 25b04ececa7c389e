"""What an open socket may post: its room's archive flag and its user's mute, kept in memory.

A WebSocket frame must not cost a store read, so the two facts that can
stop a post after the handshake live here: set at the handshake from the
admission (``access.Admission``), and changed on every process by the
control events ``moderation.py`` publishes when a room is archived or a
member muted. A post, an edit or a reaction over a socket asks ``refusal``:
two set lookups.
"""

from __future__ import annotations

from typing import Any

from chatservice.access import ARCHIVED_REFUSAL, MUTED_REFUSAL, Admission
from chatservice.control import Control
from chatservice.errors import Forbidden

# Control event types: {"room_id", "archived"} and {"room_id", "user_id", "muted"}.
ARCHIVED = "room_archived"
MUTED = "member_muted"


class PostingPolicy:
    """The archived rooms and muted members this process's sockets need to know of."""

    def __init__(self, control: Control) -> None:
        self._archived: set[int] = set()
        self._muted: set[tuple[int, int]] = set()
        control.on(ARCHIVED, self._room_archived)
        control.on(MUTED, self._member_muted)

    def admit(self, user_id: int, admission: Admission) -> None:
        """Note what the handshake read of the room and the member."""
        self.set_archived(admission.room.id, admission.room.archived)
        self.set_muted(admission.room.id, user_id, admission.muted)

    def refusal(self, room_id: int, user_id: int) -> Forbidden | None:
        """The error a post in the room by the user gets now, or None."""
        if room_id in self._archived:
            return Forbidden(ARCHIVED_REFUSAL)
        if (room_id, user_id) in self._muted:
            return Forbidden(MUTED_REFUSAL)
        return None

    def set_archived(self, room_id: int, archived: bool) -> None:
        """Note whether the room is read-only."""
        if archived:
            self._archived.add(room_id)
        else:
            self._archived.discard(room_id)

    def set_muted(self, room_id: int, user_id: int, muted: bool) -> None:
        """Note whether the member may post."""
        if muted:
            self._muted.add((room_id, user_id))
        else:
            self._muted.discard((room_id, user_id))

    def _room_archived(self, event: dict[str, Any]) -> None:
        self.set_archived(int(event["room_id"]), bool(event["archived"]))

    def _member_muted(self, event: dict[str, Any]) -> None:
        self.set_muted(int(event["room_id"]), int(event["user_id"]), bool(event["muted"]))
