"""The JSON Schemas of read markers: the counts a room listing and ``POST .../read`` carry.

Merged into ``openapi_schemas.SCHEMAS`` (and the ``Room`` object's
optional fields); kept apart so each file stays one subject.
"""

from __future__ import annotations

from typing import Any

from chatservice.openapi_shapes import ID, closed_object
from chatservice.store.read_interface import COUNT_LIMIT
from chatservice.wire import MAX_ID

_COUNT = {"type": "integer", "minimum": 0, "maximum": COUNT_LIMIT}

READ_COUNT_FIELDS: dict[str, Any] = {
    "last_read_id": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_ID,
        "description": "The caller's read marker: the last message read (0: none).",
    },
    "unread": {
        **_COUNT,
        "description": f"Messages after the marker, not the caller's own nor deleted; "
        f"{COUNT_LIMIT} means {COUNT_LIMIT} or more.",
    },
    "mention_count": {
        **_COUNT,
        "description": f"Of those, the ones mentioning the caller (up to {COUNT_LIMIT}).",
    },
}

READ_SCHEMAS: dict[str, Any] = {
    "ReadMarker": {
        "type": "object",
        "required": ["last_read_id"],
        "properties": {
            "last_read_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "The id of the last message read; never moves the marker back, "
                "and an id past the room's newest message marks that message.",
            }
        },
    },
    "RoomCounts": closed_object({"room_id": ID, **READ_COUNT_FIELDS}),
}
