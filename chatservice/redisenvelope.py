"""The envelope a room event travels in through Redis pub/sub, and nothing else.

Sans-I/O on purpose: encoding and decoding are pure functions over bytes,
so they are tested without a Redis and importing them does not import
txredisapi (which imports the global reactor).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.hub import RoomEvent

SEPARATOR = b"\x1f"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A room event as it travels through Redis, with the process that sent it."""

    origin: bytes
    exclude: str | None
    payload: bytes
    event_id: int | None = None


def encode_envelope(origin: bytes, event: RoomEvent) -> bytes:
    """Return ``origin US exclude US event_id US payload``: no JSON round trip, payload untouched.

    The room id is not in the envelope: the channel names the room. The
    event id rides beside the payload so that the receiving process keeps
    its rooms' cursors (for catching up after a lost connection) without
    parsing the payload; it is empty for presence and typing.

    Raises:
        ValueError: ``origin`` or ``exclude`` contains the separator (0x1f),
            which would make the envelope ambiguous.
    """
    exclude = event.exclude.encode("utf-8") if event.exclude is not None else b""
    if SEPARATOR in origin or SEPARATOR in exclude:
        raise ValueError("origin and exclude must not contain 0x1f")
    event_id = b"%d" % event.event_id if event.event_id is not None else b""
    return b"".join((origin, SEPARATOR, exclude, SEPARATOR, event_id, SEPARATOR, event.payload))


def decode_envelope(data: bytes) -> Envelope:
    """Split an envelope made by ``encode_envelope``; the payload may contain anything.

    An envelope of the previous format (``origin US exclude US payload``,
    from a process not yet upgraded) still decodes, without an event id: its
    payload is a JSON object, so its third field starts with ``{`` and is
    not an event id.

    Raises:
        ValueError: ``data`` is not an envelope.
    """
    parts = data.split(SEPARATOR, 3)
    if len(parts) < 3 or not parts[0]:
        raise ValueError("not a chatservice envelope")
    origin, exclude = parts[0], parts[1]
    excluded = exclude.decode("utf-8") if exclude else None
    if len(parts) == 4 and (not parts[2] or parts[2].isdigit()):
        event_id = int(parts[2]) if parts[2] else None
        return Envelope(origin, excluded, parts[3], event_id)
    # The previous format: everything after the second separator is the payload.
    return Envelope(origin, excluded, data.split(SEPARATOR, 2)[2])
