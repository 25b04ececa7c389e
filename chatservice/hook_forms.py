"""Parse the bodies of the webhook and bot routes into typed forms.

Like ``room_forms``: every malformed body is a ``400 invalid_request``
naming the field, before any use case runs. A webhook URL is checked here
for its shape and, when its host is a literal address, by the SSRF guard.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatservice.errors import InvalidRequest
from chatservice.url_forms import plain_ascii, refuse_literal_host, split_url
from chatservice.wire import MAX_ID, USERNAME_PATTERN, parse_object, text_field

MAX_URL_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class BotForm:
    """A bot to create: its username, and the room it joins (None: an admin's bot of none)."""

    username: str
    room_id: int | None


def parse_webhook_url(data: bytes, allow_private: bool) -> str:
    """``{"url"}``: an ``https`` URL without credentials or fragment, to an allowed host.

    Raises:
        InvalidRequest: the URL is malformed, not https, or names a refused
            address (loopback, private, link-local, ...) unless ``allow_private``.
    """
    url = (text_field(parse_object(data), "url") or "").strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"'url' must be at most {MAX_URL_LENGTH} characters.")
    if not plain_ascii(url):
        raise InvalidRequest("'url' must be an ASCII URL without spaces (punycode for names).")
    parts, port = split_url("url", url)
    if parts.scheme.lower() != "https":
        raise InvalidRequest("'url' must be an https:// URL.")
    host = parts.hostname
    if not host:
        raise InvalidRequest("'url' must name a host.")
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("'url' must not hold credentials: sign with the webhook's secret.")
    if parts.fragment:
        raise InvalidRequest("'url' must not have a #fragment.")
    if port == 0:
        raise InvalidRequest("'url' has an invalid port.")
    if not allow_private:
        refuse_literal_host("url", host)
    return url


def parse_bot(data: bytes) -> BotForm:
    """``{"username", "room_id"?}``: a registrable username."""
    body = parse_object(data)
    username = text_field(body, "username") or ""
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidRequest("'username' must be 3-32 letters, digits, '_', '.' or '-'.")
    room_id = body.get("room_id")
    if room_id is not None and (
        isinstance(room_id, bool) or not isinstance(room_id, int) or not 1 <= room_id <= MAX_ID
    ):
        raise InvalidRequest(f"'room_id' must be an integer between 1 and {MAX_ID}.")
    return BotForm(username, room_id)
