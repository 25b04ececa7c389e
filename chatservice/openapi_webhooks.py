"""The OpenAPI operations and schemas of outgoing webhooks and bots (issue 13).

Registered into ``openapi_build`` (``ROUTE_ERRORS`` and ``PATHS``) and
``openapi_schemas.SCHEMAS`` when ``openapi.py`` imports this module. How a
delivery is signed and retried is docs/protocol.md's ("Outgoing webhooks").
"""

from __future__ import annotations

from typing import Any

from chatservice.errors import Conflict, Forbidden, InvalidRequest, NotFound
from chatservice.hook_forms import MAX_URL_LENGTH
from chatservice.openapi_build import (
    AUTH,
    BODY,
    ROUTE_ERRORS,
    STORED,
    WRITES,
    Errors,
    json_body,
    operation,
    path_id,
    query,
)
from chatservice.openapi_schemas import SCHEMAS, ref
from chatservice.wire import MAX_ID

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_NULLABLE_INT = {"type": ["integer", "null"]}
_WEBHOOK_PROPERTIES: dict[str, Any] = {
    "id": _ID,
    "room_id": _ID,
    "url": {"type": "string"},
    "created_by": _ID,
    "created_at": {"type": "integer"},
    "delivered_through": {
        "type": "integer",
        "description": "The id of the last event delivered or dead-lettered.",
    },
    "failing_attempts": {
        "type": "integer",
        "minimum": 0,
        "description": "Failed attempts of the head delivery (0 while all is well).",
    },
    "next_attempt_at": {
        **_NULLABLE_INT,
        "description": "When the failing head is tried again (ms), or null.",
    },
    "last_error": {"type": ["string", "null"]},
}
_BOT_PROPERTIES: dict[str, Any] = {
    "user_id": _ID,
    "username": {"type": "string"},
    "created_by": _ID,
    "room_id": {"type": ["integer", "null"]},
    "created_at": {"type": "integer"},
    "has_key": {"type": "boolean"},
    "key_created_at": _NULLABLE_INT,
}

SCHEMAS.update(
    {
        "NewWebhook": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {
                    "type": "string",
                    "format": "uri",
                    "maxLength": MAX_URL_LENGTH,
                    "description": "An https:// URL; private, loopback and link-local "
                    "addresses are refused (at registration and after DNS resolution).",
                }
            },
        },
        "Webhook": {
            "type": "object",
            "required": list(_WEBHOOK_PROPERTIES),
            "additionalProperties": False,
            "properties": _WEBHOOK_PROPERTIES,
        },
        "CreatedWebhook": {
            "type": "object",
            "required": [*_WEBHOOK_PROPERTIES, "secret"],
            "additionalProperties": False,
            "properties": {
                **_WEBHOOK_PROPERTIES,
                "secret": {
                    "type": "string",
                    "description": "The signing secret: shown here once, never again.",
                },
            },
        },
        "DeadLetter": {
            "type": "object",
            "required": [
                "id",
                "webhook_id",
                "event_id",
                "attempts",
                "last_error",
                "failed_at",
                "retry_pending",
            ],
            "additionalProperties": False,
            "properties": {
                "id": _ID,
                "webhook_id": _ID,
                "event_id": {"type": "integer"},
                "attempts": {"type": "integer", "minimum": 0},
                "last_error": {"type": "string"},
                "failed_at": {"type": "integer"},
                "retry_pending": {"type": "boolean"},
            },
        },
        "Deleted": {
            "type": "object",
            "required": ["id", "deleted"],
            "additionalProperties": False,
            "properties": {"id": _ID, "deleted": {"const": True}},
        },
        "NewBot": {
            "type": "object",
            "required": ["username"],
            "properties": {
                "username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,32}$"},
                "room_id": {
                    **_ID,
                    "description": "The room the bot joins (its owner only); "
                    "omitted: a server admin's bot of no room.",
                },
            },
        },
        "Bot": {
            "type": "object",
            "required": list(_BOT_PROPERTIES),
            "additionalProperties": False,
            "properties": _BOT_PROPERTIES,
        },
        "BotWithKey": {
            "type": "object",
            "required": [*_BOT_PROPERTIES, "api_key"],
            "additionalProperties": False,
            "properties": {
                **_BOT_PROPERTIES,
                "api_key": {
                    "type": "string",
                    "pattern": "^cb_",
                    "description": "The API key (Authorization: Bearer cb_...): shown once.",
                },
            },
        },
    }
)

# A room's webhooks: its owner's (or a server admin's); a private room the
# caller is not in is 404 like an unknown one.
_ON_ROOM: Errors = (*AUTH, InvalidRequest, Forbidden, NotFound)
_CHANGE: Errors = (*_ON_ROOM, *WRITES)

