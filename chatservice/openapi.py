"""The OpenAPI 3.1 description of the REST API, served at ``/api/openapi.json``.

Built from the code that validates and raises rather than kept as a second
copy of it: the error codes are ``errors.all_error_classes()``, each
operation's error answers come from the error classes its route raises
(``ROUTE_ERRORS``, the one per-route declaration), and the request limits
are ``wire``'s constants. What stays hand-written here is what no code
states: the success bodies. Tests validate real answers against the document
and schemathesis fuzzes the server with it, so a route that drifts from it
fails CI; ``tests/test_protocol_doc.py`` holds ``docs/protocol.md`` to it.
"""

from __future__ import annotations

from typing import Any

from chatservice import __version__
from chatservice.errors import (
    AccountDisabled,
    Conflict,
    ContentTooLong,
    Forbidden,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    PasswordTooLong,
    RateLimited,
    TooManyReactions,
)
from chatservice.message_forms import (
    DEFAULT_EVENTS_LIMIT,
    DEFAULT_SEARCH_LIMIT,
    MAX_EMOJI_CODE_POINTS,
    MAX_EVENTS_LIMIT,
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_QUERY,
)
from chatservice.openapi_build import (
    ANY,
    AUTH,
    BODY,
    HANDSHAKE,
    HASHING,
    PATHS,
    ROUTE_ERRORS,
    STORED,
    WRITES,
    Errors,
    before,
    limit,
    operation,
    path_id,
    query,
    returns,
)
from chatservice.openapi_schemas import SCHEMAS
from chatservice.openapi_shapes import list_of
from chatservice.wire import (
    DEFAULT_HISTORY_LIMIT,
    MAX_HISTORY_LIMIT,
)

# Routes on one message (its id in the path): someone else's is 403.
ONE_MESSAGE: Errors = (InvalidRequest, Forbidden, NotFound)
_EDIT: Errors = (*AUTH, *BODY, ContentTooLong, *ONE_MESSAGE, RateLimited, *WRITES)
_REACT: Errors = (
    *AUTH,
    InvalidRequest,
    Forbidden,
    TooManyReactions,
    NotFound,
    RateLimited,
    *WRITES,
)
# Routes that read a room: a private room of others is 404, a ban or a
# pending invitation 403 (``access.py``).
_READ: Errors = (*AUTH, InvalidRequest, Forbidden, NotFound, *STORED)
# ... and a post: also 403 in an archived room or for a muted member.
_POST: Errors = (*AUTH, *BODY, ContentTooLong, Forbidden, NotFound, RateLimited, *WRITES)

ROUTE_ERRORS.update(
    {
        ("POST", "/api/register"): (*BODY, PasswordTooLong, Conflict, *HASHING, *WRITES),
        ("POST", "/api/login"): (*BODY, InvalidCredentials, AccountDisabled, *HASHING, *STORED),
        ("GET", "/api/messages"): _READ,
        ("POST", "/api/ws-ticket"): (*AUTH, RateLimited, *STORED),
        ("GET", "/api/openapi.json"): ANY,
        ("GET", "/health"): ANY,  # its 503 is its own body, not an error
        ("POST", "/api/messages"): _POST,
        ("PATCH", "/api/messages/{message_id}"): _EDIT,
        ("DELETE", "/api/messages/{message_id}"): (*AUTH, *ONE_MESSAGE, *WRITES),
        ("PUT", "/api/messages/{message_id}/reactions/{emoji}"): _REACT,
        ("DELETE", "/api/messages/{message_id}/reactions/{emoji}"): _REACT,
        ("GET", "/api/events"): _READ,
        ("GET", "/api/search"): _READ,
        ("GET", "/ws"): (*HANDSHAKE, *STORED),
    }
)

WEBSOCKET_ROUTES = frozenset({("GET", "/ws")})

__all__ = ["DOCUMENT", "ROUTE_ERRORS", "WEBSOCKET_ROUTES"]


