"""The machinery of the OpenAPI document: error answers, operations, the shared error groups.

``openapi.py`` (accounts, messages, events, search) and ``openapi_rooms.py``
(rooms, membership, moderation) each declare their operations with
``operation`` and their error classes in ``ROUTE_ERRORS``; ``openapi.py``
assembles the document from ``PATHS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatservice.account_forms import DEFAULT_USERS_LIMIT, MAX_USER_QUERY, MAX_USERS_LIMIT
from chatservice.errors import (
    AccountDisabled,
    ChatError,
    Conflict,
    Forbidden,
    InvalidJSON,
    InvalidRequest,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    SessionRevoked,
    StoreUnavailable,
    TokenExpired,
    Unauthorized,
    UpgradeRequired,
    all_error_classes,
)
from chatservice.openapi_shapes import ref
from chatservice.wire import MAX_ID

Errors = tuple[type[ChatError], ...]


def family(base: type[ChatError]) -> Errors:
    """``base`` and every error class that refines it (e.g. why a store cannot write)."""
    return tuple(cls for cls in all_error_classes() if issubclass(cls, base))


# Any request can be too big: the body limit is checked (from Content-Length,
# or while the body arrives) before routing.
ANY: Errors = (PayloadTooLarge,)
# ... and a route that reads the store answers 503 while it cannot be reached;
STORED: Errors = (PayloadTooLarge, StoreUnavailable)
# ... and one that writes, for every reason the store can refuse to write.
WRITES: Errors = (PayloadTooLarge, *family(StoreUnavailable))
# Routes that take a token, checked before anything else: a revoked token is
# a 401 too, a disabled account a 403 (``revocation.py``).
AUTH: Errors = (Unauthorized, TokenExpired, SessionRevoked, AccountDisabled)
# Routes that parse a JSON object body (``wire.parse_object``).
BODY: Errors = (InvalidJSON, InvalidRequest)
# Routes that hash a password: limited per client, and refused while the
# bcrypt queue is full.
HASHING: Errors = (RateLimited, Overloaded)
NEW_ROOM: Errors = (*AUTH, *BODY, Conflict, *WRITES)
# Not REST, so not an operation of the document, but its refusals are JSON
# errors all the same: declared here for docs/protocol.md.
HANDSHAKE: Errors = (InvalidRequest, *AUTH, Forbidden, NotFound, UpgradeRequired, RateLimited)


# The error classes each route can answer with, (METHOD, path) -> classes: the
# one hand-written part of the error answers (each module adds its routes).
# Statuses, codes and their descriptions all come from the classes.
ROUTE_ERRORS: dict[tuple[str, str], Errors] = {}

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


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A Response Object with a JSON body of ``schema``."""
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
        response = json_body(schema, description)
        headers = _headers(group)
        if headers:
            response["headers"] = headers
        responses[str(status)] = response
    return responses


PATHS: dict[str, Any] = {}


def returns(schema: str | dict[str, Any], description: str, status: int = 200) -> dict[str, Any]:
    """A success answer: ``status`` with a JSON body (a name of ``SCHEMAS``, or a schema)."""
    body = ref(schema) if isinstance(schema, str) else schema
    return {str(status): json_body(body, description)}


def operation(
    route: str,
    operation_id: str,
    summary: str,
    answers: dict[str, Any],
    *,
    public: bool = False,
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    request_body: dict[str, Any] | None = None,
) -> None:
    """Add the operation of ``route`` ("METHOD /path"): its success ``answers``, its errors.

    Every operation takes a bearer token unless it is ``public`` (registering,
    logging in, this document, health): few are, and forgetting to say so
    errs on the side that the tests catch. ``body`` names the schema of a
    required JSON body; ``request_body`` is a whole Request Body Object
    instead (an optional body).
    """
    method, path = route.split(" ")
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if not public:
        operation["security"] = [{"bearer": []}]
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        request_body = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if request_body is not None:
        operation["requestBody"] = request_body
    responses = {**answers, **error_responses(ROUTE_ERRORS[(method, path)])}
    operation["responses"] = dict(sorted(responses.items()))
    PATHS.setdefault(path, {})[method.lower()] = operation


def path_id(name: str, what: str) -> dict[str, Any]:
    """The path parameter ``name``: the id of a ``what`` (a room, a user, a message)."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


def query(name: str, minimum: int, description: str, **schema: Any) -> dict[str, Any]:
    """An integer query parameter (optional unless the caller adds ``required``)."""
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "integer", "minimum": minimum, **schema},
    }


def limit(maximum: int, default: int, what: str = "") -> dict[str, Any]:
    """The ``limit`` query parameter of a page: how many ``what`` (rows) at most."""
    rows = f"{what} " if what else ""
    return query("limit", 1, f"How many {rows}at most.", maximum=maximum, default=default)


def before(what: str, **schema: Any) -> dict[str, Any]:
    """The ``before`` query parameter of a page that goes back: ids smaller than the last shown."""
    return query("before", 1, f"Only {what} with a smaller id (the next page).", **schema)


def admin_list(name: str, rows: str) -> list[dict[str, Any]]:
    """The parameters of a server admin's list: ``q`` (part of a ``name``), ``after``, ``limit``.

    Shared by the accounts' and the rooms' lists, which page the same way.
    """
    return [
        {
            "name": "q",
            "in": "query",
            "description": f"A part of the {name} (case-insensitive).",
            "schema": {"type": "string", "maxLength": MAX_USER_QUERY},
        },
        query(
            "after", 0, f"Only {rows} with a larger id (the next page).", maximum=MAX_ID, default=0
        ),
        limit(MAX_USERS_LIMIT, DEFAULT_USERS_LIMIT),
    ]


# An optional ``{"reason"}`` body: what admin actions take.
REASON_BODY = {"required": False, "content": {"application/json": {"schema": ref("Reason")}}}
