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
    before,
    limit,
    operation,
    path_id,
    returns,
)
from chatservice.openapi_schemas import SCHEMAS
from chatservice.openapi_shapes import ID, closed_object, deleted, list_of

_NULLABLE_INT = {"type": ["integer", "null"]}
_WEBHOOK_PROPERTIES: dict[str, Any] = {
    "id": ID,
    "room_id": ID,
    "url": {"type": "string"},
    "created_by": ID,
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
    "user_id": ID,
    "username": {"type": "string"},
    "created_by": ID,
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
        "Webhook": closed_object(_WEBHOOK_PROPERTIES),
        "CreatedWebhook": closed_object(
            {
                **_WEBHOOK_PROPERTIES,
                "secret": {
                    "type": "string",
                    "description": "The signing secret: shown here once, never again.",
                },
            }
        ),
        "DeadLetter": closed_object(
            {
                "id": ID,
                "webhook_id": ID,
                "event_id": {"type": "integer"},
                "attempts": {"type": "integer", "minimum": 0},
                "last_error": {"type": "string"},
                "failed_at": {"type": "integer"},
                "retry_pending": {"type": "boolean"},
            }
        ),
        "Deleted": deleted("id"),
        "NewBot": {
            "type": "object",
            "required": ["username"],
            "properties": {
                "username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,32}$"},
                "room_id": {
                    **ID,
                    "description": "The room the bot joins (its owner only); "
                    "omitted: a server admin's bot of no room.",
                },
            },
        },
        "Bot": closed_object(_BOT_PROPERTIES),
        "BotWithKey": closed_object(
            {
                **_BOT_PROPERTIES,
                "api_key": {
                    "type": "string",
                    "pattern": "^cb_",
                    "description": "The API key (Authorization: Bearer cb_...): shown once.",
                },
            }
        ),
    }
)

# A room's webhooks: its owner's (or a server admin's); a private room the
# caller is not in is 404 like an unknown one.
_ON_ROOM: Errors = (*AUTH, InvalidRequest, Forbidden, NotFound)
_CHANGE: Errors = (*_ON_ROOM, *WRITES)
_HOOKS = "/api/rooms/{room_id}/webhooks"
_HOOK = _HOOKS + "/{webhook_id}"
_DEAD = _HOOK + "/dead-letters/{dead_letter_id}"

ROUTE_ERRORS.update(
    {
        ("POST", _HOOKS): (*_CHANGE, *BODY, Conflict),
        ("GET", _HOOKS): (*_ON_ROOM, *STORED),
        ("GET", _HOOK): (*_ON_ROOM, *STORED),
        ("DELETE", _HOOK): _CHANGE,
        ("GET", _HOOK + "/dead-letters"): (*_ON_ROOM, *STORED),
        ("POST", _DEAD + "/retry"): _CHANGE,
        ("DELETE", _DEAD): _CHANGE,
        ("POST", "/api/bots"): (*AUTH, *BODY, Forbidden, NotFound, Conflict, *WRITES),
        ("GET", "/api/bots"): (*AUTH, *STORED),
        ("POST", "/api/bots/{bot_id}/key"): (*AUTH, InvalidRequest, NotFound, *WRITES),
        ("DELETE", "/api/bots/{bot_id}/key"): (*AUTH, InvalidRequest, NotFound, *WRITES),
    }
)

_ROOM_ID = path_id("room_id", "room")
_WEBHOOK_ID = path_id("webhook_id", "webhook")
_DEAD_ID = path_id("dead_letter_id", "dead letter")
_DELETED = returns("Deleted", "Deleted.")

# The operations on a room's webhooks, in the document's order: (route,
# operationId, summary, answers, the path's ids and any query parameters).
_WEBHOOK_OPERATIONS: tuple[tuple[str, str, str, dict[str, Any], list[dict[str, Any]]], ...] = (
    (
        f"GET {_HOOKS}",
        "listWebhooks",
        "The room's webhooks and their delivery state (never their secrets).",
        returns(list_of("Webhook"), "The webhooks."),
        [_ROOM_ID],
    ),
    (
        f"GET {_HOOK}",
        "getWebhook",
        "One webhook and its delivery state.",
        returns("Webhook", "The webhook."),
        [_ROOM_ID, _WEBHOOK_ID],
    ),
    (
        f"DELETE {_HOOK}",
        "deleteWebhook",
        "Stop delivering; forget the webhook and its dead letters.",
        _DELETED,
        [_ROOM_ID, _WEBHOOK_ID],
    ),
    (
        f"GET {_HOOK}/dead-letters",
        "webhookDeadLetters",
        "The events the webhook gave up on after its retry period, newest first, "
        "with the last error.",
        returns(list_of("DeadLetter"), "The dead letters."),
        [_ROOM_ID, _WEBHOOK_ID, before("dead letters"), limit(100, 50)],
    ),
    (
        f"POST {_DEAD}/retry",
        "retryDeadLetter",
        "Deliver a dead letter again (before the webhook's next event), with a new retry period.",
        returns("DeadLetter", "Marked for retry."),
        [_ROOM_ID, _WEBHOOK_ID, _DEAD_ID],
    ),
    (
        f"DELETE {_DEAD}",
        "discardDeadLetter",
        "Forget a dead letter.",
        _DELETED,
        [_ROOM_ID, _WEBHOOK_ID, _DEAD_ID],
    ),
)

operation(
    f"POST {_HOOKS}",
    "addWebhook",
    "Deliver the room's events to an https URL (its owner, or a server admin); "
    "the signing secret is in this answer only.",
    returns("CreatedWebhook", "Registered.", 201),
    body="NewWebhook",
    parameters=[_ROOM_ID],
)
for _route, _operation_id, _summary, _answers, _parameters in _WEBHOOK_OPERATIONS:
    operation(_route, _operation_id, _summary, _answers, parameters=_parameters)

# Bots: a created bot's key, or a new one, is in that answer only.
_BOT_ID = [path_id("bot_id", "bot (its user)")]
operation(
    "POST /api/bots",
    "createBot",
    "Create a bot account that joins a room the caller owns (any room, or none, for a "
    "server admin); its API key is in this answer only.",
    returns("BotWithKey", "Created.", 201),
    body="NewBot",
)
operation(
    "GET /api/bots",
    "listBots",
    "The bots the caller created (every bot, for a server admin).",
    returns(list_of("Bot"), "The bots."),
)
operation(
    "POST /api/bots/{bot_id}/key",
    "rotateBotKey",
    "Replace the bot's API key: the old one stops working at once; the new one is shown once.",
    returns("BotWithKey", "The new key.", 201),
    parameters=_BOT_ID,
)
operation(
    "DELETE /api/bots/{bot_id}/key",
    "revokeBotKey",
    "Revoke the bot's API key: every request with it is 401 from now on, and its "
    "WebSockets close (4001).",
    returns("Bot", "The bot, without a key."),
    parameters=_BOT_ID,
)
