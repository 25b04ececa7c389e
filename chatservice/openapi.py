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

from collections.abc import Sequence
from typing import Any

from chatservice import __version__
from chatservice.errors import (
    AccountDisabled,
    ChatError,
    Conflict,
    ContentTooLong,
    Forbidden,
    InvalidCredentials,
    InvalidJSON,
    InvalidRequest,
    NotFound,
    Overloaded,
    PasswordTooLong,
    PayloadTooLarge,
    RateLimited,
    SessionRevoked,
    StoreUnavailable,
    TokenExpired,
    TooManyReactions,
    Unauthorized,
    UpgradeRequired,
    all_error_classes,
)
from chatservice.message_forms import (
    DEFAULT_EVENTS_LIMIT,
    DEFAULT_SEARCH_LIMIT,
    MAX_EMOJI_CODE_POINTS,
    MAX_EVENTS_LIMIT,
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_QUERY,
)
from chatservice.openapi_accounts import ACCOUNT_OPERATIONS, ACCOUNT_SCHEMAS, account_route_errors
from chatservice.openapi_schemas import SCHEMAS, ref
from chatservice.wire import (
    DEFAULT_HISTORY_LIMIT,
    MAX_HISTORY_LIMIT,
    MAX_ID,
)

Errors = tuple[type[ChatError], ...]


def _family(base: type[ChatError]) -> Errors:
    """``base`` and every error class that refines it (e.g. why a store cannot write)."""
    return tuple(cls for cls in all_error_classes() if issubclass(cls, base))


# Any request can be too big: the body limit is checked (from Content-Length,
# or while the body arrives) before routing.
_ANY: Errors = (PayloadTooLarge,)
# ... and a route that reads the store answers 503 while it cannot be reached;
_STORED: Errors = (PayloadTooLarge, StoreUnavailable)
# ... and one that writes, for every reason the store can refuse to write.
_WRITES: Errors = (PayloadTooLarge, *_family(StoreUnavailable))
# Routes that take a token, checked before anything else (revoked, disabled too).
_AUTH: Errors = (Unauthorized, TokenExpired, SessionRevoked, AccountDisabled)
# Routes that parse a JSON object body (``wire.parse_object``).
_BODY: Errors = (InvalidJSON, InvalidRequest)
# Routes that hash a password: limited per client, and refused while the
# bcrypt queue is full.
_HASHING: Errors = (RateLimited, Overloaded)
_NEW_ROOM: Errors = (*_AUTH, *_BODY, Conflict, *_WRITES)
# Not REST, so not an operation of the document, but its refusals are JSON
# errors all the same: declared here for docs/protocol.md.
_HANDSHAKE: Errors = (InvalidRequest, *_AUTH, Forbidden, NotFound, UpgradeRequired, RateLimited)

# Routes on one message (its id in the path): someone else's is 403.
_ONE_MESSAGE: Errors = (InvalidRequest, Forbidden, NotFound)
_EDIT: Errors = (*_AUTH, *_BODY, ContentTooLong, *_ONE_MESSAGE, RateLimited, *_WRITES)
_REACT: Errors = (*_AUTH, InvalidRequest, TooManyReactions, NotFound, RateLimited, *_WRITES)

# The error classes each route can answer with, (METHOD, path) -> classes: the
# one hand-written part of the error answers. Statuses, codes and their
# descriptions all come from the classes.
ROUTE_ERRORS: dict[tuple[str, str], Errors] = {
    ("POST", "/api/register"): (*_BODY, PasswordTooLong, Conflict, *_HASHING, *_WRITES),
    ("POST", "/api/login"): (*_BODY, InvalidCredentials, AccountDisabled, *_HASHING, *_STORED),
    ("GET", "/api/rooms"): (*_AUTH, *_STORED),
    ("POST", "/api/rooms"): _NEW_ROOM,
    ("POST", "/api/rooms/create"): _NEW_ROOM,
    ("GET", "/api/messages"): (*_AUTH, InvalidRequest, NotFound, *_STORED),
    ("POST", "/api/ws-ticket"): (*_AUTH, RateLimited, *_STORED),
    ("GET", "/api/openapi.json"): _ANY,
    ("GET", "/health"): _ANY,  # its 503 is its own body, not an error
    ("POST", "/api/messages"): (*_AUTH, *_BODY, ContentTooLong, NotFound, RateLimited, *_WRITES),
    ("PATCH", "/api/messages/{message_id}"): _EDIT,
    ("DELETE", "/api/messages/{message_id}"): (*_AUTH, *_ONE_MESSAGE, *_WRITES),
    ("PUT", "/api/messages/{message_id}/reactions/{emoji}"): _REACT,
    ("DELETE", "/api/messages/{message_id}/reactions/{emoji}"): _REACT,
    ("GET", "/api/events"): (*_AUTH, InvalidRequest, NotFound, *_STORED),
    ("GET", "/api/search"): (*_AUTH, InvalidRequest, NotFound, *_STORED),
    ("GET", "/ws"): (*_HANDSHAKE, *_STORED),
    **account_route_errors(_AUTH, _WRITES, _STORED),
}

