"""The REST route of read markers: ``POST /api/rooms/{id}/read``.

The counts it answers with are those ``GET /api/rooms`` adds to each room
(``read_markers.py``).
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.http import read_body, respond_json
from chatservice.klein_app import Routes, app
from chatservice.message_forms import id_field
from chatservice.read_markers import ReadMarkers
from chatservice.room_forms import parse_room_id
from chatservice.wire import dumps, parse_object


def parse_read_marker(data: bytes) -> int:
    """Validate ``{"last_read_id": id}``: the id of the last message read."""
    last_read_id = id_field(parse_object(data), "last_read_id")
    assert last_read_id is not None
    return last_read_id


class ReadRoutes(Routes):
    """Read-marker routes; ``ChatAPI`` inherits them and provides the use case."""

    _read_markers: ReadMarkers

    @app.route("/api/rooms/<int:room_id>/read", methods=["POST"])
    async def mark_read(self, request: IRequest, room_id: int) -> bytes:
        """Move the caller's read marker forward: 200 with the room's counts after it."""
        identity = await self._identity(request)
        room = parse_room_id(room_id)
        last_read_id = parse_read_marker(read_body(request, self._max_body))
        counts = await self._read_markers.mark(identity, room, last_read_id)
        return respond_json(request, 200, dumps({"room_id": room, **counts.to_json()}))
