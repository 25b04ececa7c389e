"""The OpenAPI schemas and operations of Web Push (issue 13).

Registered into ``openapi_schemas.SCHEMAS`` and ``openapi_build`` (``ROUTE_ERRORS``
and ``PATHS``) when ``openapi.py`` imports this module, as ``openapi_rooms`` is.
"""

from __future__ import annotations

from chatservice.errors import InvalidRequest, NotFound
from chatservice.openapi_build import (
    ANY,
    AUTH,
    BODY,
    ROUTE_ERRORS,
    STORED,
    WRITES,
    operation,
    path_id,
    returns,
)
from chatservice.openapi_schemas import SCHEMAS
from chatservice.openapi_shapes import ID, closed_object, deleted, list_of
from chatservice.push_models import MAX_ENDPOINT

_B64URL = "^[A-Za-z0-9_-]+={0,2}$"

SCHEMAS.update(
    {
        "PushSubscriptionForm": {
            "type": "object",
            "description": "A browser's PushSubscription.toJSON().",
            "required": ["endpoint", "keys"],
            "properties": {
                "endpoint": {
                    "type": "string",
                    "maxLength": MAX_ENDPOINT,
                    "pattern": "^https://[^\\s/@]+(/\\S*)?$",
                },
                "expirationTime": {"type": ["number", "null"]},
                "keys": {
                    "type": "object",
                    "required": ["p256dh", "auth"],
                    "properties": {
                        "p256dh": {
                            "type": "string",
                            "description": "The browser's P-256 public key: 65 bytes.",
                            "pattern": _B64URL,
                        },
                        "auth": {
                            "type": "string",
                            "description": "The browser's auth secret: 16 bytes.",
                            "pattern": _B64URL,
                        },
                    },
                },
            },
        },
        "PushSubscription": closed_object(
            {"id": ID, "endpoint": {"type": "string"}, "created_at": {"type": "integer"}}
        ),
        "VapidPublicKey": closed_object(
            {
                "public_key": {
                    "type": "string",
                    "description": "The applicationServerKey: an uncompressed P-256 point.",
                    "pattern": _B64URL,
                }
            }
        ),
        "PushSubscriptionDeleted": deleted("id"),
    }
)

ROUTE_ERRORS.update(
    {
        ("GET", "/api/push/vapid-public-key"): (*ANY, NotFound),
        ("POST", "/api/push/subscriptions"): (*AUTH, *BODY, NotFound, *WRITES),
        ("GET", "/api/push/subscriptions"): (*AUTH, *STORED),
        ("DELETE", "/api/push/subscriptions/{subscription_id}"): (
            *AUTH,
            InvalidRequest,
            NotFound,
            *WRITES,
        ),
    }
)

operation(
    "GET /api/push/vapid-public-key",
    "vapidPublicKey",
    "The key browsers subscribe with (applicationServerKey); 404 when push is off.",
    returns("VapidPublicKey", "The VAPID public key."),
    public=True,
)
operation(
    "POST /api/push/subscriptions",
    "addPushSubscription",
    "Register the browser's PushSubscription (the same endpoint again replaces it).",
    returns("PushSubscription", "Registered (the keys are not echoed).", 201),
    body="PushSubscriptionForm",
)
operation(
    "GET /api/push/subscriptions",
    "listPushSubscriptions",
    "The caller's push subscriptions, by id.",
    returns(list_of("PushSubscription"), "The subscriptions."),
)
operation(
    "DELETE /api/push/subscriptions/{subscription_id}",
    "deletePushSubscription",
    "Delete one of the caller's push subscriptions.",
    returns("PushSubscriptionDeleted", "Deleted."),
    parameters=[path_id("subscription_id", "push subscription")],
)
