"""Moderation use cases: kick, ban, unban, mute, unmute, name moderators, edit and archive a room.

The room's owner and moderators moderate; a moderator acts only on plain
members (never on the owner or another moderator), and only the owner names
moderators. Each refusal is ``403 forbidden`` with a sentence that says
which right is missing. Each action is a member event on the room's
timeline and an entry of the audit log; a kick or a ban closes the user's
sockets in the room on every process, a mute or an archive changes what
their open sockets may post (``roompolicy``), through control events.
"""

from __future__ import annotations

from twisted.logger import Logger

from chatservice.access import Admission, RoomAccess
from chatservice.access_models import (
    BANNED,
    INVITED,
    JOINED,
    LEFT,
    MEMBER,
    MODERATOR,
    OWNER,
    Member,
    MemberUpdate,
    NewAuditEntry,
    RoomUpdate,
)
from chatservice.control import Control
from chatservice.errors import Forbidden, InvalidRequest, NotFound
from chatservice.membership import CLOSE_REMOVED
from chatservice.models import Room
from chatservice.roompolicy import ARCHIVED, MUTED
from chatservice.store import IChatStore
from chatservice.tokens import Identity

_RANK = {OWNER: 3, MODERATOR: 2, MEMBER: 1}


class Moderation:
    """What the owner and moderators of a room may do to it and its members."""

    log = Logger()

    def __init__(self, store: IChatStore, access: RoomAccess, control: Control) -> None:
        self._store = store
        self._access = access
        self._control = control

    async def moderator(self, identity: Identity, room_id: int, right: str) -> Admission:
        """The room, if the user moderates it; else ``Forbidden`` naming ``right``."""
        admission = await self._access.readable(identity, room_id)
        member = admission.member
        if member is None or member.state != JOINED or member.role == MEMBER:
            raise Forbidden(f"Only the room's owner and moderators may {right}.")
        return admission

    async def _target(
        self, admission: Admission, user_id: int, right: str, *, present: bool = True
    ) -> Member | None:
        """The member acted on; the actor must outrank them."""
        await self._store.get_user(user_id)
        target = await self._store.get_member(admission.room.id, user_id)
        if present and (target is None or target.state not in (JOINED, INVITED)):
            raise NotFound("That user is not in this room.")
        actor = admission.member
        assert actor is not None
        if target is not None and _RANK[target.role] >= _RANK[actor.role]:
            raise Forbidden(f"Only the room's owner may {right} one of its moderators.")
        return target

    async def kick(self, identity: Identity, room_id: int, user_id: int, reason: str) -> Member:
        """Remove a member (they may rejoin a public room); their sockets in it close."""
        return await self._remove(identity, room_id, user_id, False, reason)

    async def ban(self, identity: Identity, room_id: int, user_id: int, reason: str) -> Member:
        """Keep a user out until unbanned (member or not); their sockets in it close."""
        return await self._remove(identity, room_id, user_id, True, reason)

    async def _remove(
        self, identity: Identity, room_id: int, user_id: int, banned: bool, reason: str
    ) -> Member:
        """A kick, or a ban (which needs no membership): the same steps, other words."""
        if banned:
            right, verb, kind, state = "ban users", "ban", "banned", BANNED
            why = "banned from the room"
        else:
            right, verb, kind, state = "kick members", "kick", "kicked", LEFT
            why = "removed from the room"
        admission = await self.moderator(identity, room_id, right)
        await self._target(admission, user_id, verb, present=not banned)
        member = await self._change(identity, room_id, user_id, kind, reason, state=state)
        self._control.close_sockets(CLOSE_REMOVED, why, user_id=user_id, room_id=room_id)
        return member

    async def unban(self, identity: Identity, room_id: int, user_id: int, reason: str) -> Member:
        """Let a banned user back (they join again themselves)."""
        admission = await self.moderator(identity, room_id, "unban users")
        target = await self._target(admission, user_id, "unban", present=False)
        if target is None or target.state != BANNED:
            raise NotFound("That user is not banned from this room.")
        return await self._change(identity, room_id, user_id, "unbanned", reason, state=LEFT)

    async def mute(self, identity: Identity, room_id: int, user_id: int, reason: str) -> Member:
        """Let a member read but not post; their open sockets follow at once."""
        return await self._set_muted(identity, room_id, user_id, True, reason)

    async def unmute(self, identity: Identity, room_id: int, user_id: int, reason: str) -> Member:
        """Let a muted member post again."""
        return await self._set_muted(identity, room_id, user_id, False, reason)

    async def _set_muted(
        self, identity: Identity, room_id: int, user_id: int, muted: bool, reason: str
    ) -> Member:
        admission = await self.moderator(identity, room_id, "mute members")
        await self._target(admission, user_id, "mute")
        kind = "muted" if muted else "unmuted"
        member = await self._change(identity, room_id, user_id, kind, reason, muted=muted)
        self._control.publish(MUTED, room_id=room_id, user_id=user_id, muted=muted)
        return member

    async def set_role(self, identity: Identity, room_id: int, user_id: int, role: str) -> Member:
        """Name a member moderator, or make a moderator a plain member again (owner only)."""
        if role not in (MODERATOR, MEMBER):
            raise InvalidRequest("'role' must be 'moderator' or 'member'.")
        admission = await self._access.readable(identity, room_id)
        actor = admission.member
        if actor is None or actor.role != OWNER or actor.state != JOINED:
            raise Forbidden("Only the room's owner may name or remove moderators.")
        target = await self._target(admission, user_id, "change the role of")
        assert target is not None
        if target.state != JOINED:
            raise NotFound("That user is not in this room.")
        change = await self._change(
            identity, room_id, user_id, "role_changed", "", role=role, detail={"role": role}
        )
        return change

    async def update_room(
        self, identity: Identity, room_id: int, name: str | None, description: str | None
    ) -> Room:
        """Rename a room or change its description."""
        await self.moderator(identity, room_id, "edit the room")
        room, event = await self._store.update_room(
            room_id,
            RoomUpdate(
                identity.user_id, self._access.now_ms(), name=name, description=description
            ),
        )
        if event is not None:
            self._access.publish_event(room_id, event.id, event.to_json())
            await self.record(identity, "room_updated", room_id, None, "")
        return room

    async def archive(
        self, identity: Identity, room_id: int, archived: bool, reason: str, *, admin: bool = False
    ) -> Room:
        """Make a room read-only (or writable again); its open sockets follow at once."""
        if not admin:
            await self.moderator(identity, room_id, "archive the room")
        room, event = await self._store.update_room(
            room_id, RoomUpdate(identity.user_id, self._access.now_ms(), archived=archived)
        )
        if event is not None:
            self._access.publish_event(room_id, event.id, event.to_json())
            action = "room_archived" if archived else "room_unarchived"
            await self.record(identity, action, room_id, None, reason)
            self._control.publish(ARCHIVED, room_id=room_id, archived=archived)
        return room

    async def audit_log(
        self, identity: Identity, room_id: int, before: int | None, limit: int
    ) -> list[dict[str, object]]:
        """The room's own entries of the audit log, newest first (owner and moderators)."""
        await self.moderator(identity, room_id, "read the room's audit log")
        entries = await self._store.list_audit(room_id, before, limit)
        return [entry.to_json() for entry in entries]

    async def _change(
        self,
        identity: Identity,
        room_id: int,
        user_id: int,
        kind: str,
        reason: str,
        *,
        state: str | None = None,
        role: str | None = None,
        muted: bool | None = None,
        detail: dict[str, object] | None = None,
    ) -> Member:
        shown = dict(detail or {})
        if reason:
            shown["reason"] = reason
        update = MemberUpdate(
            kind, identity.user_id, self._access.now_ms(), state, role, muted, shown
        )
        change = await self._store.change_member(room_id, user_id, update)
        if change.event is not None:
            self._access.publish_event(room_id, change.event.id, change.event.to_json())
            await self.record(identity, kind, room_id, user_id, reason)
        return change.member

    async def record(
        self, identity: Identity, action: str, room_id: int | None, target: int | None, reason: str
    ) -> None:
        """Write one entry of the audit log (and a log line) for an action ``identity`` took."""
        entry = NewAuditEntry(
            identity.user_id, action, self._access.now_ms(), target, room_id, reason
        )
        await self._store.add_audit(entry)
        self.log.info(
            "user {actor} did {action} in room {room_id} (target {target})",
            actor=identity.user_id,
            action=action,
            room_id=room_id,
            target=target,
        )