operation(
    "POST /api/register",
    "register",
    "Create an account and get a token.",
    returns("Session", "Registered.", 201),
    public=True,
    body="Credentials",
)
operation(
    "POST /api/login",
    "login",
    "Exchange a username and password for a token.",
    returns("Session", "Logged in."),
    public=True,
    body="Credentials",
)
# The room a read is of: required, by either name.
_ROOM = {**query("roomId", 1, "The room (alias: room_id)."), "required": True}
operation(
    "GET /api/messages",
    "history",
    "A page of a room's history, oldest first.",
    returns(list_of("Message"), "The messages."),
    parameters=[
        _ROOM,
        limit(MAX_HISTORY_LIMIT, DEFAULT_HISTORY_LIMIT, "messages"),
        query("before", 1, "Only messages with a smaller id. Not with 'after'."),
        query("after", 0, "The oldest messages with a larger id. Not with 'before'."),
    ],
)
operation(
    "POST /api/ws-ticket",
    "wsTicket",
    "A single-use, 30-second ticket for the WebSocket handshake.",
    returns("Ticket", "The ticket.", 201),
)
_MESSAGE_ID = path_id("message_id", "message")
_EMOJI = {
    "name": "emoji",
    "in": "path",
    "required": True,
    "description": "The reaction (percent-encoded UTF-8): 1-32 characters, no white space.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_EMOJI_CODE_POINTS,
        "pattern": "^[^\\s\\u0000-\\u001f]+$",
    },
}
_ONE = returns("Message", "The message in its current state.")
operation(
    "POST /api/messages",
    "sendMessage",
    "Send a message (for clients without a WebSocket).",
    returns("Message", "Stored and broadcast (a repeated client_msg_id: the original).", 201),
    body="NewMessage",
)
operation(
    "PATCH /api/messages/{message_id}",
    "editMessage",
    "Edit one's own message.",
    _ONE,
    body="Edit",
    parameters=[_MESSAGE_ID],
)
operation(
    "DELETE /api/messages/{message_id}",
    "deleteMessage",
    "Delete one's own message (a tombstone stays).",
    _ONE,
    parameters=[_MESSAGE_ID],
)
for _method, _operation_id, _summary in (
    ("PUT", "addReaction", "Add one's reaction to a message."),
    ("DELETE", "removeReaction", "Remove one's reaction from a message."),
):
    operation(
        f"{_method} /api/messages/{{message_id}}/reactions/{{emoji}}",
        _operation_id,
        _summary,
        _ONE,
        parameters=[_MESSAGE_ID, _EMOJI],
    )
operation(
    "GET /api/events",
    "events",
    "A room's timeline events after a cursor, in id order, as the WebSocket sends them.",
    returns(list_of("Event"), "The events."),
    parameters=[
        _ROOM,
        query("after", 0, "Only events with a larger id.", default=0),
        limit(MAX_EVENTS_LIMIT, DEFAULT_EVENTS_LIMIT),
    ],
)
operation(
    "GET /api/search",
    "search",
    "Messages containing every word of q, newest first.",
    returns(list_of("Message"), "The messages."),
    parameters=[
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "Words to find (1-8 words of letters and digits).",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_SEARCH_QUERY},
        },
        query("roomId", 1, "Only this room (alias: room_id); all rooms by default."),
        before("messages"),
        limit(MAX_SEARCH_LIMIT, DEFAULT_SEARCH_LIMIT),
    ],
)
# The rooms' and the accounts' operations register themselves too.
import chatservice.openapi_accounts  # noqa: E402, F401
import chatservice.openapi_files  # noqa: E402, F401
import chatservice.openapi_push  # noqa: E402, F401
import chatservice.openapi_rooms  # noqa: E402, F401
import chatservice.openapi_webhooks  # noqa: E402, F401

_THIS = {"type": "object", "required": ["openapi", "info", "paths"]}
operation(
    "GET /api/openapi.json",
    "openapi",
    "This document.",
    returns(_THIS, "The OpenAPI 3.1 description of the REST API."),
    public=True,
)
operation(
    "GET /health",
    "health",
    "Whether the service can serve.",
    {
        **returns("Health", "Serving."),
        **returns("Health", "The store cannot be reached, or cannot write.", 503),
    },
    public=True,
)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "chatservice",
        "version": __version__,
        "description": "REST API of the chat service. The WebSocket at /ws, every limit and "
        "every setting are described in docs/protocol.md.",
    },
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT, or a bot's API key (cb_...)",
            }
        },
        "schemas": SCHEMAS,
    },
    "paths": PATHS,
}
