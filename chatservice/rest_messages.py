"""The REST routes that act on messages: send, edit, delete, react, events, search.

For clients and bots without a WebSocket. Each route parses with
``message_forms`` and calls one use case; the answers are the same objects
(and the same frames, for events) as on the WebSocket, and every action is
idempotent: a repeat answers as the first did.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.access import RoomAccess
from chatservice.changes import MessageChanges
from chatservice.http import read_body, respond_json
from chatservice.klein_app import Routes, app
from chatservice.message_forms import (
    parse_edit,
    parse_emoji,
    parse_events_query,
    parse_message_id,
    parse_post,
    parse_search_query,
)
from chatservice.messages import Messages
from chatservice.models import Change
from chatservice.search import Search
from chatservice.timeline import Timeline
from chatservice.wire import dumps


class MessageRoutes(Routes):
    """Message routes; ``ChatAPI`` inherits them and provides the use cases."""

    _access: RoomAccess
    _messages: Messages
    _changes: MessageChanges
    _timeline: Timeline
    _search: Search
    _max_message_length: int

    @staticmethod
    def _changed(request: IRequest, change: Change) -> bytes:
        """200 with the message in its current state, changed or not (a repeat)."""
        return respond_json(request, 200, dumps(change.event.message.to_json()))

    @app.route("/api/messages", methods=["POST"])
    async def send(self, request: IRequest) -> bytes:
        """Send a message: 201 with it (a repeated ``client_msg_id``: the original)."""
        identity = await self._identity(request)
        form = parse_post(read_body(request, self._max_body), self._max_message_length)
        await self._access.postable(identity, form.room_id)
        posted = await self._messages.post(
            identity,
            form.room_id,
            form.content,
            form.client_msg_id,
            form.reply_to,
            form.attachments,
        )
        return respond_json(request, 201, dumps(posted.message.to_json()))

    @app.route("/api/messages/<message_id>", methods=["PATCH"])
    async def edit(self, request: IRequest, message_id: str) -> bytes:
        """Edit one's own message: 200 with it."""
        identity = await self._identity(request)
        target = parse_message_id(message_id)
        content = parse_edit(read_body(request, self._max_body), self._max_message_length)
        return self._changed(request, await self._changes.edit(identity, target, content))

    @app.route("/api/messages/<message_id>", methods=["DELETE"])
    async def delete(self, request: IRequest, message_id: str) -> bytes:
        """Delete one's own message: 200 with its tombstone."""
        identity = await self._identity(request)
        target = parse_message_id(message_id)
        return self._changed(request, await self._changes.delete(identity, target))

    @app.route("/api/messages/<message_id>/reactions/<emoji>", methods=["PUT", "DELETE"])
    async def react(self, request: IRequest, message_id: str, emoji: str) -> bytes:
        """Add (PUT) or remove (DELETE) one's reaction: 200 with the message."""
        identity = await self._identity(request)
        target = parse_message_id(message_id)
        present = request.method == b"PUT"
        change = await self._changes.react(identity, target, parse_emoji(emoji), present)
        return self._changed(request, change)

    @app.route("/api/events", methods=["GET"])
    async def events(self, request: IRequest) -> bytes:
        """A room's events after a cursor, in id order, as the WebSocket's frames."""
        identity = await self._identity(request)
        query = parse_events_query(request.args)
        await self._access.readable(identity, query.room_id)
        events = await self._timeline.events(query)
        return respond_json(request, 200, dumps([event.to_json() for event in events]))

    @app.route("/api/search", methods=["GET"])
    async def search(self, request: IRequest) -> bytes:
        """Messages matching every word of ``q``, newest first."""
        identity = await self._identity(request)
        found = await self._search.search(identity, parse_search_query(request.args))
        return respond_json(request, 200, dumps([message.to_json() for message in found]))