WEBSOCKET_ROUTES = frozenset({("GET", "/ws")})

_RATE_LIMIT_HEADERS = {
    "Retry-After": {
        "description": "Seconds until the next attempt may succeed.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "X-RateLimit-Limit": {
        "description": "Attempts the limit allows at once (its burst).",
        "schema": {"type": "integer", "minimum": 1},
    },
    "X-RateLimit-Remaining": {
        "description": "Attempts left now: always 0 on a 429.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "X-RateLimit-Reset": {
        "description": "Seconds until the limit is entirely refilled.",
        "schema": {"type": "integer", "minimum": 1},
    },
}

# Headers an error class (and its subclasses) answers with; ``http.respond_error``
# sets them.
_ERROR_HEADERS: dict[type[ChatError], dict[str, Any]] = {
    RateLimited: _RATE_LIMIT_HEADERS,
    Overloaded: {"Retry-After": _RATE_LIMIT_HEADERS["Retry-After"]},
}


def _sends(cls: type[ChatError]) -> dict[str, Any]:
    """The headers an error class answers with."""
    sent: dict[str, Any] = {}
    for parent, headers in _ERROR_HEADERS.items():
        if issubclass(cls, parent):
            sent.update(headers)
    return sent


def _headers(group: Sequence[type[ChatError]]) -> dict[str, Any]:
    """The headers of the answers of one status: required only if every code sends it."""
    sent = [_sends(cls) for cls in group]
    headers: dict[str, Any] = {k: v for each in sent for k, v in each.items()}
    for name, header in list(headers.items()):
        if not all(name in each for each in sent):
            headers[name] = {**header, "required": False}
    return headers


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(classes: Sequence[type[ChatError]]) -> dict[str, Any]:
    """The Response Objects of some error classes, one per status.

    Each answers the ``Error`` body with its ``code`` narrowed to the codes
    of that status, so a real answer with a code the route does not declare
    fails validation (in the tests and in schemathesis).
    """
    by_status: dict[int, list[type[ChatError]]] = {}
    for cls in classes:
        by_status.setdefault(cls.status, []).append(cls)
    responses: dict[str, Any] = {}
    for status, group in sorted(by_status.items()):
        codes = list(dict.fromkeys(cls.code for cls in group))
        description = " ".join(f"`{cls.code}`: {cls.meaning()}" for cls in group)
        schema = {**ref("Error"), "properties": {"code": {"enum": codes}}}
        response = _json(schema, description)
        headers = _headers(group)
        if headers:
            response["headers"] = headers
        responses[str(status)] = response
    return responses


_PATHS: dict[str, Any] = {}


def _operation(
    route: str,
    operation_id: str,
    summary: str,
    answers: dict[str, Any],
    *,
    authenticated: bool = False,
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    request_body: dict[str, Any] | None = None,
) -> None:
    """Add the operation of ``route`` ("METHOD /path"): its success ``answers``, its errors."""
    method, path = route.split(" ")
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if authenticated:
        operation["security"] = [{"bearer": []}]
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        request_body = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if request_body is not None:
        operation["requestBody"] = request_body
    responses = {**answers, **error_responses(ROUTE_ERRORS[(method, path)])}
    operation["responses"] = dict(sorted(responses.items()))
    _PATHS.setdefault(path, {})[method.lower()] = operation


def _query(name: str, minimum: int, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "integer", "minimum": minimum, **schema},
    }


_operation(
    "POST /api/register",
    "register",
    "Create an account and get a token.",
    {"201": _json(ref("Session"), "Registered.")},
    body="Credentials",
)
_operation(
    "POST /api/login",
    "login",
    "Exchange a username and password for a token.",
    {"200": _json(ref("Session"), "Logged in.")},
    body="Credentials",
)
_operation(
    "GET /api/rooms",
    "listRooms",
    "Every room, ordered by id.",
    {"200": _json({"type": "array", "items": ref("Room")}, "The rooms.")},
    authenticated=True,
)
for _route, _operation_id, _summary in (
    ("POST /api/rooms", "createRoomAlias", "Create a room (alias of /api/rooms/create)."),
    ("POST /api/rooms/create", "createRoom", "Create a room."),
):
    _created = {"201": _json(ref("Room"), "Created.")}
    _operation(_route, _operation_id, _summary, _created, authenticated=True, body="NewRoom")