ROUTE_ERRORS.update(
    {
        ("POST", "/api/rooms/{room_id}/webhooks"): (*_CHANGE, *BODY, Conflict),
        ("GET", "/api/rooms/{room_id}/webhooks"): (*_ON_ROOM, *STORED),
        ("GET", "/api/rooms/{room_id}/webhooks/{webhook_id}"): (*_ON_ROOM, *STORED),
        ("DELETE", "/api/rooms/{room_id}/webhooks/{webhook_id}"): _CHANGE,
        ("GET", "/api/rooms/{room_id}/webhooks/{webhook_id}/dead-letters"): (
            *_ON_ROOM,
            *STORED,
        ),
        (
            "POST",
            "/api/rooms/{room_id}/webhooks/{webhook_id}/dead-letters/{dead_letter_id}/retry",
        ): _CHANGE,
        (
            "DELETE",
            "/api/rooms/{room_id}/webhooks/{webhook_id}/dead-letters/{dead_letter_id}",
        ): _CHANGE,
        ("POST", "/api/bots"): (*AUTH, *BODY, Forbidden, NotFound, Conflict, *WRITES),
        ("GET", "/api/bots"): (*AUTH, *STORED),
        ("POST", "/api/bots/{bot_id}/key"): (*AUTH, InvalidRequest, NotFound, *WRITES),
        ("DELETE", "/api/bots/{bot_id}/key"): (*AUTH, InvalidRequest, NotFound, *WRITES),
    }
)

_ROOM_ID = path_id("room_id", "room")
_WEBHOOK_ID = path_id("webhook_id", "webhook")
_DEAD_ID = path_id("dead_letter_id", "dead letter")
_BOT_ID = path_id("bot_id", "bot (its user)")
_HOOKS = "/api/rooms/{room_id}/webhooks"
_DELETED = {"200": json_body(ref("Deleted"), "Deleted.")}

operation(
    f"POST {_HOOKS}",
    "addWebhook",
    "Deliver the room's events to an https URL (its owner, or a server admin); "
    "the signing secret is in this answer only.",
    {"201": json_body(ref("CreatedWebhook"), "Registered.")},
    authenticated=True,
    body="NewWebhook",
    parameters=[_ROOM_ID],
)
operation(
    f"GET {_HOOKS}",
    "listWebhooks",
    "The room's webhooks and their delivery state (never their secrets).",
    {"200": json_body({"type": "array", "items": ref("Webhook")}, "The webhooks.")},
    authenticated=True,
    parameters=[_ROOM_ID],
)
operation(
    f"GET {_HOOKS}/{{webhook_id}}",
    "getWebhook",
    "One webhook and its delivery state.",
    {"200": json_body(ref("Webhook"), "The webhook.")},
    authenticated=True,
    parameters=[_ROOM_ID, _WEBHOOK_ID],
)
operation(
    f"DELETE {_HOOKS}/{{webhook_id}}",
    "deleteWebhook",
    "Stop delivering; forget the webhook and its dead letters.",
    _DELETED,
    authenticated=True,
    parameters=[_ROOM_ID, _WEBHOOK_ID],
)
operation(
    f"GET {_HOOKS}/{{webhook_id}}/dead-letters",
    "webhookDeadLetters",
    "The events the webhook gave up on after its retry period, newest first, with the last error.",
    {"200": json_body({"type": "array", "items": ref("DeadLetter")}, "The dead letters.")},
    authenticated=True,
    parameters=[
        _ROOM_ID,
        _WEBHOOK_ID,
        query("before", 1, "Only dead letters with a smaller id (the next page)."),
        query("limit", 1, "How many at most.", maximum=100, default=50),
    ],
)
operation(
    f"POST {_HOOKS}/{{webhook_id}}/dead-letters/{{dead_letter_id}}/retry",
    "retryDeadLetter",
    "Deliver a dead letter again (before the webhook's next event), with a new retry period.",
    {"200": json_body(ref("DeadLetter"), "Marked for retry.")},
    authenticated=True,
    parameters=[_ROOM_ID, _WEBHOOK_ID, _DEAD_ID],
)
operation(
    f"DELETE {_HOOKS}/{{webhook_id}}/dead-letters/{{dead_letter_id}}",
    "discardDeadLetter",
    "Forget a dead letter.",
    _DELETED,
    authenticated=True,
    parameters=[_ROOM_ID, _WEBHOOK_ID, _DEAD_ID],
)
operation(
    "POST /api/bots",
    "createBot",
    "Create a bot account that joins a room the caller owns (any room, or none, for a "
    "server admin); its API key is in this answer only.",
    {"201": json_body(ref("BotWithKey"), "Created.")},
    authenticated=True,
    body="NewBot",
)
operation(
    "GET /api/bots",
    "listBots",
    "The bots the caller created (every bot, for a server admin).",
    {"200": json_body({"type": "array", "items": ref("Bot")}, "The bots.")},
    authenticated=True,
)
operation(
    "POST /api/bots/{bot_id}/key",
    "rotateBotKey",
    "Replace the bot's API key: the old one stops working at once; the new one is shown once.",
    {"201": json_body(ref("BotWithKey"), "The new key.")},
    authenticated=True,
    parameters=[_BOT_ID],
)
operation(
    "DELETE /api/bots/{bot_id}/key",
    "revokeBotKey",
    "Revoke the bot's API key: every request with it is 401 from now on, and its "
    "WebSockets close (4001).",
    {"200": json_body(ref("Bot"), "The bot, without a key.")},
    authenticated=True,
    parameters=[_BOT_ID],
)
