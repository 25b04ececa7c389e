"""The OpenAPI 3.1 description of the REST API, served at ``/api/openapi.json``.

Built as data here (not generated from the routes) because it is a contract:
tests validate real responses against it, and schemathesis fuzzes the server
with it, so a route that drifts from it fails CI.
"""

from __future__ import annotations

from typing import Any

from chatservice import __version__
from chatservice.wire import (
    DEFAULT_HISTORY_LIMIT,
    MAX_DESCRIPTION,
    MAX_HISTORY_LIMIT,
    MAX_ROOM_NAME,
)

_ERROR_CODES = [
    "invalid_json",
    "invalid_request",
    "password_too_long",
    "content_too_long",
    "unauthorized",
    "token_expired",
    "invalid_credentials",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "upgrade_required",
    "store_unavailable",
    "internal_error",
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{description}"}


_ERROR_RESPONSES = {
    "BadRequest": "Malformed JSON, wrong types, failed validation or a bad query parameter.",
    "Unauthorized": "Missing, malformed, expired or forged token, or wrong credentials.",
    "NotFound": "Unknown room or route.",
    "Conflict": "The name is already taken.",
    "PayloadTooLarge": "The request body is larger than the configured limit.",
    "RateLimited": "Rate limited; retry after the Retry-After header's seconds.",
    "Unavailable": "The store cannot be reached.",
}

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


def _responses(**codes: Any) -> dict[str, Any]:
    """Responses every route shares (413, 503) plus the route's own."""
    result: dict[str, Any] = {
        "413": _error("PayloadTooLarge"),
        "503": _error("Unavailable"),
    }
    result.update(codes)
    return result


def _authenticated(codes: dict[str, Any]) -> dict[str, Any]:
    return {"401": _error("Unauthorized"), **codes}


_CREDENTIALS_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _ref("Credentials")}},
}


def _create_room(operation_id: str, summary: str) -> dict[str, Any]:
    """The create-room operation, served at two paths (the alias is ours)."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("NewRoom")}},
        },
        "responses": _responses(
            **_authenticated(
                {
                    "201": _json(_ref("Room"), "Created."),
                    "400": _error("BadRequest"),
                    "409": _error("Conflict"),
                }
            )
        ),
    }


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "chatservice",
        "version": __version__,
        "description": "REST API of the chat service; the WebSocket at /ws is described in "
        "API.md.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "code"],
                "properties": {
                    "error": {"type": "string"},
                    "code": {"type": "string", "enum": _ERROR_CODES},
                },
            },
            "User": {
                "type": "object",
                "required": ["id", "username", "created_at"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "username": {"type": "string"},
                    "created_at": {"type": "integer"},
                },
            },
            "Room": {
                "type": "object",
                "required": ["id", "name", "description", "created_by", "created_at"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "created_by": {"type": ["integer", "null"]},
                    "created_at": {"type": "integer"},
                },
            },
            "Message": {
                "type": "object",
                "required": ["type", "id", "room_id", "sender_id", "username", "content", "ts"],
                "additionalProperties": False,
                "properties": {
                    "type": {"const": "message"},
                    "id": {"type": "integer", "minimum": 1},
                    "room_id": {"type": "integer", "minimum": 1},
                    "sender_id": {"type": "integer", "minimum": 1},
                    "username": {"type": "string"},
                    "content": {"type": "string"},
                    "ts": {"type": "integer"},
                    "client_msg_id": {"type": "string"},
                },
            },
            "Session": {
                "type": "object",
                "required": ["token", "user"],
                "additionalProperties": False,
                "properties": {"token": {"type": "string"}, "user": _ref("User")},
            },
            "Credentials": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,32}$"},
                    # 8-72 bytes of UTF-8 (bcrypt's limit), which a
                    # character count cannot state exactly: 2 characters
                    # can make 8 bytes, and 72 bytes are at most 72
                    # characters. No NUL.
                    "password": {
                        "type": "string",
                        "minLength": 2,
                        "maxLength": 72,
                        "pattern": "^[^\\u0000]*$",
                    },
                },
            },
            "NewRoom": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": MAX_ROOM_NAME},
                    "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
                },
            },
            "Ticket": {
                "type": "object",
                "required": ["ticket", "expires_in"],
                "additionalProperties": False,
                "properties": {
                    "ticket": {"type": "string"},
                    "expires_in": {"type": "integer"},
                },
            },
            "Health": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]}},
            },
        },
        "responses": {
            name: (
                {**_json(_ref("Error"), text), "headers": _RATE_LIMIT_HEADERS}
                if name == "RateLimited"
                else _json(_ref("Error"), text)
            )
            for name, text in _ERROR_RESPONSES.items()
        },
    },
    "paths": {
        "/api/register": {
            "post": {
                "operationId": "register",
                "summary": "Create an account and get a token.",
                "requestBody": _CREDENTIALS_BODY,
                "responses": _responses(
                    **{
                        "201": _json(_ref("Session"), "Registered."),
                        "400": _error("BadRequest"),
                        "409": _error("Conflict"),
                        "429": _error("RateLimited"),
                    }
                ),
            }
        },
        "/api/login": {
            "post": {
                "operationId": "login",
                "summary": "Exchange a username and password for a token.",
                "requestBody": _CREDENTIALS_BODY,
                "responses": _responses(
                    **{
                        "200": _json(_ref("Session"), "Logged in."),
                        "400": _error("BadRequest"),
                        "401": _error("Unauthorized"),
                        "429": _error("RateLimited"),
                    }
                ),
            }
        },
        "/api/rooms": {
            "get": {
                "operationId": "listRooms",
                "summary": "Every room, ordered by id.",
                "security": [{"bearer": []}],
                "responses": _responses(
                    **_authenticated(
                        {"200": _json({"type": "array", "items": _ref("Room")}, "The rooms.")}
                    )
                ),
            },
            "post": _create_room("createRoomAlias", "Create a room (alias of /api/rooms/create)."),
        },
        "/api/rooms/create": {
            "post": _create_room("createRoom", "Create a room."),
        },
        "/api/messages": {
            "get": {
                "operationId": "history",
                "summary": "A page of a room's history, oldest first.",
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "roomId",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_HISTORY_LIMIT,
                            "default": DEFAULT_HISTORY_LIMIT,
                        },
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "description": "Only messages with a smaller id. Not with 'after'.",
                        "schema": {"type": "integer", "minimum": 1},
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "description": "The oldest messages with a larger id. Not with 'before'.",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": _responses(
                    **_authenticated(
                        {
                            "200": _json(
                                {"type": "array", "items": _ref("Message")}, "The messages."
                            ),
                            "400": _error("BadRequest"),
                            "404": _error("NotFound"),
                        }
                    )
                ),
            }
        },
        "/api/ws-ticket": {
            "post": {
                "operationId": "wsTicket",
                "summary": "A single-use, 30-second ticket for the WebSocket handshake.",
                "security": [{"bearer": []}],
                "responses": _responses(
                    **_authenticated(
                        {
                            "201": _json(_ref("Ticket"), "The ticket."),
                            "429": _error("RateLimited"),
                        }
                    )
                ),
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["openapi", "info", "paths"]},
                        "The OpenAPI 3.1 description of the REST API.",
                    ),
                    "413": _error("PayloadTooLarge"),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Whether the service can serve.",
                "responses": {
                    "200": _json(_ref("Health"), "Serving."),
                    "413": _error("PayloadTooLarge"),
                    "503": _json(_ref("Health"), "The store cannot be reached."),
                },
            }
        },
    },
}
