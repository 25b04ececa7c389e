"""Presence: who is in a room (first socket to last) and who is typing in it.

"First" and "last" are the whole service's, not this process's: the
cluster (``cluster.py``) decides, so a user with sockets on two processes
stays online while either is open. The announcement is a room event like
any other, through the hub, so every process's sockets hear it.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.cluster import ICluster
from chatservice.hub import IHub, RoomEvent, publish_quietly
from chatservice.ratelimit import RateLimiter
from chatservice.websocket import TYPING_RATE, SocketSession
from chatservice.wire import dumps

ONLINE = "online"
OFFLINE = "offline"


def presence_payload(room_id: int, user_id: int, username: str, status: str) -> bytes:
    """The ``presence`` frame, encoded once for every socket of the room."""
    return dumps(
        {
            "type": "presence",
            "room_id": room_id,
            "user_id": user_id,
            "username": username,
            "status": status,
        }
    )


class Presence:
    """Asks the cluster whether a socket's arrival or departure changes presence; announces it."""

    log = Logger()

    def __init__(self, cluster: ICluster, hub: IHub, clock: IReactorTime) -> None:
        self._cluster = cluster
        self._hub = hub
        # Typing notices are per process: a few lost or doubled cost nothing.
        self._typing_limiter = RateLimiter("typing-per-user", TYPING_RATE, clock)
        # The users of a process that died are announced by whoever notices.
        cluster.on_presence(self.announce)

    def joined(self, session: SocketSession) -> None:
        """A socket of the user opened in the room."""
        identity = session.identity
        arriving = self._cluster.arrive(session.room_id, identity.user_id, identity.username)
        arriving.addCallbacks(self._changed, self._failed, callbackArgs=(session, ONLINE))

    def left(self, session: SocketSession) -> None:
        """A socket of the user in the room closed."""
        departing = self._cluster.depart(session.room_id, session.identity.user_id)
        departing.addCallbacks(self._changed, self._failed, callbackArgs=(session, OFFLINE))

    def _changed(self, changed: bool, session: SocketSession, status: str) -> None:
        if changed:
            identity = session.identity
            self.announce(session.room_id, identity.user_id, identity.username, status)

    def announce(self, room_id: int, user_id: int, username: str, status: str) -> None:
        """Tell the room's sockets, on every process, that the user is ``status``."""
        payload = presence_payload(room_id, user_id, username, status)
        publish_quietly(self._hub, RoomEvent(room_id, payload), self.log)

    def typing(self, session: SocketSession) -> None:
        """Tell the room's other sockets that this user is typing (dropped past the rate)."""
        identity = session.identity
        if not self._typing_limiter.take(str(identity.user_id)).allowed:
            return
        event = {
            "type": "typing",
            "room_id": session.room_id,
            "user_id": identity.user_id,
            "username": identity.username,
        }
        notice = RoomEvent(session.room_id, dumps(event), exclude=session.connection_id)
        publish_quietly(self._hub, notice, self.log)

    def _failed(self, failure: Failure) -> None:
        self.log.failure("deciding a presence change failed", failure)