_operation(
    "GET /api/messages",
    "history",
    "A page of a room's history, oldest first.",
    {"200": _json({"type": "array", "items": ref("Message")}, "The messages.")},
    authenticated=True,
    parameters=[
        {**_query("roomId", 1, "The room (alias: room_id)."), "required": True},
        _query(
            "limit",
            1,
            "How many messages at most.",
            maximum=MAX_HISTORY_LIMIT,
            default=DEFAULT_HISTORY_LIMIT,
        ),
        _query("before", 1, "Only messages with a smaller id. Not with 'after'."),
        _query("after", 0, "The oldest messages with a larger id. Not with 'before'."),
    ],
)
_operation(
    "POST /api/ws-ticket",
    "wsTicket",
    "A single-use, 30-second ticket for the WebSocket handshake.",
    {"201": _json(ref("Ticket"), "The ticket.")},
    authenticated=True,
)
_MESSAGE_ID = {
    "name": "message_id",
    "in": "path",
    "required": True,
    "description": "The message's id.",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
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
_ONE = {"200": _json(ref("Message"), "The message in its current state.")}
_operation(
    "POST /api/messages",
    "sendMessage",
    "Send a message (for clients without a WebSocket).",
    {
        "201": _json(
            ref("Message"), "Stored and broadcast (a repeated client_msg_id: the original)."
        )
    },
    authenticated=True,
    body="NewMessage",
)
_operation(
    "PATCH /api/messages/{message_id}",
    "editMessage",
    "Edit one's own message.",
    _ONE,
    authenticated=True,
    body="Edit",
    parameters=[_MESSAGE_ID],
)
_operation(
    "DELETE /api/messages/{message_id}",
    "deleteMessage",
    "Delete one's own message (a tombstone stays).",
    _ONE,
    authenticated=True,
    parameters=[_MESSAGE_ID],
)
for _method, _operation_id, _summary in (
    ("PUT", "addReaction", "Add one's reaction to a message."),
    ("DELETE", "removeReaction", "Remove one's reaction from a message."),
):
    _operation(
        f"{_method} /api/messages/{{message_id}}/reactions/{{emoji}}",
        _operation_id,
        _summary,
        _ONE,
        authenticated=True,
        parameters=[_MESSAGE_ID, _EMOJI],
    )
_operation(
    "GET /api/events",
    "events",
    "A room's timeline events after a cursor, in id order, as the WebSocket sends them.",
    {"200": _json({"type": "array", "items": ref("Event")}, "The events.")},
    authenticated=True,
    parameters=[
        {**_query("roomId", 1, "The room (alias: room_id)."), "required": True},
        _query("after", 0, "Only events with a larger id.", default=0),
        _query(
            "limit", 1, "How many at most.", maximum=MAX_EVENTS_LIMIT, default=DEFAULT_EVENTS_LIMIT
        ),
    ],
)
_operation(
    "GET /api/search",
    "search",
    "Messages containing every word of q, newest first.",
    {"200": _json({"type": "array", "items": ref("Message")}, "The messages.")},
    authenticated=True,
    parameters=[
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "Words to find (1-8 words of letters and digits).",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_SEARCH_QUERY},
        },
        _query("roomId", 1, "Only this room (alias: room_id); all rooms by default."),
        _query("before", 1, "Only messages with a smaller id (the next page)."),
        _query(
            "limit", 1, "How many at most.", maximum=MAX_SEARCH_LIMIT, default=DEFAULT_SEARCH_LIMIT
        ),
    ],
)
for _account_operation in ACCOUNT_OPERATIONS:
    _operation(**_account_operation)
_THIS = {"type": "object", "required": ["openapi", "info", "paths"]}
_THIS_ANSWER = _json(_THIS, "The OpenAPI 3.1 description of the REST API.")
_operation("GET /api/openapi.json", "openapi", "This document.", {"200": _THIS_ANSWER})
_operation(
    "GET /health",
    "health",
    "Whether the service can serve.",
    {
        "200": _json(ref("Health"), "Serving."),
        "503": _json(ref("Health"), "The store cannot be reached, or cannot write."),
    },
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
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {**SCHEMAS, **ACCOUNT_SCHEMAS},
    },
    "paths": _PATHS,
}
