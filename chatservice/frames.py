"""Sans-I/O parsing of a WebSocket client's text frames into actions.

A frame is a JSON object whose ``type`` says what the client wants: post a
message (the default), say it is typing, or edit, delete or react to a
message. Every refusal is a ``FrameError`` carrying the frame's
``client_msg_id`` (when it is usable) so the client can tell which of its
frames the ``error`` frame answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chatservice.errors import ChatError, InvalidJSON, InvalidRequest
from chatservice.message_forms import (
    id_field,
    parse_attachments,
    parse_client_msg_id,
    parse_content,
    parse_emoji,
    parse_post_content,
)
from chatservice.wire import MAX_CLIENT_MSG_ID, FrameError, parse_object, text_field

# The ``type`` of a client frame; a frame without one is a message.
FRAME_TYPES = MESSAGE, TYPING, EDIT, DELETE, REACT, READ = (
    "message",
    "typing",
    "edit",
    "delete",
    "react",
    "read",
)
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ClientFrame:
    """A validated frame from a WebSocket client.

    ``kind`` is one of ``FRAME_TYPES``; the other fields are those that kind
    uses (``message_id`` for edit, delete and react; ``emoji`` and
    ``remove`` for react; ``content`` for message and edit). A ``read``
    frame carries its ``last_read_id`` in ``message_id``.
    """

    kind: str
    content: str = ""
    client_msg_id: str | None = None
    reply_to: int | None = None
    message_id: int | None = None
    emoji: str = ""
    remove: bool = False
    attachments: tuple[int, ...] = ()


def parse_client_frame(text: str, max_length: int) -> ClientFrame:
    """Validate one text frame from a client.

    Raises:
        FrameError: the frame is refused; send it back as an ``error`` frame.
    """
    try:
        body = parse_object(text)
    except InvalidJSON:
        raise FrameError(InvalidJSON("The frame is not valid JSON.")) from None
    except ChatError as error:
        raise FrameError(error) from None
    try:
        return _parse(body, max_length)
    except ChatError as error:
        raise FrameError(error, _echo_id(body)) from None


def _parse(body: dict[str, Any], max_length: int) -> ClientFrame:
    kind = body.get("type", MESSAGE)
    if kind not in FRAME_TYPES:
        raise InvalidRequest("'type' must be one of " + ", ".join(FRAME_TYPES) + ".")
    if kind == TYPING:
        return ClientFrame(TYPING)
    client_msg_id = parse_client_msg_id(body)
    if kind == MESSAGE:
        # Most messages answer nothing: no id to check (this runs per message).
        reply_to = id_field(body, "reply_to", required=False) if "reply_to" in body else None
        if "attachments" in body:
            files = parse_attachments(body)
            content = parse_post_content(body, max_length, files)
            return ClientFrame(MESSAGE, content, client_msg_id, reply_to, attachments=files)
        return ClientFrame(MESSAGE, parse_content(body, max_length), client_msg_id, reply_to)
    if kind == READ:
        return ClientFrame(
            READ, client_msg_id=client_msg_id, message_id=id_field(body, "last_read_id")
        )
    message_id = id_field(body, "message_id")
    if kind == EDIT:
        return ClientFrame(
            EDIT, parse_content(body, max_length), client_msg_id, message_id=message_id
        )
    if kind == DELETE:
        return ClientFrame(DELETE, client_msg_id=client_msg_id, message_id=message_id)
    remove = body.get("remove", False)
    if not isinstance(remove, bool):
        raise InvalidRequest("'remove' must be true or false.")
    emoji = parse_emoji(text_field(body, "emoji") or "")
    return ClientFrame(
        REACT, client_msg_id=client_msg_id, message_id=message_id, emoji=emoji, remove=remove
    )


def _echo_id(body: dict[str, Any]) -> str | None:
    """The frame's ``client_msg_id`` if it can be echoed back (encodable, not too long)."""
    raw = body.get("client_msg_id")
    if isinstance(raw, str) and len(raw) <= MAX_CLIENT_MSG_ID and not _SURROGATES.search(raw):
        return raw
    return None
