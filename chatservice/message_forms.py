"""Sans-I/O parsing of what clients send to act on messages: posts, edits, reactions, queries.

Shared by the REST routes and the WebSocket frames (``frames.py``), so a
rule such as "a reaction is a short string without white space" is checked
in one place and answers with the same error on both. Everything here is
bytes or strings in, a record or a ``ChatError`` out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chatservice.errors import ContentTooLong, InvalidRequest
from chatservice.wire import (
    MAX_CLIENT_MSG_ID,
    MAX_ID,
    field,
    parse_object,
    query_int,
    text_field,
)
from chatservice.words import query_words, search_words

MAX_EMOJI_CODE_POINTS = 32
MAX_EMOJI_BYTES = 64
# Letters, marks (an emoji's variation selectors), symbols, punctuation and
# format characters (the zero-width joiner of emoji sequences) are allowed;
# white space, control characters, surrogates and unassigned code points are not.
_EMOJI_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Format characters and marks show nothing on their own.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me"})
DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_LIMIT = 500
DEFAULT_SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 100
MAX_SEARCH_QUERY = 200
MAX_SEARCH_WORDS = 8


def parse_emoji(raw: str) -> str:
    """Check a reaction: 1-32 code points (64 bytes) that show something.

    Refused: white space, control characters, surrogates, unassigned code
    points, ``/`` (a REST path could not carry it), bidirectional overrides
    (they reorder what follows them on screen), and a string of only
    invisible characters (joiners, variation selectors, combining marks).

    Raises:
        InvalidRequest: anything else.
    """
    if (
        not raw
        or len(raw) > MAX_EMOJI_CODE_POINTS
        or len(raw.encode("utf-8", "surrogatepass")) > MAX_EMOJI_BYTES
        or "/" in raw
        or any(
            unicodedata.category(char) in _EMOJI_REFUSED_CATEGORIES or char in _BIDI_CONTROLS
            for char in raw
        )
        or all(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in raw)
    ):
        raise InvalidRequest(
            "A reaction is 1-32 visible characters without white space, '/' or control characters."
        )
    return raw


def parse_content(body: Mapping[str, Any], max_length: int) -> str:
    """The trimmed, non-empty ``content`` of a body, at most ``max_length`` code points."""
    content = (text_field(body, "content") or "").strip()
    if not content:
        raise InvalidRequest("'content' must not be empty.")
    if len(content) > max_length:
        raise ContentTooLong(f"'content' must be at most {max_length} characters.")
    return content


def parse_client_msg_id(body: Mapping[str, Any]) -> str | None:
    """The optional ``client_msg_id``: 1-64 characters."""
    client_msg_id = text_field(body, "client_msg_id", required=False)
    if client_msg_id is not None and not 1 <= len(client_msg_id) <= MAX_CLIENT_MSG_ID:
        raise InvalidRequest(f"'client_msg_id' must be 1-{MAX_CLIENT_MSG_ID} characters.")
    return client_msg_id


def id_field(body: Mapping[str, Any], key: str, *, required: bool = True) -> int | None:
    """A JSON integer id in 1..2^63-1 (booleans and floats are not ids)."""
    value = field(body, key, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidRequest(f"'{key}' must be an integer between 1 and {MAX_ID}.")
    return value


# Files on one message (``file_models.MAX_ATTACHMENTS``).
MAX_ATTACHMENT_IDS = 10


@dataclass(frozen=True, slots=True)
class PostForm:
    """A message to send: from ``POST /api/messages`` or a WebSocket frame."""

    room_id: int
    content: str
    reply_to: int | None
    client_msg_id: str | None
    attachments: tuple[int, ...] = ()


def parse_attachments(body: Mapping[str, Any]) -> tuple[int, ...]:
    """The optional ``attachments``: 1-10 distinct upload ids (an empty list is none)."""
    value = body.get("attachments")
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_ATTACHMENT_IDS
        or any(isinstance(i, bool) or not isinstance(i, int) for i in value)
        or any(not 1 <= i <= MAX_ID for i in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidRequest(
            f"'attachments' must be a list of at most {MAX_ATTACHMENT_IDS} distinct upload ids."
        )
    return tuple(value)


def parse_post_content(
    body: Mapping[str, Any], max_length: int, attachments: tuple[int, ...]
) -> str:
    """The content of a post: may be empty (or absent) only when it carries files."""
    if attachments and not (text_field(body, "content", required=False) or "").strip():
        return ""
    return parse_content(body, max_length)


def parse_post(data: bytes, max_length: int) -> PostForm:
    """Validate a ``POST /api/messages`` body: ``room_id``, ``content``, optional ids and files."""
    body = parse_object(data)
    room_id = id_field(body, "room_id")
    assert room_id is not None
    attachments = parse_attachments(body)
    content = parse_post_content(body, max_length, attachments)
    return PostForm(
        room_id,
        content,
        id_field(body, "reply_to", required=False),
        parse_client_msg_id(body),
        attachments,
    )


def parse_edit(data: bytes, max_length: int) -> str:
    """Validate a ``PATCH /api/messages/{id}`` body; return the new content."""
    return parse_content(parse_object(data), max_length)


def parse_message_id(raw: str) -> int:
    """A message id from a URL path segment: decimal digits in 1..2^63-1."""
    return parse_path_id(raw, "message")


def parse_path_id(raw: str, what: str) -> int:
    """An id (of a ``what``) from a URL path segment: decimal digits in 1..2^63-1."""
    digits = raw.lstrip("0")
    if not raw.isascii() or not raw.isdigit() or len(digits) > len(str(MAX_ID)):
        raise InvalidRequest(f"The {what} id must be an integer between 1 and {MAX_ID}.")
    value = int(digits or "0")
    if not 1 <= value <= MAX_ID:
        raise InvalidRequest(f"The {what} id must be an integer between 1 and {MAX_ID}.")
    return value


@dataclass(frozen=True, slots=True)
class EventsQuery:
    """Which events of a room ``GET /api/events`` returns."""

    room_id: int
    after: int
    limit: int


def parse_events_query(args: Mapping[bytes, Sequence[bytes]]) -> EventsQuery:
    """Validate ``roomId``, ``after`` (default 0) and ``limit`` (1-500, default 100)."""
    room_id = query_int(args, "roomId", "room_id")
    if room_id is None:
        raise InvalidRequest("'roomId' is required.")
    after = query_int(args, "after", low=0, default=0)
    limit = query_int(args, "limit", high=MAX_EVENTS_LIMIT, default=DEFAULT_EVENTS_LIMIT)
    assert after is not None and limit is not None
    return EventsQuery(room_id, after, limit)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A full-text search: its words, the room (None: every room the user reads), the page."""

    words: tuple[str, ...]
    room_id: int | None
    before: int | None
    limit: int

    @property
    def text(self) -> str:
        """The words, space-separated, as typed: what the store matches."""
        return " ".join(self.words)


def parse_search_query(args: Mapping[bytes, Sequence[bytes]]) -> SearchQuery:
    """Validate ``q`` (1-8 words, 200 characters), ``roomId``, ``before`` and ``limit``."""
    values = args.get(b"q")
    raw = values[0] if values else b""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("'q' must be UTF-8.") from None
    if len(text) > MAX_SEARCH_QUERY:
        raise InvalidRequest(f"'q' must be at most {MAX_SEARCH_QUERY} characters.")
    # As typed: the stores lower-case with their own function (the words
    # are counted as they will match them: ``chatservice.words``).
    words = query_words(text)
    if not words:
        raise InvalidRequest("'q' must contain at least one word.")
    if len(search_words(text)) > MAX_SEARCH_WORDS:
        raise InvalidRequest(f"'q' may have at most {MAX_SEARCH_WORDS} words.")
    limit = query_int(args, "limit", high=MAX_SEARCH_LIMIT, default=DEFAULT_SEARCH_LIMIT)
    assert limit is not None
    return SearchQuery(
        words, query_int(args, "roomId", "room_id"), query_int(args, "before"), limit
    )
