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


def encode_envelope(origin: bytes, event: RoomEvent) -> bytes:
    """Return ``origin US exclude US payload``: no JSON round trip, payload bytes untouched.

    The room id is not in the envelope: the channel names the room.

    Raises:
        ValueError: ``origin`` or ``exclude`` contains the separator (0x1f),
            which would make the envelope ambiguous.
    """
    exclude = event.exclude.encode("utf-8") if event.exclude is not None else b""
    if SEPARATOR in origin or SEPARATOR in exclude:
        raise ValueError("origin and exclude must not contain 0x1f")
    return b"".join((origin, SEPARATOR, exclude, SEPARATOR, event.payload))


def decode_envelope(data: bytes) -> Envelope:
    """Split an envelope made by ``encode_envelope``; the payload may contain anything.

    Raises:
        ValueError: ``data`` is not an envelope.
    """
    parts = data.split(SEPARATOR, 2)
    if len(parts) != 3 or not parts[0]:
        raise ValueError("not a chatservice envelope")
    origin, exclude, payload = parts
    return Envelope(origin, exclude.decode("utf-8") if exclude else None, payload)
