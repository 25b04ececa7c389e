"""What a socket's frames ask of the use cases, and the answers that go to that socket alone.

A mixin of ``fanout.ChatServerFactory``, as the store's ``sql_*`` modules are
of ``SQLStore``: the factory's own job is who is where and what reaches them
(membership, fan-out, resume, drain); this is the other direction, frames in
(post, edit, delete, react, read, typing) and each one's answer out. A
stored message or change reaches the room through the hub, so only a
repeat or a refusal is answered here; work in flight is tracked so that
``drain`` can let it finish, and refused once draining began.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice import metrics
from chatservice.changes import MessageChanges, repeat_payload
from chatservice.errors import ChatError, InternalError, StoreUnavailable
from chatservice.frames import DELETE, EDIT, ClientFrame
from chatservice.messages import Messages, message_payload
from chatservice.models import Change, Posted
from chatservice.presence import Presence
from chatservice.read_markers import ReadMarkers, socket_read
from chatservice.roompolicy import PostingPolicy
from chatservice.websocket import ChatServerProtocol
from chatservice.wire import FrameError


class FrameActions:
    """Post, change, mark read and relay typing for a socket's frames; answer refusals."""

    # Set by ``ChatServerFactory.__init__`` (fanout.py).
    _messages: Messages
    _changes: MessageChanges
    _presence: Presence
    _in_flight: set[Deferred[Any]]
    _draining: bool
    _log: Logger
    policy: PostingPolicy
    read_markers: ReadMarkers | None

    def relay_typing(self, protocol: ChatServerProtocol) -> None:
        """Tell the room's other connections that this user is typing (rate-limited)."""
        self._presence.typing(protocol.session)

    def _refuse(self, protocol: ChatServerProtocol, frame: ClientFrame) -> bool:
        """Answer a frame the socket may not send now (shutdown, archive, mute) with an error."""
        session = protocol.session
        error: ChatError | None = self.policy.refusal(session.room_id, session.identity.user_id)
        if self._draining:
            error = StoreUnavailable("The server is shutting down.")
        if error is not None:
            protocol.send_json(FrameError(error, frame.client_msg_id).to_json())
        return error is not None

    def post(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Store and broadcast a message; refusals go back as ``error`` frames."""
        if self._refuse(protocol, frame):
            return
        session = protocol.session
        received = metrics.TIMER()  # for chat_post_to_delivery_seconds
        posting = self._messages.post(
            session.identity,
            session.room_id,
            frame.content,
            frame.client_msg_id,
            frame.reply_to,
            frame.attachments,
        )
        self._in_flight.add(posting)
        # Bound methods and arguments, not closures: this runs per message.
        posting.addCallbacks(
            self._answered,
            self._refused,
            callbackArgs=(protocol, posting, received),
            errbackArgs=(protocol, frame.client_msg_id, posting),
        )

    def change(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Edit, delete or react to a message of the socket's room, as ``frame`` says.

        The change reaches every socket of the room as ``message_updated``
        once it is stored; a repeat that changed nothing is answered to this
        socket alone with the message's current state.
        """
        if self._refuse(protocol, frame):
            return
        session = protocol.session
        message_id = frame.message_id
        assert message_id is not None
        if frame.kind == EDIT:
            work = self._changes.edit(session.identity, message_id, frame.content, session.room_id)
        elif frame.kind == DELETE:
            work = self._changes.delete(session.identity, message_id, session.room_id)
        else:
            work = self._changes.react(
                session.identity, message_id, frame.emoji, not frame.remove, session.room_id
            )
        changing: Deferred[Change] = Deferred.fromCoroutine(work)
        self._in_flight.add(changing)
        changing.addCallbacks(
            self._answered,
            self._refused,
            callbackArgs=(protocol, changing),
            errbackArgs=(protocol, frame.client_msg_id, changing),
        )

    def mark_read(self, protocol: ChatServerProtocol, frame: ClientFrame) -> None:
        """Move the user's read marker in the socket's room (``read_markers.socket_read``)."""
        socket_read(self.read_markers, protocol, frame, self._log)

    def _answered(
        self,
        result: Posted | Change,
        protocol: ChatServerProtocol,
        work: Deferred[Any],
        received: float | None = None,
    ) -> None:
        """Stored: the room heard of it through the hub. A repeat goes to this socket only.

        The hub wrote a new message's local fan-out just before: its latency
        since ``post`` (``received``) is observed here.
        """
        self._in_flight.discard(work)
        if isinstance(result, Posted):
            if not result.created:
                protocol.send_payload(message_payload(result.message))
            elif received is not None:
                metrics.POST_TO_DELIVERY_SECONDS.observe(metrics.TIMER() - received)
        elif not result.changed:
            protocol.send_payload(repeat_payload(result.event))

    def _refused(
        self,
        failure: Failure,
        protocol: ChatServerProtocol,
        client_msg_id: str | None,
        work: Deferred[Any],
    ) -> None:
        self._in_flight.discard(work)
        error = failure.value
        if not isinstance(error, ChatError):
            self._log.failure("handling a message frame failed", failure)
            error = InternalError("The message could not be sent or changed.")
        protocol.send_json(FrameError(error, client_msg_id).to_json())
