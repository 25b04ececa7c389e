"""After a hub outage, check every open socket against the store's memberships again.

Kicks, bans, mutes and archives reach other processes' sockets as control
events (``control.py``), which travel like room events: while this
process's link to the others is down (a Redis outage), they are lost. So
when control events flow again after an outage (``Control.on_restored``,
the one place every "something may have been lost" handler hangs), each
room of this process that has sockets is read again — the room and
its membership rows, two reads per room, not per socket — and what a lost
event would have done is done now: the sockets of users who left or were
banned close with ``4003``, and the posting policy learns the room's
archive flag and its members' mutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.access_models import JOINED
from chatservice.control import ClosableSocket
from chatservice.errors import NotFound
from chatservice.membership import CLOSE_REMOVED
from chatservice.roompolicy import PostingPolicy
from chatservice.store import IChatStore


class AccessRecheck:
    """Reads the rooms this process has sockets in and applies the changes they missed."""

    log = Logger()

    def __init__(
        self,
        store: IChatStore,
        sockets: Callable[[], Iterable[ClosableSocket]],
        policy: PostingPolicy,
    ) -> None:
        self._store = store
        self._sockets = sockets
        self._policy = policy

    def recheck(self) -> list[Deferred[None]]:
        """Check every room with sockets here (``Control.on_restored``); in the background."""
        by_room: dict[int, list[ClosableSocket]] = {}
        for socket in self._sockets():
            by_room.setdefault(socket.session.room_id, []).append(socket)
        checks = []
        for room_id, sockets in by_room.items():
            checking = Deferred.fromCoroutine(self._check(room_id, sockets))
            checks.append(checking.addErrback(self._failed, room_id))
        return checks

    async def _check(self, room_id: int, sockets: list[ClosableSocket]) -> None:
        try:
            room = await self._store.get_room(room_id)
        except NotFound:
            self._close(sockets, lambda user_id: True, "the room was deleted")
            return
        members = {m.user_id: m for m in await self._store.list_members(room_id)}
        self._policy.set_archived(room_id, room.archived)

        def gone(user_id: int) -> bool:
            member = members.get(user_id)
            if member is None:
                # A public room's reader need not have a row; a private room's must.
                return not room.public
            return member.state != JOINED

        self._close(sockets, gone, "removed from the room")
        for member in members.values():
            self._policy.set_muted(room_id, member.user_id, member.muted)

    def _close(
        self, sockets: list[ClosableSocket], gone: Callable[[int], bool], reason: str
    ) -> None:
        for socket in sockets:
            if gone(socket.session.identity.user_id):
                socket.close_with(CLOSE_REMOVED, reason)

    def _failed(self, failure: Failure, room_id: int) -> None:
        self.log.failure(
            "checking room {room_id}'s sockets after a gap failed", failure, room_id=room_id
        )
